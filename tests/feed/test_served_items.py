"""What a feed request served: each ranked item with the feature row it was
scored with and the feature spec's fingerprint, the request with the time
its list was built; the latest timeline with neither."""

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.utils import timezone

from feed.models import FeedRequest, ServedItem
from ranking.serving.pipeline import feed_build
from ranking.spec import FEATURE_SPEC_FINGERPRINT, NUMERIC_FEATURES
from ranking.store import ranked_feed_get, ranked_feed_store
from tests.factories import UserFactory, follow, tweet
from users.services import user_feed_seen

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(api_for, active_model):
    """A viewer following two authors, and their ranked list, built at a time
    with a part-millisecond."""
    client = api_for()
    authors = UserFactory.create_batch(2)
    follow(client.user, *authors)
    for n in range(6):
        tweet(authors[n % 2], f"tweet {n} about rivers")
    # A millisecond on, so the build's whole-millisecond as-of time is after
    # the last tweet even when it was posted in the current millisecond.
    later = timezone.now() + timedelta(milliseconds=1)
    feed = feed_build(user_id=client.user.pk, at=later.replace(microsecond=later.microsecond // 1000 * 1000 + 321))
    return client, feed


def served(feed_request_id):
    return list(ServedItem.objects.filter(feed_request_id=feed_request_id).order_by("position"))


def test_ranked_items_keep_the_features_they_were_scored_with(built, django_assert_num_queries, experiment_cached):
    client, feed = built
    rows = feed.features
    assert set(rows) == {item.tweet_id for item in feed.items}

    # The feed request, the page of tweets and the served-items insert: as without features
    # (for a reader seen within LAST_FEED_AT_STEP_S: no last_feed_at write).
    user_feed_seen(user=client.user)
    with django_assert_num_queries(3):
        body = client.get("/api/feed/?mode=ranked&limit=4").json()
    rest = client.get(body["next"]).json()

    assert body["ranking"] == "ranked"
    assert feed.built_at.microsecond % 1000 == 0  # the build's as-of time is a whole millisecond
    assert FeedRequest.objects.get(pk=body["feed_request"]).built_at == feed.built_at
    items = served(body["feed_request"])
    assert [i.tweet_id for i in items] == [i["id"] for i in body["results"] + rest["results"]]
    assert len(items) == 6
    for item in items:
        assert item.feature_spec == FEATURE_SPEC_FINGERPRINT
        assert len(item.features) == len(NUMERIC_FEATURES)
        assert item.features == np.frombuffer(rows[item.tweet_id], "<f4").tolist()
    assert max(item.features[NUMERIC_FEATURES.index("follows_author")] for item in items) == 1


def test_the_latest_timeline_serves_no_features(built):
    client, _ = built

    body = client.get("/api/feed/?mode=latest").json()

    assert FeedRequest.objects.get(pk=body["feed_request"]).built_at is None
    assert {(i.features, i.feature_spec) for i in served(body["feed_request"])} == {(None, "")}


def test_a_list_stored_without_its_rows_serves_its_page_without_features(built):
    client, feed = built
    ranked_feed_store(feed=replace(feed, features=None))

    body = client.get("/api/feed/?mode=ranked&limit=3").json()

    assert body["ranking"] == "ranked" and len(body["results"]) == 3
    assert {(i.features, i.feature_spec) for i in served(body["feed_request"])} == {(None, "")}


def test_a_scroll_across_a_rebuild_keeps_the_rows_of_the_build_it_began_on(built):
    client, feed = built
    first = client.get("/api/feed/?mode=ranked&limit=2").json()
    feed_build(user_id=client.user.pk, at=feed.built_at + timedelta(seconds=1))

    second = client.get(first["next"]).json()

    assert second["feed_request"] == first["feed_request"]
    items = served(first["feed_request"])
    assert len(items) == 4
    assert all(i.features == np.frombuffer(feed.features[i.tweet_id], "<f4").tolist() for i in items)


def test_a_scroll_onto_a_rebuilt_list_keeps_no_features_of_another_build(built):
    client, feed = built
    first = client.get("/api/feed/?mode=ranked&limit=2").json()
    began_on = ranked_feed_get(user_id=client.user.pk).version
    feed_build(user_id=client.user.pk, at=feed.built_at + timedelta(seconds=1))
    # The version the scroll began on expired: it reads on from the current one.
    cache.delete(f"ranked-list:{client.user.pk}:{began_on}")

    second = client.get(first["next"]).json()

    assert second["feed_request"] == first["feed_request"]
    assert FeedRequest.objects.get(pk=first["feed_request"]).built_at == feed.built_at
    items = served(first["feed_request"])
    assert [i.feature_spec for i in items] == [FEATURE_SPEC_FINGERPRINT] * 2 + [""] * (len(items) - 2)
    assert all(i.features is None for i in items[2:]) and len(items) > 2


def test_the_viewers_own_pinned_tweet_is_served_without_features(built):
    client, _ = built
    own = tweet(client.user, "my own news")
    feed = feed_build(user_id=client.user.pk)
    assert feed.items[0].tweet_id == own.pk and feed.items[0].score is None

    body = client.get("/api/feed/?mode=ranked&limit=3").json()

    items = served(body["feed_request"])
    assert [(i.tweet_id, i.features, i.feature_spec) for i in items[:1]] == [(own.pk, None, "")]
    assert all(
        i.feature_spec == FEATURE_SPEC_FINGERPRINT and len(i.features) == len(NUMERIC_FEATURES) for i in items[1:]
    )


def test_a_first_page_writes_its_feed_request_with_its_items_and_an_empty_page_its_request_alone(api_for):
    reader, lonely = api_for(), api_for()
    author = UserFactory()
    follow(reader.user, author)
    posted = [tweet(author, f"tweet {n}") for n in range(3)]

    page = reader.get("/api/feed/?mode=latest").json()
    empty = lonely.get("/api/feed/?mode=latest").json()

    request = FeedRequest.objects.get(pk=page["feed_request"])
    assert (request.user, request.mode, request.experiment, request.built_at) == (reader.user, "latest", None, None)
    assert timezone.now() - timedelta(minutes=1) < request.created_at <= timezone.now()
    assert [item.tweet_id for item in served(request.pk)] == [t.pk for t in reversed(posted)]
    assert FeedRequest.objects.get(pk=empty["feed_request"]).user == lonely.user
    assert served(empty["feed_request"]) == []
