"""Limits and toggles under concurrency: real threads sending real HTTP
requests (token auth) to a live server on PostgreSQL and Redis, as the audit
did. Rates are set low per test so the limits are reached in a few requests."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connections
from rest_framework.authtoken.models import Token

from feed.models import Engagement, Hide, Like, Report, Tweet
from tests.factories import UserFactory, tweet
from users.models import Follow, FollowEvent, User

# Each request holds a database connection on the server: with 2 cores and a
# shared PostgreSQL, a dozen at once is plenty to interleave them.
THREADS = 12
TIMEOUT_S = 30
# The limits not under test stay out of the way.
HIGH = "100000/hour"


@pytest.fixture(autouse=True)
def _connection_per_request(live_server):
    """The live server's threads close their database connection when each
    response is done (CONN_MAX_AGE 0), not when the client's socket closes:
    under many clients, threads waiting to be scheduled for that would each
    hold a connection, past PostgreSQL's limit. New connections read it."""
    database = connections.settings["default"]
    kept = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = kept


@pytest.fixture
def http(live_server):
    """`http(method, path, token=None, **kwargs)`: one real HTTP request to the live server."""

    def send(method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Token {token.key}"
        return requests.request(method, f"{live_server.url}{path}", headers=headers, timeout=TIMEOUT_S, **kwargs)

    return send


def parallel(calls) -> list:
    """Run the calls from THREADS threads at once; their results, in order."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda call: call(), calls))


def token_for(user) -> Token:
    return Token.objects.create(user=user)


def statuses(responses) -> Counter:
    return Counter(response.status_code for response in responses)


def test_parallel_likes_are_accepted_up_to_the_write_limit_exactly(http, settings):
    """The audit: 853 of 900 parallel likes accepted against a 600/min limit."""
    settings.WRITE_RATE = "25/hour"
    liker = token_for(UserFactory())
    author = UserFactory()
    tweets = [tweet(author, f"tweet {n}") for n in range(60)]

    responses = parallel(lambda t=t: http("POST", f"/api/tweets/{t.pk}/like/", liker) for t in tweets)

    assert statuses(responses) == {201: 25, 429: 35}
    for refused in (r for r in responses if r.status_code == 429):
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.headers["Content-Type"] == "application/json"
    assert Like.objects.filter(user=liker.user).count() == 25
    # Reads are not limited.
    assert http("GET", f"/api/tweets/{tweets[0].pk}/", liker).status_code == 200


def test_rapid_like_and_unlike_by_one_user_never_errs_and_the_count_matches(http, settings):
    """The audit: intermittent 500s (IntegrityError from get_or_create)."""
    settings.WRITE_RATE = HIGH
    liker = token_for(UserFactory())
    liked = tweet(UserFactory(), "like me, unlike me")
    path = f"/api/tweets/{liked.pk}/like/"

    responses = parallel(lambda n=n: http("POST" if n % 2 else "DELETE", path, liker) for n in range(300))

    assert set(statuses(responses)) <= {200, 201}
    liked.refresh_from_db()
    assert liked.like_count == Like.objects.filter(tweet=liked).count()
    # Every like that became a row logged one event; an unlike logs none.
    likes_logged = Engagement.objects.filter(tweet=liked, kind=Engagement.Kind.LIKE).count()
    assert likes_logged >= 1
    assert likes_logged >= liked.like_count


def test_rapid_follow_and_unfollow_by_one_user_logs_each_change_once(http, settings):
    settings.WRITE_RATE = HIGH
    follower = token_for(UserFactory())
    followee = UserFactory()
    path = f"/api/users/{followee.username}/follow/"

    responses = parallel(lambda n=n: http("POST" if n % 2 else "DELETE", path, follower) for n in range(300))

    assert set(statuses(responses)) <= {201, 204}
    # The follow log is the edge's history: it alternates, one row per change,
    # and ends where the graph is.
    log = FollowEvent.objects.filter(follower=follower.user, followee=followee).order_by("id")
    kinds = list(log.values_list("kind", flat=True))
    assert kinds, "no follow got through"
    assert all(kind == ("follow" if i % 2 == 0 else "unfollow") for i, kind in enumerate(kinds))
    following = Follow.objects.filter(follower=follower.user, followee=followee).exists()
    assert following == (kinds[-1] == "follow")
    profile = http("GET", f"/api/users/{followee.username}/", follower).json()
    assert profile["followers_count"] == int(following)
    assert profile["is_following"] == following


def test_concurrent_duplicates_of_every_action_count_and_log_once(http, settings):
    settings.WRITE_RATE = HIGH
    actor = token_for(UserFactory())
    target = tweet(UserFactory(), "everyone at once")
    actions = [("like/", {}), ("retweet/", {}), ("hide/", {}), ("report/", {"reason": "spam"})]

    calls = [
        lambda action=action, body=body: http("POST", f"/api/tweets/{target.pk}/{action}", actor, json=body)
        for action, body in actions
        for _ in range(10)
    ]
    responses = parallel(calls)

    assert set(statuses(responses)) <= {201, 204}
    target.refresh_from_db()
    assert (target.like_count, target.retweet_count) == (1, 1)
    assert Like.objects.filter(tweet=target).count() == 1
    assert Tweet.objects.filter(retweet_of=target, deleted_at__isnull=True).count() == 1
    assert Hide.objects.filter(tweet=target).count() == 1
    assert Report.objects.filter(tweet=target).count() == 1
    logged = Counter(Engagement.objects.filter(tweet=target).values_list("kind", flat=True))
    assert logged == {"like": 1, "retweet": 1, "hide": 1, "report": 1}


def test_rapid_retweet_and_undo_keeps_the_count_on_the_retweets(http, settings):
    settings.WRITE_RATE = HIGH
    retweeter = token_for(UserFactory())
    original = tweet(UserFactory(), "retweet me, or not")
    path = f"/api/tweets/{original.pk}/retweet/"

    responses = parallel(lambda n=n: http("POST" if n % 2 else "DELETE", path, retweeter) for n in range(200))

    assert set(statuses(responses)) <= {200, 201}
    original.refresh_from_db()
    assert original.retweet_count == Tweet.objects.filter(retweet_of=original, deleted_at__isnull=True).count()


def test_a_new_x_forwarded_for_on_each_request_does_not_escape_the_anonymous_limit(http, settings):
    """The audit: the anonymous limit bypassed by a different X-Forwarded-For
    on each request. With no trusted proxy (NUM_PROXIES=0) the header is
    ignored and every request counts against the connection's address."""
    settings.WRITE_RATE = "5/hour"
    settings.SIGNUP_IP_RATE = HIGH

    def register(n):
        body = {"username": f"spoofer{n}", "password": "blue-lantern-harbor-42"}
        return http("POST", "/api/auth/register/", json=body, headers={"X-Forwarded-For": f"198.51.100.{n}"})

    responses = [register(n) for n in range(10)]

    assert [r.status_code for r in responses] == [201] * 5 + [429] * 5
    assert User.objects.filter(username__startswith="spoofer").count() == 5


def test_parallel_password_guesses_stop_at_the_failure_limit(http, settings):
    """The audit: 80 wrong passwords in a row, no 429 and no lock-out. Each
    guess reserves its failure before the password is checked, so parallel
    guesses cannot all get in before the first failure counts."""
    settings.LOGIN_FAILURE_RATE = "5/hour"
    settings.LOGIN_IP_RATE = HIGH
    UserFactory(username="victim", password="the-right-password-1")
    bystander = UserFactory(username="bystander", password="the-right-password-2")

    guesses = parallel(
        lambda n=n: http("POST", "/api/auth/token/", json={"username": "victim", "password": f"guess-{n}"})
        for n in range(40)
    )

    assert statuses(guesses) == {400: 5, 429: 35}
    refused = next(r for r in guesses if r.status_code == 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed log-ins" in refused.json()["detail"]
    # Locked out: the right password waits too...
    right = http("POST", "/api/auth/token/", json={"username": "victim", "password": "the-right-password-1"})
    assert right.status_code == 429
    # ...and nobody else is.
    other = http("POST", "/api/auth/token/", json={"username": "bystander", "password": "the-right-password-2"})
    assert other.status_code == 200
    assert other.json()["token"] == Token.objects.get(user=bystander).key
