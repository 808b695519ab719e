import base64
import json
import uuid
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.core import signing
from django.utils import timezone

from config import api as config_api
from feed import services
from feed.models import Engagement, FeedRequest, Hide, Like, Report, Tweet
from feed.selectors import CURSOR_POSITION_MAX, CURSOR_SALT, FeedCursor
from tests.factories import UserFactory, assigned, follow, served, tweet
from users.services import user_feed_seen

pytestmark = pytest.mark.django_db

TWEET_FIELDS = {
    "id",
    "author",
    "text",
    "created_at",
    "reply_to",
    "retweet_of",
    "like_count",
    "reply_count",
    "retweet_count",
    "liked",
    "retweeted",
}


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def refreshed(t: Tweet) -> Tweet:
    return Tweet.objects.get(pk=t.pk)


def deleted_tweet(**kwargs) -> Tweet:
    posted = tweet(**kwargs)
    services.tweet_delete(tweet=posted, by=posted.author)
    return posted


# --- Posting ------------------------------------------------------------------------


def test_post_tweet_strips_text_and_answers_the_tweet(user_api):
    response = user_api.post("/api/tweets/", {"text": "  hello world\n "}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == TWEET_FIELDS
    assert body["text"] == "hello world"
    assert body["author"] == {
        "id": user_api.user.pk,
        "username": user_api.user.username,
        "display_name": user_api.user.display_name,
        "avatar_url": f"/avatars/default/{user_api.user.username}.svg",
    }
    assert (body["reply_to"], body["retweet_of"], body["liked"], body["retweeted"]) == (None, None, False, False)
    assert Tweet.objects.get(pk=body["id"]).text == "hello world"


def test_post_reply_counts_on_the_parent(user_api):
    parent = tweet()

    response = user_api.post("/api/tweets/", {"text": "re", "reply_to": parent.pk}, format="json")

    assert response.status_code == 201
    assert response.json()["reply_to"] == parent.pk
    assert refreshed(parent).reply_count == 1
    assert Engagement.objects.get().kind == Engagement.Kind.REPLY


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "  \n\t "}, "text"),
        ({"text": "x" * 281}, "text"),
        ({"text": "nul\x00byte"}, "text"),
        ({}, "text"),
        ({"text": "re", "reply_to": 987654321}, "reply_to"),
        ({"text": "re", "reply_to": "deleted"}, "reply_to"),
        ({"text": "re", "reply_to": "abc"}, "reply_to"),
    ],
)
def test_post_tweet_rejects_bad_input_and_writes_nothing(user_api, payload, field):
    if payload.get("reply_to") == "deleted":
        payload["reply_to"] = deleted_tweet().pk
    before = Tweet.objects.count()

    response = user_api.post("/api/tweets/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Tweet.objects.count() == before
    assert not Engagement.objects.exists()


def test_post_tweet_accepts_280_characters(user_api):
    assert user_api.post("/api/tweets/", {"text": "x" * 280}, format="json").status_code == 201


def test_post_tweet_needs_authentication(api):
    assert api.post("/api/tweets/", {"text": "hi"}, format="json").status_code == 401
    assert not Tweet.objects.exists()


# --- One tweet ----------------------------------------------------------------------


def test_get_tweet_with_viewer_state(api, user_api):
    posted = tweet(text="hi")
    services.like_create(user=user_api.user, tweet=posted)

    assert user_api.get(f"/api/tweets/{posted.pk}/").json()["liked"] is True
    anonymous = api.get(f"/api/tweets/{posted.pk}/")
    assert anonymous.status_code == 200
    assert (anonymous.json()["text"], anonymous.json()["like_count"], anonymous.json()["liked"]) == ("hi", 1, False)


def test_get_retweet_nests_the_original(user_api):
    original = tweet(text="original")
    retweet = services.retweet_create(user=UserFactory(), tweet=original)

    body = user_api.get(f"/api/tweets/{retweet.pk}/").json()

    assert (body["id"], body["text"]) == (retweet.pk, "")
    assert body["retweet_of"]["id"] == original.pk
    assert body["retweet_of"]["text"] == "original"
    assert body["retweet_of"]["retweet_count"] == 1
    assert body["retweet_of"]["author"]["username"] == original.author.username


def test_get_deleted_or_unknown_tweet_is_404(api):
    assert api.get(f"/api/tweets/{deleted_tweet().pk}/").status_code == 404
    assert api.get("/api/tweets/987654321/").status_code == 404


def test_author_deletes_tweet(api_for):
    posted = tweet()
    author = api_for(posted.author)

    assert author.delete(f"/api/tweets/{posted.pk}/").status_code == 204

    assert refreshed(posted).deleted_at is not None
    assert author.get(f"/api/tweets/{posted.pk}/").status_code == 404
    assert author.delete(f"/api/tweets/{posted.pk}/").status_code == 404


def test_deleting_own_retweet_uncounts_it(api_for):
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)

    assert api_for(retweet.author).delete(f"/api/tweets/{retweet.pk}/").status_code == 204

    assert refreshed(original).retweet_count == 0


