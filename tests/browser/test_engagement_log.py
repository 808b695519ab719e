"""The browser's engagement logger loses nothing during an outage: failed
batches wait in sessionStorage, are retried with backoff (across a reload),
and each event is stored once even when a batch that did arrive is sent
again because its answer was lost."""

import time

import pytest

from feed import services
from feed.models import Engagement, FeedRequest, Tweet
from tests.browser.conftest import ENGAGEMENTS, TIMEOUT_MS
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.slow

OUTBOX_KEY = "engagements:outbox"  # static/js/engagement.js


def wait_for(page, condition, *, timeout_s: float = 3 * TIMEOUT_MS / 1000):
    """Poll `condition()` while Playwright runs (route handlers only run
    inside Playwright calls, never during a plain sleep); returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return result


def scroll(page, steps: int) -> None:
    for _ in range(steps):
        page.mouse.wheel(0, 300)
        page.wait_for_timeout(120)


def scroll_until(page, condition, *, max_steps: int = 60) -> bool:
    """Scroll on until `condition()`: on a busy machine the cards passed in a
    fixed number of steps may log fewer events than a batch holds."""
    for _ in range(max_steps):
        if condition():
            return True
        scroll(page, 1)
    return bool(wait_for(page, condition))


def outbox_size(page) -> int:
    return page.evaluate(f"JSON.parse(sessionStorage.getItem('{OUTBOX_KEY}') || '[]').length")


def test_events_logged_during_an_outage_are_stored_once_after_a_reload(page, log_in):
    viewer = log_in(UserFactory())
    author = UserFactory()
    follow(viewer, author)
    for n in range(30):
        tweet(author, f"Tweet number {n} with enough words to make a card of a usual height")
    sent = []  # the id of every event in every request the page made, retries included
    answers = {"503": 0, "aborted": 0, "lost": 0, "stored": 0}

    def record(route) -> None:
        sent.extend(event["id"] for event in route.request.post_data_json["events"])

    def unavailable(route) -> None:
        record(route)
        answers["503"] += 1
        route.fulfill(status=503, headers={"Retry-After": "1"}, json={"detail": "Service unavailable."})

    def network_down(route) -> None:
        record(route)
        answers["aborted"] += 1
        route.abort("internetdisconnected")

    def answer_lost(route) -> None:
        # The server stores the batch, the browser never hears so.
        record(route)
        response = route.fetch()
        assert response.status == 201, response.text()
        answers["lost"] += 1
        route.abort("connectionreset")

    def restored(route) -> None:
        record(route)
        answers["stored"] += 1
        route.continue_()

    # As on a page served over plain http (no secure context): the logger
    # makes its UUIDs from crypto.getRandomValues.
    page.add_init_script("Object.defineProperty(Crypto.prototype, 'randomUUID', { value: undefined })")
    page.route(f"**{ENGAGEMENTS}", unavailable)
    page.goto("/following/")
    assert page.evaluate("crypto.randomUUID === undefined")
    assert scroll_until(page, lambda: answers["503"] >= 1), "no batch was sent"
    assert wait_for(page, lambda: answers["503"] >= 2), "the failed batch was not retried"
    assert not Engagement.objects.filter(user=viewer).exists()
    first_page_events = outbox_size(page)
    assert first_page_events >= 20

    # Reloaded during the outage: the outbox outlives the page.
    page.unroute(f"**{ENGAGEMENTS}")
    page.route(f"**{ENGAGEMENTS}", network_down)
    page.reload()
    scroll(page, 4)
    assert wait_for(page, lambda: answers["aborted"] >= 1)
    assert outbox_size(page) >= first_page_events

    page.unroute(f"**{ENGAGEMENTS}")
    page.route(f"**{ENGAGEMENTS}", answer_lost)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # no need to wait out the backoff
    assert wait_for(page, lambda: answers["lost"] >= 1)
    assert Engagement.objects.filter(user=viewer).exists()  # stored, yet still in the outbox

    page.unroute(f"**{ENGAGEMENTS}")
    page.route(f"**{ENGAGEMENTS}", restored)
    page.evaluate("window.dispatchEvent(new Event('online'))")

    def all_stored() -> bool:
        stored = set(Engagement.objects.filter(user=viewer).values_list("client_event_id", flat=True))
        return outbox_size(page) == 0 and {str(i) for i in stored} == set(sent)

    assert wait_for(page, all_stored), "an event sent during the outage was never stored"
    events = Engagement.objects.filter(user=viewer)
    assert len(sent) > len(set(sent))  # events went more than once...
    assert events.count() == len(set(sent))  # ...and each is stored once
    assert {event.client_event_id.version for event in events} == {4}
    # Both page loads' impressions, one per card seen.
    feed_requests = FeedRequest.objects.filter(user=viewer)
    assert feed_requests.count() == 2
    for feed_request in feed_requests:
        seen = events.filter(kind="impression", feed_request=feed_request)
        assert seen.exists()
        assert seen.values("tweet").distinct().count() == seen.count()


def test_a_refused_event_costs_only_itself(page, log_in):
    """A tweet deleted while its events wait out an outage: the server
    refuses them by index, the logger drops those and sends the rest."""
    viewer = log_in(UserFactory())
    author = UserFactory()
    follow(viewer, author)
    for n in range(30):
        tweet(author, f"Tweet number {n} with enough words to make a card of a usual height")
    waiting = []

    def unavailable(route) -> None:
        waiting[:] = route.request.post_data_json["events"]
        route.fulfill(status=503, json={"detail": "Service unavailable."})

    page.route(f"**{ENGAGEMENTS}", unavailable)
    page.goto("/following/")
    scroll(page, 8)
    assert wait_for(page, lambda: len(waiting) >= 20)
    deleted = Tweet.objects.get(pk=waiting[len(waiting) // 2]["tweet"])
    services.tweet_delete(tweet=deleted, by=author)
    kept = {event["id"] for event in waiting if event["tweet"] != deleted.pk}

    page.unroute(f"**{ENGAGEMENTS}")
    page.evaluate("window.dispatchEvent(new Event('online'))")

    def stored() -> set[str]:
        return {str(i) for i in Engagement.objects.filter(user=viewer).values_list("client_event_id", flat=True)}

    assert wait_for(page, lambda: kept <= stored() and outbox_size(page) == 0)
    assert not Engagement.objects.filter(user=viewer, tweet=deleted).exists()
