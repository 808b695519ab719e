"""The engagement log is the ranker's training data: a resent batch is stored
once, an impression of a served item once, an event names only what its feed
request served, and no user can flood it (events per minute) or inflate it
(dwell beyond the time since the feed was served). Issue 12's audit cases,
through the API, on PostgreSQL and Redis."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from feed import services
from feed.models import Engagement
from tests.factories import UserFactory, follow, served, tweet

pytestmark = pytest.mark.django_db

URL = "/api/engagements/"


def post(client, events, **body):
    return client.post(URL, {"events": events, **body}, format="json")


def impressions(feed_request, tweets, **fields):
    return [
        {"tweet": t.pk, "kind": "impression", "feed_request": str(feed_request.pk), "position": n, **fields}
        for n, t in enumerate(tweets)
    ]


def with_ids(events):
    return [{**event, "id": str(uuid.uuid4())} for event in events]


@pytest.fixture
def viewer(api_for):
    return api_for()


def test_a_resent_batch_is_stored_once(viewer):
    tweets = [tweet() for _ in range(3)]
    feed_request = served(viewer.user, *tweets)
    events = with_ids(
        [
            *impressions(feed_request, tweets),
            {"tweet": tweets[0].pk, "kind": "dwell", "dwell_ms": 1200, "feed_request": str(feed_request.pk)},
            {"tweet": tweets[1].pk, "kind": "click"},
        ]
    )

    first = post(viewer, events)
    again = post(viewer, events)

    assert first.status_code == again.status_code == 201
    assert first.json() == {"accepted": 5, "stored": 5, "duplicates": 0}
    assert again.json() == {"accepted": 5, "stored": 0, "duplicates": 5}
    assert Engagement.objects.count() == 5
    assert {str(e.client_event_id) for e in Engagement.objects.all()} == {e["id"] for e in events}


def test_a_batch_resent_by_many_requests_at_once_is_stored_once(transactional_db):
    """Concurrent resends (real threads, each its own database connection):
    the insert skips what another transaction has just stored."""
    viewer = UserFactory()
    tweets = [tweet() for _ in range(5)]
    feed_request = served(viewer, *tweets)
    events = with_ids(impressions(feed_request, tweets))
    start = threading.Barrier(6)
    answers = []

    def resend():
        client = APIClient()
        client.force_authenticate(viewer)
        start.wait()
        try:
            answers.append(post(client, events).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=resend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 6
    assert sum(answer["stored"] for answer in answers) == 5
    assert sum(answer["duplicates"] for answer in answers) == 25
    assert Engagement.objects.count() == 5


def test_identical_impressions_of_one_served_item_make_one_row(viewer):
    shown = tweet()
    feed_request = served(viewer.user, tweet(), shown)
    repeated = {"tweet": shown.pk, "kind": "impression", "feed_request": str(feed_request.pk), "position": 1}

    response = post(viewer, [repeated] * 20)
    later = post(viewer, [repeated, {**repeated, "id": str(uuid.uuid4())}])

    assert response.json() == {"accepted": 20, "stored": 1, "duplicates": 19}
    assert later.json() == {"accepted": 2, "stored": 0, "duplicates": 2}
    assert Engagement.objects.filter(kind="impression").count() == 1


def test_an_event_for_a_tweet_its_feed_request_did_not_serve_is_refused(viewer):
    shown, other = tweet(), tweet()
    feed_request = served(viewer.user, shown)
    good = {"tweet": shown.pk, "kind": "impression", "feed_request": str(feed_request.pk), "position": 0}
    never_served = {"tweet": other.pk, "kind": "dwell", "dwell_ms": 3000, "feed_request": str(feed_request.pk)}
    wrong_position = {**good, "kind": "click", "position": 4}

    response = post(viewer, [good, never_served, wrong_position])

    assert response.status_code == 400
    assert response.json() == {
        "events": [
            f"Event 1: feed request {feed_request.pk} did not serve tweet {other.pk}.",
            f"Event 2: feed request {feed_request.pk} served tweet {shown.pk} at position 0, not 4.",
        ]
    }
    assert not Engagement.objects.exists()


def test_an_event_of_a_served_retweet_lands_on_the_original_at_its_served_position(viewer):
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)
    feed_request = served(viewer.user, tweet(), retweet)

    response = post(viewer, [{"tweet": retweet.pk, "kind": "click", "feed_request": str(feed_request.pk)}])

    assert response.status_code == 201
    click = Engagement.objects.get(kind="click")
    assert (click.tweet_id, click.position) == (original.pk, 1)


def test_events_per_minute_are_capped_per_user(viewer, api_for, settings):
    settings.ENGAGEMENT_RATE = "50/min"
    shown = tweet()
    clicks = [{"tweet": shown.pk, "kind": "click"}] * 20

    statuses = [post(viewer, clicks).status_code for _ in range(2)]
    refused = post(viewer, clicks)

    assert statuses == [201, 201]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert Engagement.objects.count() == 40
    # The cap is the user's own: another reader logs on.
    assert post(api_for(), clicks).status_code == 201


def test_dwell_in_a_feed_request_cannot_exceed_the_time_since_it_was_served(viewer, settings):
    settings.ENGAGEMENT_DWELL_CARDS_IN_VIEW = 2
    settings.ENGAGEMENT_CLOCK_SKEW_S = 30
    tweets = [tweet(), tweet()]
    feed_request = served(viewer.user, *tweets, at=timezone.now() - timedelta(seconds=10))
    # Allowed: 2 cards x (10 s + 30 s) = 80 s, a little more by the time it arrives.

    def dwell(n, seconds):
        return {
            "id": str(uuid.uuid4()),
            "tweet": tweets[n].pk,
            "kind": "dwell",
            "dwell_ms": seconds * 1000,
            "feed_request": str(feed_request.pk),
        }

    within = [dwell(0, 40), dwell(1, 38)]
    assert post(viewer, within).status_code == 201
    # Resent, the same dwells count once.
    assert post(viewer, within).json()["duplicates"] == 2

    response = post(viewer, [dwell(0, 1), dwell(1, 20)])

    assert response.status_code == 400
    [message] = response.json()["events"]
    assert message.startswith(f"Event 1: the dwells in feed request {feed_request.pk} would add up to 99 s")
    assert Engagement.objects.count() == 2


def test_a_batch_takes_the_same_queries_whatever_its_size(viewer):
    authors = UserFactory.create_batch(3)
    follow(viewer.user, *authors)
    tweets = [tweet(authors[n % 3]) for n in range(60)]
    requests = [served(viewer.user, *tweets) for _ in range(3)]

    def batch(feed_requests, count):
        events = []
        for feed_request in feed_requests:
            for n, t in enumerate(tweets[:count]):
                where = {"feed_request": str(feed_request.pk), "position": n, "id": str(uuid.uuid4())}
                events += [
                    {"tweet": t.pk, "kind": "impression", **where},
                    {"tweet": t.pk, "kind": "dwell", "dwell_ms": 50, **where, "id": str(uuid.uuid4())},
                ]
        return events

    with CaptureQueriesContext(connection) as small:
        assert post(viewer, batch(requests[:1], 1)).status_code == 201
    with CaptureQueriesContext(connection) as large:
        assert post(viewer, batch(requests[1:], 60)).status_code == 201

    assert len(large) == len(small)
    assert Engagement.objects.count() == 2 + 240