def test_nobody_else_deletes_a_tweet(api, user_api):
    posted = tweet()

    assert user_api.delete(f"/api/tweets/{posted.pk}/").status_code == 403
    assert api.delete(f"/api/tweets/{posted.pk}/").status_code == 401
    assert refreshed(posted).deleted_at is None


# --- Like and retweet ---------------------------------------------------------------


def test_like_and_unlike(user_api):
    posted = tweet()
    url = f"/api/tweets/{posted.pk}/like/"

    liked = user_api.post(url)
    again = user_api.post(url)

    assert liked.status_code == again.status_code == 201
    assert (again.json()["id"], again.json()["like_count"], again.json()["liked"]) == (posted.pk, 1, True)
    unliked = user_api.delete(url)
    assert unliked.status_code == 200
    assert (unliked.json()["like_count"], unliked.json()["liked"]) == (0, False)
    assert not Like.objects.exists()
    assert Engagement.objects.filter(kind=Engagement.Kind.LIKE).count() == 1


def test_like_a_retweet_likes_the_original(user_api):
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)

    body = user_api.post(f"/api/tweets/{retweet.pk}/like/").json()

    assert (body["id"], body["like_count"], body["liked"]) == (original.pk, 1, True)


def test_like_records_where_it_was_served(user_api):
    posted = tweet()
    feed_request = services.feed_request_create(
        user=user_api.user, mode="ranked", model_version="m-2", assignment=assigned("B")
    )

    response = user_api.post(
        f"/api/tweets/{posted.pk}/like/", {"feed_request": str(feed_request.pk), "position": 3}, format="json"
    )

    assert response.status_code == 201
    event = Engagement.objects.get()
    served = (event.feed_request_id, event.position, event.model_version, event.variant)
    assert served == (feed_request.pk, 3, "m-2", "B")


