"""End to end with a real Celery worker process: post -> fan-out -> build ->
the ranked feed, on the real broker, Redis and PostgreSQL."""

import pytest

from ranking.store import ranked_feed_get
from tests.conftest import wait_for
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_a_worker_builds_the_ranked_feed_and_rebuilds_it_after_a_post(celery_worker_process, active_model, api_for):
    viewer = api_for()
    alice, bob = UserFactory.create_batch(2)
    follow(viewer.user, alice, bob)
    posted = {tweet(author, f"tweet {n} about python and django").pk for n, author in enumerate([alice, bob] * 3)}

    first = viewer.get("/api/feed/").json()
    assert first["ranking"] == "pending"  # nothing built yet: the latest timeline, and a build is on its way
    assert {item["id"] for item in first["results"]} == posted

    ranked = wait_for(lambda: (body := viewer.get("/api/feed/").json())["ranking"] == "ranked" and body)
    assert ranked["model_version"] == active_model.name
    assert {item["id"] for item in ranked["results"]} == posted
    scores = [item["score"] for item in ranked["results"]]
    assert scores == sorted(scores, reverse=True)
    assert [item["position"] for item in ranked["results"]] == list(range(6))
    built_at = ranked_feed_get(user_id=viewer.user.pk).built_at

    fresh = api_for(alice).post("/api/tweets/", {"text": "something new"}, format="json").json()

    # The worker fans the post out: the viewer's list goes stale, is rebuilt, and holds the new tweet.
    rebuilt = wait_for(
        lambda: (
            (body := viewer.get("/api/feed/").json())["ranking"] == "ranked"
            and fresh["id"] in {item["id"] for item in body["results"]}
            and body
        )
    )
    assert len(rebuilt["results"]) == 7
    assert ranked_feed_get(user_id=viewer.user.pk).built_at > built_at


@pytest.mark.django_db(transaction=True)
def test_a_new_user_who_follows_people_sees_their_tweets_on_the_next_load(celery_worker_process, active_model, api_for):
    viewer = api_for()
    people = UserFactory.create_batch(3)
    posted = {tweet(person, f"hello from {person.username}").pk for person in people}
    assert viewer.get("/api/feed/").json()["results"] == []  # follows nobody yet

    for person in people:
        assert viewer.post(f"/api/users/{person.username}/follow/").status_code in (200, 201)

    # At once: their tweets (the latest timeline if the list is not built yet, or the new list).
    assert posted <= {item["id"] for item in viewer.get("/api/feed/").json()["results"]}
    # Within seconds, ranked: the follow asked the worker for a new list.
    wait_for(
        lambda: (
            (body := viewer.get("/api/feed/").json())["ranking"] == "ranked"
            and posted <= {item["id"] for item in body["results"]}
        ),
        timeout_s=30,
    )
