from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from feed import services
from ranking import registry
from ranking.serving import scorer
from ranking.serving.pipeline import feed_build
from ranking.spec import FEATURE_SPEC_VERSION
from ranking.store import ranked_feed_get, ranked_feed_is_fresh
from ranking.tasks import build_feed, mark_feeds_stale
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db


def test_a_build_ranks_every_candidate_by_score_and_says_why(active_model):
    viewer, alice, bob, carol = UserFactory.create_batch(4)
    follow(viewer, alice, bob)
    posted = [tweet(author, f"tweet {n} on python") for n, author in enumerate([alice, bob] * 4)]
    liked = tweet(carol, "liked by two followees")
    for fan in (alice, bob):
        services.like_create(user=fan, tweet=liked)

    feed = feed_build(user_id=viewer.pk)

    assert feed.model_version == active_model.name
    assert {item.tweet_id for item in feed.items} == {t.pk for t in posted} | {liked.pk}
    scores = [item.score for item in feed.items]
    assert scores == sorted(scores, reverse=True)
    assert {i.tweet_id: i.reasons for i in feed.items}[liked.pk][0] == "Liked by 2 people you follow"
    stored = ranked_feed_get(user_id=viewer.pk)
    assert [i.tweet_id for i in stored.items] == [i.tweet_id for i in feed.items]
    assert ranked_feed_is_fresh(feed=stored)


def test_a_build_is_recorded_for_the_metrics_by_stage(active_model):
    viewer, alice = UserFactory.create_batch(2)
    follow(viewer, alice)
    for n in range(3):
        tweet(alice, f"tweet {n}")
    stages = ("candidates", "features", "scoring", "heuristics")

    def counts():
        return [
            *(REGISTRY.get_sample_value("ranked_feed_build_stage_seconds_count", {"stage": s}) or 0 for s in stages),
            REGISTRY.get_sample_value("ranked_feed_build_candidates_count") or 0,
            REGISTRY.get_sample_value("ranked_feed_build_candidates_sum") or 0,
        ]

    before = counts()
    feed_build(user_id=viewer.pk)

    assert [after - was for after, was in zip(counts(), before, strict=True)] == [1, 1, 1, 1, 1, 3]