@pytest.mark.parametrize(
    ("served", "field"),
    [
        ({"feed_request": "someone else's"}, "feed_request"),
        ({"feed_request": str(uuid.UUID(int=7))}, "feed_request"),
        ({"position": -1}, "position"),
    ],
)
def test_like_rejects_a_bad_serving_context(user_api, served, field):
    posted = tweet()
    if served.get("feed_request") == "someone else's":
        served["feed_request"] = str(services.feed_request_create(user=UserFactory(), mode="latest").pk)

    response = user_api.post(f"/api/tweets/{posted.pk}/like/", served, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Like.objects.exists()
    assert refreshed(posted).like_count == 0


@pytest.mark.parametrize("action", ["like", "retweet", "hide", "report"])
def test_actions_need_authentication(api, action):
    posted = tweet()

    assert api.post(f"/api/tweets/{posted.pk}/{action}/", {"reason": "spam"}).status_code == 401
    assert not Engagement.objects.exists()


@pytest.mark.parametrize("action", ["like", "retweet", "hide", "report", "replies"])
def test_actions_on_deleted_tweet_are_404(user_api, action):
    gone = deleted_tweet()
    method = user_api.get if action == "replies" else user_api.post

    assert method(f"/api/tweets/{gone.pk}/{action}/", {"reason": "spam"}).status_code == 404
    assert not Engagement.objects.exists()


def test_retweet_and_unretweet(user_api):
    original = tweet()
    url = f"/api/tweets/{original.pk}/retweet/"

    response = user_api.post(url)
    again = user_api.post(url)

    assert response.status_code == again.status_code == 201
    body = again.json()
    assert body["id"] == response.json()["id"] != original.pk
    assert (body["retweet_of"]["id"], body["retweet_of"]["retweet_count"]) == (original.pk, 1)
    assert body["retweeted"] is body["retweet_of"]["retweeted"] is True

    undone = user_api.delete(url)
    assert undone.status_code == 200
    assert (undone.json()["id"], undone.json()["retweet_count"], undone.json()["retweeted"]) == (original.pk, 0, False)
    assert not Tweet.objects.visible().filter(retweet_of=original).exists()


def test_retweeting_a_retweet_retweets_the_original(user_api):
    original = tweet()
    retweet = services.retweet_create(user=UserFactory(), tweet=original)

    body = user_api.post(f"/api/tweets/{retweet.pk}/retweet/").json()

    assert body["retweet_of"]["id"] == original.pk
    assert refreshed(original).retweet_count == 2
    assert user_api.delete(f"/api/tweets/{retweet.pk}/retweet/").json()["retweet_count"] == 1


# --- Replies ------------------------------------------------------------------------


def test_replies_oldest_first_across_pages(api, monkeypatch):
    monkeypatch.setattr(config_api.OldestFirstPagination, "page_size", 2)
    parent = tweet()
    first, second, third = (tweet(text=f"reply {n}", reply_to=parent) for n in range(3))
    deleted_tweet(reply_to=parent)
    tweet(text="elsewhere", reply_to=tweet())

    page = api.get(f"/api/tweets/{parent.pk}/replies/")
    rest = api.get(page.json()["next"])

    assert ids(page) == [first.pk, second.pk]
    assert ids(rest) == [third.pk]
    assert rest.json()["next"] is None


# --- Hide and report ----------------------------------------------------------------


@pytest.fixture
def viewer(api_for):
    return api_for()


def test_hide_removes_the_tweet_and_its_retweets_from_the_feed(viewer):
    author, retweeter = UserFactory.create_batch(2)
    follow(viewer.user, author, retweeter)
    kept = tweet(author)
    hidden = tweet(author)
    retweet = services.retweet_create(user=retweeter, tweet=hidden)
    # The original and its retweet are one item, at the retweet.
    assert set(ids(viewer.get("/api/feed/?mode=latest"))) == {kept.pk, retweet.pk}

    # Hiding through the retweet hides the original too.
    assert viewer.post(f"/api/tweets/{retweet.pk}/hide/").status_code == 204
    assert viewer.post(f"/api/tweets/{hidden.pk}/hide/").status_code == 204

    assert ids(viewer.get("/api/feed/?mode=latest")) == [kept.pk]
    assert list(Hide.objects.values_list("tweet", flat=True)) == [hidden.pk]


def test_report_is_created_once_and_leaves_the_feed(viewer):
    author = UserFactory()
    follow(viewer.user, author)
    posted = tweet(author)
    url = f"/api/tweets/{posted.pk}/report/"

    first = viewer.post(url, {"reason": "spam"}, format="json")
    second = viewer.post(url, {"reason": "abuse"}, format="json")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert set(first.json()) == {"id", "tweet", "reason", "created_at"}
    assert (first.json()["tweet"], first.json()["reason"]) == (posted.pk, "spam")
    assert Report.objects.count() == 1
    assert ids(viewer.get("/api/feed/?mode=latest")) == []


@pytest.mark.parametrize(("payload", "field"), [({"reason": "boring"}, "reason"), ({}, "reason")])
def test_report_needs_a_known_reason(viewer, payload, field):
    posted = tweet()

    response = viewer.post(f"/api/tweets/{posted.pk}/report/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Report.objects.exists()


def test_report_of_own_tweet_is_400(viewer):
    posted = tweet(viewer.user)

    response = viewer.post(f"/api/tweets/{posted.pk}/report/", {"reason": "spam"}, format="json")

    assert response.status_code == 400
    assert "tweet" in response.json()
    assert not Report.objects.exists()
    assert not Engagement.objects.exists()


# --- The feed -----------------------------------------------------------------------


def test_feed_is_followees_and_own_tweets_newest_first(viewer):
    followee, stranger = UserFactory.create_batch(2)
    follow(viewer.user, followee)
    follow(followee, stranger)
    theirs = tweet(followee)
    tweet(stranger, "not followed")
    retweeted = tweet(stranger, "retweeted into the feed")
    own = tweet(viewer.user)
    retweet = services.retweet_create(user=followee, tweet=retweeted)
    reply = tweet(followee, reply_to=own)

    response = viewer.get("/api/feed/?mode=latest")

    assert ids(response) == [reply.pk, retweet.pk, own.pk, theirs.pk]
    body = response.json()
    assert (body["mode"], body["next"]) == ("latest", None)
    assert [item["position"] for item in body["results"]] == [0, 1, 2, 3]
    assert body["results"][1]["retweet_of"]["text"] == "retweeted into the feed"
    feed_request = FeedRequest.objects.get()
    assert (str(feed_request.pk), feed_request.user) == (body["feed_request"], viewer.user)


def test_feed_default_and_ranked_modes_serve_the_latest_tweets(viewer):
    followee = UserFactory()
    follow(viewer.user, followee)
    posted = [tweet(followee) for _ in range(3)]

    for url in ("/api/feed/", "/api/feed/?mode=ranked"):
        assert sorted(ids(viewer.get(url))) == sorted(t.pk for t in posted)


def test_feed_shows_liked_and_retweeted_state(viewer):
    followee = UserFactory()
    follow(viewer.user, followee)
    liked, retweeted = tweet(followee), tweet(followee)
    services.like_create(user=viewer.user, tweet=liked)
    services.retweet_create(user=viewer.user, tweet=retweeted)

    results = viewer.get("/api/feed/?mode=latest").json()["results"]

    state = {(item["retweet_of"] or item)["id"]: (item["liked"], item["retweeted"]) for item in results}
    assert state == {liked.pk: (True, False), retweeted.pk: (False, True)}
    assert len(results) == 2  # the retweeted tweet once, at the viewer's retweet


def test_the_latest_feed_shows_a_retweeted_tweet_once_saying_who_else_retweeted_it(viewer):
    alice, bob, carol = UserFactory.create_batch(3)
    follow(viewer.user, alice, bob, carol)
    original = tweet(alice, "worth sharing")
    services.retweet_create(user=bob, tweet=original)
    newest = services.retweet_create(user=carol, tweet=original)

    [item] = viewer.get("/api/feed/?mode=latest").json()["results"]

    assert (item["id"], item["retweet_of"]["id"]) == (newest.pk, original.pk)
    assert (item["also_retweeted_by"], item["also_retweeted_count"]) == (bob.username, 1)


def test_feed_invalid_mode_is_400(viewer):
    response = viewer.get("/api/feed/?mode=popular")

    assert response.status_code == 400
    assert "mode" in response.json()
    assert not FeedRequest.objects.exists()


def encoded(payload) -> str:
    """Signed as the server signs its cursors: the fields are still checked."""
    return signing.dumps(payload, salt=CURSOR_SALT, compress=True)


WHEN = "2025-01-01T00:00:00+00:00"
BAD_CURSORS = {
    "not base64": lambda own, others: "not-a-cursor!",
    "not json": lambda own, others: base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "unsigned": lambda own, others: base64.urlsafe_b64encode(
        json.dumps([str(own), 20, WHEN, 1, None]).encode()
    ).decode(),
    "signed with another key": lambda own, others: signing.dumps(
        [str(own), 20, WHEN, 1, None], key="another-secret-key-" * 3, salt=CURSOR_SALT
    ),
    "position of 2**31": lambda own, others: encoded([str(own), 2**31, WHEN, 1, None]),
    "position past the bound": lambda own, others: encoded([str(own), CURSOR_POSITION_MAX + 1, WHEN, 1, None]),
    "position a float": lambda own, others: encoded([str(own), 20.5, WHEN, 1, None]),
    "time offset -23:59": lambda own, others: encoded([str(own), 20, "2025-01-01T00:00:00-23:59", 1, None]),
    "time at the year 1, offset +23:59": lambda own, others: encoded(
        [str(own), 20, "0001-01-01T00:00:00+23:59", 1, None]
    ),
    "tweet id past bigint": lambda own, others: encoded([str(own), 20, WHEN, 2**63, None]),
    "json object": lambda own, others: encoded({"a": 1}),
    "too short": lambda own, others: encoded([1, 2, 3]),
    "a number": lambda own, others: encoded(7),
    "feed request not a uuid": lambda own, others: encoded(["not-a-uuid", 0, WHEN, 1, None]),
    "feed request a number": lambda own, others: encoded([5, 0, WHEN, 1, None]),
    "tweet id a list": lambda own, others: encoded([str(own), 0, WHEN, [1], None]),
    "naive time": lambda own, others: encoded([str(own), 0, "2025-01-01T00:00:00", 1, None]),
    "negative position": lambda own, others: encoded([str(own), -20, WHEN, 1, None]),
    "unknown feed request": lambda own, others: encoded([str(uuid.UUID(int=1)), 20, WHEN, 1, None]),
    "another user's feed request": lambda own, others: encoded([str(others), 20, WHEN, 1, None]),
}


@pytest.mark.parametrize("make_cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
def test_feed_invalid_cursor_is_400(viewer, make_cursor):
    own = services.feed_request_create(user=viewer.user, mode="latest").pk
    others = services.feed_request_create(user=UserFactory(), mode="latest").pk

    response = viewer.get("/api/feed/", {"mode": "latest", "cursor": make_cursor(own, others)})

    assert response.status_code == 400
    assert "cursor" in response.json()
    assert FeedRequest.objects.count() == 2


def test_feed_cursor_of_own_feed_request_is_accepted(viewer):
    own = services.feed_request_create(user=viewer.user, mode="latest").pk

    response = viewer.get("/api/feed/", {"mode": "latest", "cursor": encoded([str(own), 20, WHEN, 1, None])})

    assert response.status_code == 200
    assert response.json()["feed_request"] == str(own)


def test_feed_pages_continue_positions_in_one_feed_request(viewer, settings):
    settings.FEED_PAGE_SIZE = 2
    followee = UserFactory()
    follow(viewer.user, followee)
    posted = [tweet(followee, f"tweet {n}") for n in range(5)]

    pages, url = [], "/api/feed/?mode=latest"
    while url:
        body = viewer.get(url).json()
        pages.append(body)
        url = body["next"]

    assert [[item["id"] for item in page["results"]] for page in pages] == [
        [posted[4].pk, posted[3].pk],
        [posted[2].pk, posted[1].pk],
        [posted[0].pk],
    ]
    assert [item["position"] for page in pages for item in page["results"]] == [0, 1, 2, 3, 4]
    assert len({page["feed_request"] for page in pages}) == 1
    assert FeedRequest.objects.count() == 1


def test_feed_cursor_never_skips_tweets_posted_in_the_same_instant(viewer, settings):
    settings.FEED_PAGE_SIZE = 2
    now = timezone.now()
    posted = [tweet(viewer.user, f"tweet {n}", at=now) for n in range(3)]

    first = viewer.get("/api/feed/?mode=latest").json()
    second = viewer.get(first["next"]).json()

    assert [item["id"] for item in first["results"] + second["results"]] == [t.pk for t in reversed(posted)]


def test_feed_never_shows_hidden_reported_or_deleted_tweets(viewer, api_for):
    author, retweeter = UserFactory.create_batch(2)
    follow(viewer.user, author, retweeter)
    hidden, reported, deleted, kept = (tweet(author, text) for text in ("hidden", "reported", "deleted", "kept"))
    own_deleted = tweet(viewer.user, "mine, deleted")
    for target in (hidden, reported, deleted, kept):
        services.retweet_create(user=retweeter, tweet=target)
    kept_retweet = Tweet.objects.get(retweet_of=kept)
    services.hide_create(user=viewer.user, tweet=hidden)
    services.report_create(user=viewer.user, tweet=reported, reason="spam")
    for gone in (deleted, own_deleted):
        services.tweet_delete(tweet=gone, by=gone.author)

    assert ids(viewer.get("/api/feed/?mode=latest")) == [kept_retweet.pk]  # one item per original
    # Another follower of the same author still sees what this viewer hid and reported.
    other = api_for()
    follow(other.user, author)
    assert ids(other.get("/api/feed/?mode=latest")) == [kept.pk, reported.pk, hidden.pk]


def test_feed_needs_authentication(api):
    assert api.get("/api/feed/").status_code == 401


# --- Query counts -------------------------------------------------------------------

# Measured once: the page of tweets (authors, originals and the viewer's
# likes and retweets included), plus the feed request (inserted on a first
# page, read after), the viewer's followees and the served-items insert
# (feed), or the author (a user's tweets). Whatever the page holds, it costs this.
FEED_PAGE_QUERIES = 4
USER_TWEETS_PAGE_QUERIES = 2


def plain_items(viewer, author, count):
    follow(viewer, author)
    for n in range(count):
        tweet(author, f"plain {n}")


def mixed_items(viewer, author, count):
    """Each of `count` items different: retweets, replies, retweets of replies,
    the viewer's own retweets, liked or not, by many authors."""
    other_followee = UserFactory()
    follow(viewer, author, other_followee)
    kinds = ["reply", "retweet", "retweet_of_reply", "own_retweet", "plain"]
    for n in range(count):
        stranger = UserFactory()
        kind = kinds[n % len(kinds)]
        if kind == "reply":
            item = tweet(author, f"reply {n}", reply_to=tweet(stranger))
        elif kind == "retweet":
            item = services.retweet_create(user=author, tweet=tweet(stranger))
        elif kind == "retweet_of_reply":
            item = services.retweet_create(user=author, tweet=tweet(stranger, reply_to=tweet(UserFactory())))
        elif kind == "own_retweet":
            item = services.retweet_create(user=viewer, tweet=tweet(other_followee))
        else:
            item = tweet(author, f"plain {n}")
        if n % 2:
            services.like_create(user=viewer, tweet=item)


@pytest.mark.parametrize("build", [plain_items, mixed_items])
def test_feed_page_costs_a_constant_number_of_queries(viewer, build, django_assert_num_queries, experiment_cached):
    build(viewer.user, UserFactory(), 45)
    # A reader seen within LAST_FEED_AT_STEP_S: no last_feed_at write (at most one a step).
    user_feed_seen(user=viewer.user)

    with django_assert_num_queries(FEED_PAGE_QUERIES):
        first = viewer.get("/api/feed/?mode=latest")
    with django_assert_num_queries(FEED_PAGE_QUERIES):
        second = viewer.get(first.json()["next"])

    assert len(ids(first)) == len(ids(second)) == 20
    assert first.json()["next"] and second.json()["next"]


def test_feed_items_are_what_their_documented_serializer_makes(viewer, experiment_cached):
    """The page's items are built as plain dicts (feed_item_data) for speed; the
    schema documents them with FeedItemSerializer: both must agree, field for
    field, on every kind of item (retweets, replies, the viewer's state)."""
    from feed.api import FeedItemSerializer, feed_item_data

    mixed_items(viewer.user, UserFactory(), 10)
    page = services.feed_read(viewer=viewer.user, mode=FeedRequest.Mode.LATEST)
    page.items[0] = services.FeedItem(page.items[0].tweet, 0, 0.5, ("followed",))

    assert any(item.tweet.retweet_of_id for item in page.items)
    assert any(getattr(item.tweet, "liked", False) for item in page.items)
    for item in page.items:
        assert json.loads(json.dumps(feed_item_data(item))) == json.loads(json.dumps(FeedItemSerializer(item).data))


def mixed_author_items(viewer, author, count):
    kinds = ["reply", "retweet", "retweet_of_reply", "plain"]
    for n in range(count):
        kind = kinds[n % len(kinds)]
        if kind == "reply":
            item = tweet(author, f"reply {n}", reply_to=tweet(UserFactory()))
        elif kind == "retweet":
            item = services.retweet_create(user=author, tweet=tweet(UserFactory()))
        elif kind == "retweet_of_reply":
            item = services.retweet_create(user=author, tweet=tweet(UserFactory(), reply_to=tweet(UserFactory())))
        else:
            item = tweet(author, f"plain {n}")
        if n % 2:
            services.like_create(user=viewer, tweet=item)
        if n % 3 == 0:
            services.retweet_create(user=viewer, tweet=item)


def plain_author_items(viewer, author, count):
    for n in range(count):
        tweet(author, f"plain {n}")


@pytest.mark.parametrize("build", [plain_author_items, mixed_author_items])
def test_user_tweets_page_costs_a_constant_number_of_queries(viewer, build, django_assert_num_queries):
    author = UserFactory()
    build(viewer.user, author, 25)

    with django_assert_num_queries(USER_TWEETS_PAGE_QUERIES):
        response = viewer.get(f"/api/users/{author.username}/tweets/")

    assert len(ids(response)) == 20
    assert response.json()["next"]


# --- Engagements --------------------------------------------------------------------


def test_engagement_batch_is_logged_with_its_feed_request(viewer):
    posted = tweet()
    feed_request = served(viewer.user, posted, mode="ranked", model_version="m-9", assignment=assigned("B"))
    events = [
        {"tweet": posted.pk, "kind": "impression", "feed_request": str(feed_request.pk), "position": 0},
        {"tweet": posted.pk, "kind": "dwell", "dwell_ms": 2500, "feed_request": str(feed_request.pk), "position": 0},
        {"tweet": posted.pk, "kind": "click"},
    ]

    response = viewer.post("/api/engagements/", {"events": events}, format="json")

    assert response.status_code == 201
    assert response.json() == {"accepted": 3, "stored": 3, "duplicates": 0}
    rows = [
        (e.user_id, e.tweet_id, e.kind, e.dwell_ms, e.feed_request_id, e.position, e.model_version, e.variant)
        for e in Engagement.objects.order_by("pk")
    ]
    assert rows == [
        (viewer.user.pk, posted.pk, "impression", None, feed_request.pk, 0, "m-9", "B"),
        (viewer.user.pk, posted.pk, "dwell", 2500, feed_request.pk, 0, "m-9", "B"),
        (viewer.user.pk, posted.pk, "click", None, None, None, "", ""),
    ]


def test_engagement_batch_of_the_maximum_size_is_accepted(viewer):
    posted = tweet()
    events = [{"tweet": posted.pk, "kind": "impression", "position": n} for n in range(500)]

    response = viewer.post("/api/engagements/", {"events": events}, format="json")

    assert response.json() == {"accepted": 500, "stored": 500, "duplicates": 0}
    assert Engagement.objects.count() == 500


@pytest.fixture
def batch_world(viewer):
    """What bad events point at: a good tweet, a deleted one and feed requests."""
    return {
        "tweet": tweet().pk,
        "deleted": deleted_tweet().pk,
        "own_request": str(services.feed_request_create(user=viewer.user, mode="latest").pk),
        "others_request": str(services.feed_request_create(user=UserFactory(), mode="latest").pk),
    }


def batch(*bad_events):
    """A valid impression first: a bad event must sink the whole batch."""
    return {"events": [{"tweet": "tweet", "kind": "impression"}, *bad_events]}


BAD_BATCHES = {
    "unknown tweet": batch({"tweet": 987654321, "kind": "impression"}),
    "deleted tweet": batch({"tweet": "deleted", "kind": "impression"}),
    "tweet id not a number": batch({"tweet": "abc", "kind": "impression"}),
    "tweet id zero": batch({"tweet": 0, "kind": "impression"}),
    "huge tweet id": batch({"tweet": 2**70, "kind": "impression"}),
    "kind like": batch({"tweet": "tweet", "kind": "like"}),
    "kind bogus": batch({"tweet": "tweet", "kind": "bogus"}),
    "no kind": batch({"tweet": "tweet"}),
    "negative dwell": batch({"tweet": "tweet", "kind": "dwell", "dwell_ms": -5}),
    "zero dwell": batch({"tweet": "tweet", "kind": "dwell", "dwell_ms": 0}),
    "absurd dwell": batch({"tweet": "tweet", "kind": "dwell", "dwell_ms": settings.DWELL_MAX_MS + 1}),
    "dwell without dwell_ms": batch({"tweet": "tweet", "kind": "dwell"}),
    "dwell_ms on an impression": batch({"tweet": "tweet", "kind": "impression", "dwell_ms": 100}),
    "negative position": batch({"tweet": "tweet", "kind": "impression", "position": -1}),
    "another user's feed request": batch({"tweet": "tweet", "kind": "impression", "feed_request": "others_request"}),
    "unknown feed request": batch({"tweet": "tweet", "kind": "impression", "feed_request": str(uuid.UUID(int=3))}),
    "feed request not a uuid": batch({"tweet": "tweet", "kind": "impression", "feed_request": "x"}),
    "event not an object": batch("impression"),
    "501 events": {"events": [{"tweet": "tweet", "kind": "impression"}] * 501},
    "no events": {"events": []},
    "events missing": {},
    "events not a list": {"events": {"tweet": "tweet", "kind": "impression"}},
    "events a string": {"events": "impression"},
    "body a list": [{"tweet": "tweet", "kind": "impression"}],
}


def resolved(value, world):
    if isinstance(value, dict):
        return {key: resolved(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, world) for item in value]
    return world.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("payload", BAD_BATCHES.values(), ids=BAD_BATCHES.keys())
def test_engagement_batch_with_a_bad_event_writes_nothing(viewer, batch_world, payload):
    response = viewer.post("/api/engagements/", resolved(payload, batch_world), format="json")

    assert response.status_code == 400
    body = response.json()
    assert "events" in body or "non_field_errors" in body
    assert not Engagement.objects.exists()


def test_engagement_batch_error_points_at_the_bad_event(viewer, batch_world):
    payload = resolved(batch({"tweet": "deleted", "kind": "impression"}), batch_world)

    response = viewer.post("/api/engagements/", payload, format="json")

    assert response.json() == {"events": {"1": {"tweet": [f"No tweet with id {batch_world['deleted']}."]}}}


@pytest.mark.parametrize("body", ['{"events": [', "not json", '{"events": [{"tweet": 1,}]}'])
def test_engagement_batch_of_malformed_json_is_400(viewer, body):
    tweet()

    response = viewer.post("/api/engagements/", body, content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Engagement.objects.exists()


def test_engagements_need_authentication(api):
    posted = tweet()

    response = api.post("/api/engagements/", {"events": [{"tweet": posted.pk, "kind": "click"}]}, format="json")

    assert response.status_code == 401
    assert not Engagement.objects.exists()


# --- Rate limits --------------------------------------------------------------------


def test_writes_are_rate_limited_but_reads_are_not(api_for, settings):
    settings.WRITE_RATE = "3/hour"
    writer = api_for()
    posted = tweet(writer.user)

    statuses = [writer.post("/api/tweets/", {"text": f"t{n}"}, format="json").status_code for n in range(4)]

    assert statuses == [201, 201, 201, 429]
    assert writer.post(f"/api/tweets/{posted.pk}/like/").status_code == 429
    assert Tweet.objects.count() == 4
    for _ in range(5):
        assert writer.get(f"/api/tweets/{posted.pk}/").status_code == 200
        assert writer.get("/api/feed/?mode=latest").status_code == 200
    # The limit is per user.
    assert api_for().post(f"/api/tweets/{posted.pk}/like/").status_code == 201


def test_timeline_cursor_round_trips():
    cursor = FeedCursor(uuid.uuid4(), 20, datetime.fromisoformat("2025-01-02T03:04:05.123456+00:00"), 42)

    assert FeedCursor.decode(cursor.encode()) == cursor


# --- Event times: attribution whatever order events arrive in -----------------


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_events_keep_the_time_they_happened_corrected_for_the_clients_clock(viewer):
    posted = tweet()
    feed_request = served(viewer.user, posted, at=timezone.now() - timedelta(minutes=1))
    behind = timedelta(hours=3)  # this client's clock is three hours slow
    now = timezone.now()
    seen = now - timedelta(seconds=40)
    events = [
        {"tweet": posted.pk, "kind": "impression", "feed_request": str(feed_request.pk), "at": iso(seen - behind)}
    ]

    response = viewer.post("/api/engagements/", {"events": events, "sent_at": iso(now - behind)}, format="json")

    assert response.status_code == 201
    stored = Engagement.objects.get()
    assert abs((stored.created_at - seen).total_seconds()) < 2
    assert stored.received_at >= stored.created_at + timedelta(seconds=38)


def test_an_event_without_a_time_happened_when_its_feed_request_served_it(viewer):
    posted = tweet()
    served_by = served(viewer.user, posted, at=timezone.now() - timedelta(minutes=5))
    events = [
        {"tweet": posted.pk, "kind": "impression", "feed_request": str(served_by.pk)},
        {"tweet": posted.pk, "kind": "click"},
    ]

    viewer.post("/api/engagements/", {"events": events}, format="json")

    impression, click = Engagement.objects.order_by("pk")
    assert impression.created_at == served_by.created_at
    assert click.created_at == click.received_at  # nothing better is known


EVENT_TIME_BOUNDS = {
    "in the future": lambda served, now: now + timedelta(minutes=5),
    "older than the bound": lambda served, now: now - timedelta(seconds=settings.ENGAGEMENT_MAX_AGE_S + 60),
    "before its feed request": lambda served, now: served.created_at - timedelta(minutes=5),
}


@pytest.mark.parametrize("moment", EVENT_TIME_BOUNDS.values(), ids=EVENT_TIME_BOUNDS.keys())
def test_a_batch_with_a_time_out_of_bounds_is_refused_whole(viewer, moment):
    posted = tweet()
    served_by = served(viewer.user, posted, at=timezone.now() - timedelta(minutes=1))
    good = {"tweet": posted.pk, "kind": "impression", "feed_request": str(served_by.pk)}
    bad = {**good, "kind": "click", "at": iso(moment(served_by, timezone.now()))}

    response = viewer.post("/api/engagements/", {"events": [good, bad]}, format="json")

    assert response.status_code == 400
    [message] = response.json()["events"]
    assert message.startswith("Event 1: `at`")
    assert not Engagement.objects.exists()


def test_a_time_within_the_clock_skew_moves_onto_its_bound(viewer):
    posted = tweet()
    served_by = served(viewer.user, posted)
    early = served_by.created_at - timedelta(seconds=settings.ENGAGEMENT_CLOCK_SKEW_S / 2)
    events = [{"tweet": posted.pk, "kind": "impression", "feed_request": str(served_by.pk), "at": iso(early)}]

    assert viewer.post("/api/engagements/", {"events": events}, format="json").status_code == 201
    assert Engagement.objects.get().created_at == served_by.created_at


@pytest.mark.parametrize("field", ["at", "sent_at"])
def test_a_time_that_is_no_time_is_a_400(viewer, field):
    posted = tweet()
    event = {"tweet": posted.pk, "kind": "impression"}
    body = {"events": [{**event, "at": "yesterday"}]} if field == "at" else {"events": [event], "sent_at": 5}

    response = viewer.post("/api/engagements/", body, format="json")

    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert not Engagement.objects.exists()


def test_impressions_sent_after_the_likes_they_led_to_still_label_them(api_for):
    """A client that likes at once and sends its impressions at the end of the
    session (as the README documents for REST clients): every like is a label."""
    from ranking.spec import ATTRIBUTION_WINDOW
    from ranking.training.examples import training_examples

    authors = UserFactory.create_batch(3)
    for n, author in enumerate(authors * 4):
        tweet(author, f"tweet {n} about python")
    liked = 0
    for _ in range(3):
        client = api_for()
        follow(client.user, *authors)
        page = client.get("/api/feed/?mode=latest").json()
        seen_at = timezone.now()
        for item in page["results"][::3]:
            client.post(f"/api/tweets/{item['id']}/like/", {"feed_request": page["feed_request"]}, format="json")
            liked += 1
        events = [
            {"tweet": item["id"], "kind": "impression", "feed_request": page["feed_request"],
             "position": item["position"], "at": iso(seen_at)}
            for item in page["results"]
        ]  # fmt: skip
        sent = client.post("/api/engagements/", {"events": events, "sent_at": iso(timezone.now())}, format="json")
        assert sent.status_code == 201

    # As a training run sees them once their attribution window is over.
    examples = training_examples(since=timezone.now() - timedelta(hours=1), now=timezone.now() + ATTRIBUTION_WINDOW)

    assert len(examples) == 3 * 12
    assert int(examples.labels["like"].sum()) == liked == 12
    # The likes were stored before their impressions arrived.
    first_like = Engagement.objects.filter(kind="like").order_by("received_at").first()
    assert first_like.received_at < Engagement.objects.filter(kind="impression").earliest("received_at").received_at


# --- Issue 12: ids are integers, tweet text is visible -------------------------


@pytest.mark.parametrize("reply_to", [1.5, "1.5", True, "1e0", [1], {"id": 1}, " 1"])
def test_reply_to_must_be_an_integer_id(viewer, reply_to):
    parent = tweet(text="the parent")
    assert parent.pk == Tweet.objects.get().pk
    reply_to = reply_to if not isinstance(reply_to, float) else parent.pk + 0.5

    response = viewer.post("/api/tweets/", {"text": "a reply", "reply_to": reply_to}, format="json")

    assert response.status_code == 400
    assert "reply_to" in response.json()
    assert Tweet.objects.count() == 1


def test_reply_to_as_an_integer_or_digits_is_taken(viewer):
    parent = tweet(text="the parent")

    as_int = viewer.post("/api/tweets/", {"text": "one", "reply_to": parent.pk}, format="json")
    as_digits = viewer.post("/api/tweets/", {"text": "two", "reply_to": str(parent.pk)}, format="json")

    assert (as_int.status_code, as_digits.status_code) == (201, 201)
    assert as_int.json()["reply_to"] == as_digits.json()["reply_to"] == parent.pk


INVISIBLE_TEXTS = {
    "zero-width space": "\u200b",
    "word joiner and BOM": "\u2060\ufeff\u2060",
    "no-break and ideographic spaces": "\u00a0\u3000 \u200b",
    "bidi marks": "\u200e\u200f\u202a\u202c",
    "line and paragraph separators": "\u2028\u2029",
    "Hangul filler and blank braille": "\u3164\u2800\u3164",
    "variation selectors": "\ufe0f\ufe0e",
}
CONTROL_TEXTS = {
    "escape sequence": "hello \x1b[2J world",
    "bell": "ding\x07",
    "backspace": "abc\x08\x08\x08xyz",
    "tab": "a\tb",
    "DEL": "a\x7fb",
    "C1 control": "a\x85b",
    "NUL": "a\x00b",
}


@pytest.mark.parametrize("text", INVISIBLE_TEXTS.values(), ids=INVISIBLE_TEXTS.keys())
def test_a_tweet_without_visible_characters_is_refused(viewer, text):
    response = viewer.post("/api/tweets/", {"text": text}, format="json")

    assert response.status_code == 400
    assert response.json()["text"] in (
        ["A tweet needs some visible text: spaces and invisible characters alone are not."],
        ["This field may not be blank."],  # what DRF strips to nothing
    )
    assert not Tweet.objects.exists()


@pytest.mark.parametrize("text", CONTROL_TEXTS.values(), ids=CONTROL_TEXTS.keys())
def test_a_tweet_with_control_characters_is_refused(viewer, text):
    response = viewer.post("/api/tweets/", {"text": text}, format="json")

    assert response.status_code == 400
    [message] = response.json()["text"]
    assert "control character" in message or "Null characters are not allowed." in message
    assert not Tweet.objects.exists()


def test_a_tweet_keeps_its_line_breaks_and_inner_invisible_characters(viewer):
    response = viewer.post("/api/tweets/", {"text": "first line\r\nsecond\u200bline\n\u2764\ufe0f"}, format="json")

    assert response.status_code == 201
    assert response.json()["text"] == "first line\nsecond\u200bline\n\u2764\ufe0f"
