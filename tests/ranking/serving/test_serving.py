import logging
import subprocess
import sys

import numpy as np
import pytest
from django.utils import timezone

from feed.models import FeedRequest, ServedItem
from ranking.serving.heuristics import author_diversity, network_first
from ranking.serving.pipeline import feed_build
from ranking.spec import weighted_sum
from ranking.store import (
    RankedFeed,
    RankedItem,
    feeds_mark_stale,
    ranked_feed_get,
    ranked_feed_is_fresh,
    ranked_feed_store,
)
from tests.factories import UserFactory, follow, tweet
from users.services import user_feed_seen


def test_the_score_is_the_weighted_sum_of_the_probabilities(settings):
    settings.ENGAGEMENT_WEIGHTS = {"like": 1, "reply": 10, "retweet": 2, "hide": -50, "report": -100, "dwell": 3}
    probabilities = {
        "like": np.array([0.5, 0.1]),
        "reply": np.array([0.1, 0.0]),
        "retweet": np.array([0.0, 0.5]),
        "hide": np.array([0.01, 0.0]),
        "report": np.array([0.0, 0.01]),
        "dwell": np.array([0.2, 0.0]),
    }

    assert weighted_sum(probabilities).tolist() == pytest.approx([0.5 + 1.0 - 0.5 + 0.6, 0.1 + 1.0 - 1.0])


def test_author_diversity_discounts_each_further_tweet_of_one_author():
    scores = np.array([10.0, 9.0, 8.0, 7.0, -1.0, -1.0])
    authors = np.array([1, 1, 1, 2, 3, 3])

    order, adjusted = author_diversity(scores, authors)

    # k-th tweet of an author x (0.75 * 0.5**k + 0.25): 1, 0.625, 0.4375.
    assert adjusted[:4].tolist() == pytest.approx([10.0, 9.0 * 0.625, 8.0 * 0.4375, 7.0])
    assert order.tolist()[:4] == [0, 3, 1, 2]
    # A discount never raises a negative score.
    assert adjusted[5] < adjusted[4] <= -1.0


@pytest.mark.django_db
def test_stored_lists_round_trip_and_go_stale(settings):
    user = UserFactory()
    now = timezone.now()
    ranked_feed_store(
        feed=RankedFeed(user.pk, "v1", now, [RankedItem(3, 1.5, ("You follow @a",)), RankedItem(2, 0.5, ())])
    )

    stored = ranked_feed_get(user_id=user.pk)
    assert stored.items == [RankedItem(3, 1.5, ("You follow @a",)), RankedItem(2, 0.5, ())]
    assert stored.model_version == "v1"

    settings.RANKED_FEED_MAX_ITEMS = 1
    ranked_feed_store(feed=RankedFeed(user.pk, "v2", now, stored.items))
    assert len(ranked_feed_get(user_id=user.pk).items) == 1
    feeds_mark_stale(user_ids=[user.pk])
    assert not ranked_feed_is_fresh(feed=ranked_feed_get(user_id=user.pk))


@pytest.mark.django_db
def test_without_an_active_model_the_feed_stays_chronological(api_for, caplog):
    client = api_for()
    author = UserFactory()
    follow(client.user, author)
    posted = tweet(author, "still shown")

    with caplog.at_level(logging.WARNING):
        assert feed_build(user_id=client.user.pk) is None
    response = client.get("/api/feed/")

    assert "No ranking model can be used" in caplog.text
    assert response.status_code == 200
    # The worker found nothing to rank with: not "pending", for no build would come.
    assert response.json()["ranking"] == "off"
    assert [item["id"] for item in response.json()["results"]] == [posted.pk]


@pytest.mark.django_db
def test_a_stored_ranked_list_is_served_in_its_order_with_scores_and_reasons(
    api_for, django_assert_num_queries, experiment_cached
):
    client = api_for()
    author = UserFactory()
    follow(client.user, author)
    first, second, third = (tweet(author, f"tweet {n}") for n in range(3))
    items = [
        RankedItem(second.pk, 3.0, ("You often like @x",)),
        RankedItem(third.pk, 2.0, ()),
        RankedItem(first.pk, 1.0, ()),
    ]
    ranked_feed_store(feed=RankedFeed(client.user.pk, "v7", timezone.now(), items))

    # The stored list (cache), the feed request, the page of tweets and the served-items insert
    # (for a reader seen within LAST_FEED_AT_STEP_S: no last_feed_at write).
    user_feed_seen(user=client.user)
    with django_assert_num_queries(3):
        response = client.get("/api/feed/?mode=ranked&limit=2")
    body = response.json()

    assert body["ranking"] == "ranked"
    assert body["model_version"] == "v7"
    assert [(i["id"], i["position"], i["score"]) for i in body["results"]] == [(second.pk, 0, 3.0), (third.pk, 1, 2.0)]
    assert body["results"][0]["reasons"] == ["You often like @x"]
    assert FeedRequest.objects.get(pk=body["feed_request"]).mode == "ranked"
    assert ServedItem.objects.filter(feed_request_id=body["feed_request"]).count() == 2

    rest = client.get(body["next"]).json()
    assert [(i["id"], i["position"]) for i in rest["results"]] == [(first.pk, 2)]
    assert rest["feed_request"] == body["feed_request"]


@pytest.mark.django_db
def test_redis_down_still_serves_the_chronological_feed(api_for, settings):
    client = api_for()
    author = UserFactory()
    follow(client.user, author)
    posted = tweet(author, "served from PostgreSQL")
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    response = client.get("/api/feed/")

    assert response.status_code == 200
    # No build is asked for: no list could be stored.
    assert response.json()["ranking"] == "off"
    assert [item["id"] for item in response.json()["results"]] == [posted.pk]


@pytest.mark.django_db
def test_broker_down_posting_and_reading_still_work(api_for, broker_down, caplog, django_capture_on_commit_callbacks):
    client = api_for()

    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        posted = client.post("/api/tweets/", {"text": "the broker is down"}, format="json")
    read = client.get("/api/feed/?mode=ranked")

    assert posted.status_code == 201
    assert read.status_code == 200
    assert [item["id"] for item in read.json()["results"]] == [posted.json()["id"]]
    assert "Could not enqueue ranking.tasks.fanout_tweet" in caplog.text


def test_the_web_stack_never_imports_tensorflow_nor_scipy_until_an_experiment_is_read_out():
    script = """
import sys, django
django.setup()
import config.wsgi, config.urls, users.urls, feed.urls
from django.urls import get_resolver
get_resolver().url_patterns
import ranking.tasks, ranking.feeds, ranking.admin, feed.admin, users.admin
from config.celery import app
app.loader.import_default_modules()
print("tensorflow" in sys.modules, "keras" in sys.modules, "scipy" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False", "False"]


def test_the_fill_goes_after_the_viewers_network_each_keeping_its_order():
    order = np.array([4, 0, 3, 1, 2])
    fill = np.array([False, True, False, True, False])

    assert network_first(order, fill).tolist() == [4, 0, 2, 3, 1]