def test_each_worker_reloads_the_model_when_another_version_is_activated(active_model, model_artifact):
    assert scorer.active_model().name == active_model.name
    newer = registry.register(artifact=model_artifact, metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
    registry.version_activate(version=newer)

    assert scorer.active_model().name == newer.name


def test_tasks_build_and_mark_feeds(active_model):
    viewer, alice = UserFactory.create_batch(2)
    follow(viewer, alice)
    tweet(alice, "hello")

    assert build_feed.apply(args=[viewer.pk]).get() == 1
    assert ranked_feed_is_fresh(feed=ranked_feed_get(user_id=viewer.pk))
    mark_feeds_stale.apply(args=[[viewer.pk]])
    assert not ranked_feed_is_fresh(feed=ranked_feed_get(user_id=viewer.pk))


def test_a_stale_list_is_still_served_ranked_while_a_build_is_requested(api_for, active_model):
    client = api_for()
    alice = UserFactory()
    follow(client.user, alice)
    first = tweet(alice, "hello")
    feed_build(user_id=client.user.pk)
    assert client.get("/api/feed/").json()["ranking"] == "ranked"

    tweet(alice, "a new one")  # its fan-out marks the list stale
    mark_feeds_stale.apply(args=[[client.user.pk]])
    cache.delete(f"ranked-feed-building:{client.user.pk}")

    again = client.get("/api/feed/").json()
    assert again["ranking"] == "ranked"  # never flipped to the chronological list
    assert [item["id"] for item in again["results"]] == [first.pk]
    assert cache.get(f"ranked-feed-building:{client.user.pk}") == 1


def test_a_follow_or_unfollow_drops_the_list_and_asks_for_a_new_one_at_once(
    api_for, active_model, django_capture_on_commit_callbacks
):
    client = api_for()
    alice, bob = UserFactory.create_batch(2)
    follow(client.user, alice)
    tweet(alice, "from alice")
    feed_build(user_id=client.user.pk)
    cache.delete(f"ranked-feed-building:{client.user.pk}")
    bobs = [tweet(bob, f"from bob {n}").pk for n in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/users/{bob.username}/follow/").status_code in (200, 201)

    assert ranked_feed_get(user_id=client.user.pk) is None
    assert cache.get(f"ranked-feed-building:{client.user.pk}") == 1  # asked for on the follow, not the next read
    page = client.get("/api/feed/").json()
    assert page["ranking"] == "pending"
    assert set(bobs) <= {item["id"] for item in page["results"]}
    feed_build(user_id=client.user.pk)
    assert set(bobs) <= {item.tweet_id for item in ranked_feed_get(user_id=client.user.pk).items}

    with django_capture_on_commit_callbacks(execute=True):
        client.delete(f"/api/users/{bob.username}/follow/")
    assert ranked_feed_get(user_id=client.user.pk) is None
    assert not set(bobs) & {item["id"] for item in client.get("/api/feed/").json()["results"]}


def test_the_viewers_own_new_tweet_is_on_top_of_their_list_at_once(
    api_for, active_model, django_capture_on_commit_callbacks
):
    client = api_for()
    alice = UserFactory()
    follow(client.user, alice)
    tweet(alice, "from alice")
    feed_build(user_id=client.user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        mine = client.post("/api/tweets/", {"text": "my own news"}, format="json").json()

    top = client.get("/api/feed/").json()["results"][0]
    assert (top["id"], top["score"], top["reasons"]) == (mine["id"], None, ["Your tweet"])
    feed_build(user_id=client.user.pk)  # a rebuild keeps it pinned
    assert client.get("/api/feed/").json()["results"][0]["id"] == mine["id"]


def test_a_scroll_reads_on_from_the_list_it_began_on_after_a_rebuild(api_for, active_model):
    client = api_for()
    alice = UserFactory()
    follow(client.user, alice)
    for n in range(6):
        tweet(alice, f"tweet {n}")
    feed_build(user_id=client.user.pk)
    first = client.get("/api/feed/?limit=3").json()
    began_on = [item.tweet_id for item in ranked_feed_get(user_id=client.user.pk).items]

    for n in range(4):
        tweet(alice, f"newer {n}")
    feed_build(user_id=client.user.pk)  # a new version, with the newer tweets in it

    rest = client.get(first["next"]).json()
    assert [item["id"] for item in first["results"] + rest["results"]] == began_on
    assert rest["caught_up"] is True and rest["next"] is None


def test_a_ranked_list_read_to_its_end_is_caught_up(api_for, active_model):
    client = api_for()
    alice = UserFactory()
    follow(client.user, alice)
    feed_build(user_id=client.user.pk)

    page = client.get("/api/feed/").json()

    assert (page["ranking"], page["results"], page["caught_up"]) == ("ranked", [], True)


def test_out_of_network_fill_comes_after_the_people_the_viewer_follows(active_model):
    viewer, followed, stranger = UserFactory.create_batch(3)
    follow(viewer, followed)
    theirs = tweet(followed, "from someone I follow")
    crowd_pick = tweet(stranger, "liked by everyone")
    for fan in UserFactory.create_batch(5):
        services.like_create(user=fan, tweet=crowd_pick)

    items = feed_build(user_id=viewer.pk).items

    assert [item.tweet_id for item in items] == [theirs.pk, crowd_pick.pk]
    assert "Popular right now" in items[1].reasons


def test_a_builds_query_count_stays_the_same_as_history_grows(active_model):
    """More followers, more engagements on the candidates, older tweets with
    their own history, the viewer's own past: the same statements read it."""
    viewer, *authors = UserFactory.create_batch(4)
    follow(viewer, *authors)
    now = timezone.now()
    posts = [
        tweet(author, f"tweet {n} about rivers", at=now - timedelta(hours=n + 1)) for n, author in enumerate(authors)
    ]

    def add_history(scale: int) -> None:
        fans = UserFactory.create_batch(3 * scale)
        for n, fan in enumerate(fans):
            follow(fan, authors[n % 3])
            services.like_create(user=fan, tweet=posts[n % 3], at=now - timedelta(minutes=30))
        for n in range(scale):
            old = tweet(authors[n % 3], f"old tweet {n}", at=now - timedelta(days=40 + n))
            services.like_create(user=viewer, tweet=old, at=now - timedelta(days=40 + n, minutes=-5))
            seen = tweet(authors[n % 3], f"seen tweet {n}", at=now - timedelta(days=2, hours=n))
            events = [
                services.ClientEvent(seen.pk, "impression"),
                services.ClientEvent(seen.pk, "dwell", dwell_ms=9000),
            ]
            services.engagements_log(user=viewer, events=events, at=now - timedelta(days=2, hours=n))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            feed_build(user_id=viewer.pk, at=timezone.now())
        return len(captured)

    add_history(1)
    feed_build(user_id=viewer.pk)  # loads the model and warms what a worker keeps
    small = queries()
    add_history(10)

    assert 0 < queries() == small
