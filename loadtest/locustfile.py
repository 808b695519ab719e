"""The load test's simulated people (`make load`, bin/load), against a server
on 127.0.0.1 only. Each takes one seeded person's API token (LOAD_TOKENS, the
file `manage.py world_tokens` writes) and acts as one persona:

- readers scroll "For you" (ranked) and "Following" (latest) a few pages deep,
  sending an engagement batch per page (impressions, a few dwells, a click);
- likers read "For you" and like (or unlike) what they were shown;
- posters post, and now and then reply to a tweet of their feed;
- followers follow and unfollow other people and read their tweets.

The run fails (exit code 1) on more than 1 % failed requests or on any 5xx.
Run by .venv-load's Locust, never imported by the app."""

import collections
import itertools
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

MAX_FAILURE_RATIO = 0.01
PAGES_MAX = 3  # pages a reader scrolls through in one visit
DWELLS_PER_PAGE_MAX = 3  # cards a reader lingers on, per page
PERCENTILES = (0.5, 0.95, 0.99)

with open(os.environ["LOAD_TOKENS"]) as file:
    PEOPLE = json.load(file)
# One person per simulated user, in turn (gevent: one thread, no lock needed).
_next_person = itertools.cycle(PEOPLE)
server_errors = 0
# How the "For you" pages were ordered: the run should measure "ranked", not "pending".
for_you_rankings = collections.Counter()


@events.init.add_listener
def _loopback_only(environment, **kwargs):
    # A load test aimed elsewhere is an attack, whatever it was meant to be.
    if urlsplit(environment.host or "").hostname != "127.0.0.1":
        raise SystemExit(f"locustfile: refusing host {environment.host!r}: only http://127.0.0.1:<port> is allowed.")


@events.request.add_listener
def _count_server_errors(response, **kwargs):
    global server_errors
    if response is not None and response.status_code >= 500:
        server_errors += 1


@events.quitting.add_listener
def _judge(environment, **kwargs):
    """Print each endpoint's figures, and fail the run on too many failures or any 5xx."""
    stats = environment.stats
    print(f"\n{'endpoint':<42} {'requests':>8} {'fails':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for entry in [*sorted(stats.entries.values(), key=lambda e: (e.name, e.method)), stats.total]:
        name = entry.name if entry is stats.total else f"{entry.method} {entry.name}"
        p50, p95, p99 = (entry.get_response_time_percentile(p) for p in PERCENTILES)
        print(
            f"{name:<42} {entry.num_requests:>8} {entry.num_failures:>6} {entry.total_rps:>7.1f}"
            f" {p50:>7.0f} {p95:>7.0f} {p99:>7.0f}"
        )
    for error in stats.errors.values():
        print(f"failed {error.occurrences}x: {error.method} {error.name}: {error.error}")
    orders = ", ".join(f"{n} {state}" for state, n in sorted(for_you_rankings.items()))
    print(f"'For you' pages: {orders or 'none'}")
    ratio = stats.total.fail_ratio
    print(f"failures: {ratio:.2%} of {stats.total.num_requests} requests (allowed: {MAX_FAILURE_RATIO:.0%})")
    print(f"5xx: {server_errors} (allowed: 0)")
    if stats.total.num_requests == 0 or ratio > MAX_FAILURE_RATIO or server_errors:
        print("load: FAILED")
        environment.process_exit_code = 1


class Person(HttpUser):
    """A seeded person with an API token; subclasses are the personas."""

    abstract = True
    wait_time = between(1, 4)

    def on_start(self):
        person = next(_next_person)
        self.username = person["username"]
        self.client.headers["Authorization"] = f"Token {person['token']}"

    def feed_page(self, mode: str, url: str | None = None) -> dict | None:
        """A page of the home feed: the first (by mode), or the one at `url` (a `next` link)."""
        if url is None:
            response = self.client.get("/api/feed/", params={"mode": mode}, name=f"/api/feed/?mode={mode}")
        else:
            path = urlsplit(url)
            response = self.client.get(f"{path.path}?{path.query}", name=f"/api/feed/?mode={mode}&cursor")
        if not response.ok:
            return None
        page = response.json()
        if mode == "ranked":
            for_you_rankings[page["ranking"]] += 1
        return page

    def other_username(self) -> str | None:
        others = [person["username"] for person in PEOPLE if person["username"] != self.username]
        return random.choice(others) if others else None


class Reader(Person):
    weight = 6

    @task(3)
    def scroll_for_you(self):
        self.scroll("ranked")

    @task(1)
    def scroll_following(self):
        self.scroll("latest")

    def scroll(self, mode: str):
        page = self.feed_page(mode)
        for _ in range(random.randint(1, PAGES_MAX)):
            if not page or not page["results"]:
                return
            shown_at = time.monotonic()
            time.sleep(random.uniform(0.5, 2))  # reading (gevent's sleep: other users go on)
            self.send_engagements(page, read_ms=int((time.monotonic() - shown_at) * 1000))
            if not page["next"]:
                return
            page = self.feed_page(mode, page["next"])

    def send_engagements(self, page: dict, read_ms: int):
        """The page's impressions, a few dwells no longer than the time it was read, maybe a click:
        the batch the browser's engagement logger sends."""
        now = datetime.now(UTC).isoformat()
        items = page["results"]

        def event(item, kind, **extra):
            return {
                "id": str(uuid.uuid4()),
                "tweet": item["id"],
                "kind": kind,
                "feed_request": page["feed_request"],
                "position": item["position"],
                "at": now,
                **extra,
            }

        batch = [event(item, "impression") for item in items]
        for item in random.sample(items, min(len(items), random.randint(0, DWELLS_PER_PAGE_MAX))):
            batch.append(event(item, "dwell", dwell_ms=random.randint(1, max(1, read_ms))))
        if random.random() < 0.2:
            batch.append(event(random.choice(items), "click"))
        self.client.post("/api/engagements/", json={"events": batch, "sent_at": now})


class Liker(Person):
    weight = 2

    @task
    def like_what_is_shown(self):
        page = self.feed_page("ranked")
        if not page or not page["results"]:
            return
        for item in random.sample(page["results"], min(2, len(page["results"]))):
            url = f"/api/tweets/{item['id']}/like/"
            if item["liked"]:
                self.client.delete(url, name="/api/tweets/[id]/like/")
            else:
                served = {"feed_request": page["feed_request"], "position": item["position"]}
                self.client.post(url, json=served, name="/api/tweets/[id]/like/")


class Poster(Person):
    weight = 1
    wait_time = between(3, 8)

    @task(3)
    def post(self):
        topic = random.choice(["python", "databases", "ranking", "coffee", "football"])
        self.client.post("/api/tweets/", json={"text": f"Load test thoughts on #{topic} ({uuid.uuid4().hex[:8]})"})

    @task(1)
    def reply(self):
        page = self.feed_page("latest")
        if page and page["results"]:
            tweet = random.choice(page["results"])
            self.client.post("/api/tweets/", json={"text": "Agreed, from the load test.", "reply_to": tweet["id"]})


class Follower(Person):
    weight = 1
    wait_time = between(2, 6)

    @task
    def follow_someone(self):
        username = self.other_username()
        if username is None:  # a world of one: no one else to follow
            return
        self.client.get(f"/api/users/{username}/tweets/", name="/api/users/[username]/tweets/")
        url = f"/api/users/{username}/follow/"
        response = self.client.post(url, name="/api/users/[username]/follow/")
        if response.ok and random.random() < 0.5:
            self.client.delete(url, name="/api/users/[username]/follow/")
