"""Public pages: logged out, a tweet with its conversation, a profile and a
hashtag page read, and so do the API's tweets, users and their lists;
nothing is logged for a visitor; home, notifications-like pages and every
write still need a login."""

import pytest
from rest_framework.test import APIClient

from feed.models import Engagement, FeedRequest, Like, Tweet
from tests.factories import UserFactory, follow, tweet
from users.models import Follow

pytestmark = pytest.mark.django_db


@pytest.fixture
def thread():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    follow(bob, alice)
    root = tweet(alice, "the root #news")
    reply = tweet(bob, "a reply", reply_to=root)
    answer = tweet(alice, "an answer", reply_to=reply)
    return alice, bob, root, reply, answer


def test_a_tweet_reads_logged_out_with_its_conversation_and_no_buttons(client, thread):
    _, _, _root, reply, _answer = thread

    response = client.get(f"/t/{reply.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    texts = [f'class="text">{text}' for text in ("the root", "a reply", "an answer")]
    assert page.index(texts[0]) < page.index(texts[1]) < page.index(texts[2])
    for control in ('data-action="like"', 'data-action="retweet"', 'data-action="hide"', 'data-action="report"'):
        assert control not in page
    assert 'action="/compose/"' not in page
    assert "to reply" in page
    assert f'href="/login/?next=/t/{reply.pk}/"' in page
    # The engagement logger (and the actions' script) load only for people logged in.
    assert "engagement.js" not in page
    assert "app.js" not in page


@pytest.mark.parametrize(
    "url", ["/u/alice/", "/u/ALICE/", "/u/alice/followers/", "/u/bob/following/", "/hashtag/news/"]
)
def test_profiles_and_hashtags_read_logged_out(client, thread, url):
    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert "@alice" in page
    assert 'data-action="follow"' not in page
    assert "Who to follow" not in page


def test_nothing_is_logged_for_a_visitor(client, thread):
    _, _, root, reply, _ = thread
    logged = Engagement.objects.count()  # the replies themselves
    for url in (f"/t/{root.pk}/", f"/t/{reply.pk}/", "/u/alice/", "/hashtag/news/", "/"):
        assert client.get(url).status_code == 200

    assert not FeedRequest.objects.exists()
    assert Engagement.objects.count() == logged


@pytest.mark.parametrize("url", ["/following/", "/compose/", "/feed/newer/?since=2026-01-01T00:00:00Z"])
def test_home_and_writing_pages_still_need_a_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_api_reads_logged_out(thread):
    _alice, _bob, root, reply, _ = thread
    api = APIClient()

    assert api.get(f"/api/tweets/{root.pk}/").json()["text"] == "the root #news"
    assert api.get(f"/api/tweets/{root.pk}/").json()["liked"] is False
    assert [t["id"] for t in api.get(f"/api/tweets/{root.pk}/replies/").json()["results"]] == [reply.pk]
    profile = api.get("/api/users/Alice/").json()
    assert (profile["username"], profile["followers_count"], profile["is_following"]) == ("alice", 1, False)
    assert [u["username"] for u in api.get("/api/users/alice/followers/").json()["results"]] == ["bob"]
    assert [u["username"] for u in api.get("/api/users/bob/following/").json()["results"]] == ["alice"]
    assert len(api.get("/api/users/alice/tweets/").json()["results"]) == 2


def test_the_api_lists_logged_out_take_constant_queries(thread, django_assert_num_queries):
    alice, _bob, root, _, _ = thread
    for n in range(5):
        tweet(UserFactory(), f"reply {n}", reply_to=root)
        tweet(alice, f"more {n}")
        follow(UserFactory(), alice)
    api = APIClient()

    for url, queries in [
        (f"/api/tweets/{root.pk}/replies/", 2),
        ("/api/users/alice/tweets/", 2),
        ("/api/users/alice/followers/", 2),
    ]:
        with django_assert_num_queries(queries):
            assert api.get(url).status_code == 200


@pytest.mark.parametrize(
    ("method", "url_of", "data"),
    [
        ("get", lambda t: "/api/feed/", None),
        ("post", lambda t: "/api/tweets/", {"text": "hi"}),
        ("delete", lambda t: f"/api/tweets/{t.pk}/", None),
        ("post", lambda t: f"/api/tweets/{t.pk}/like/", {}),
        ("post", lambda t: f"/api/tweets/{t.pk}/retweet/", {}),
        ("post", lambda t: f"/api/tweets/{t.pk}/hide/", {}),
        ("post", lambda t: f"/api/tweets/{t.pk}/report/", {"reason": "spam"}),
        ("post", lambda t: "/api/users/alice/follow/", None),
        ("post", lambda t: "/api/engagements/", {"events": [{"tweet": 1, "kind": "impression"}]}),
    ],
)
def test_the_api_refuses_writes_and_the_feed_logged_out(thread, method, url_of, data):
    _, _, root, _, _ = thread
    counts = (Tweet.objects.count(), Like.objects.count(), Follow.objects.count(), Engagement.objects.count())

    response = getattr(APIClient(), method)(url_of(root), data, format="json")

    assert response.status_code == 401
    assert "detail" in response.json()
    assert (Tweet.objects.count(), Like.objects.count(), Follow.objects.count(), Engagement.objects.count()) == counts
    assert not FeedRequest.objects.exists()


def test_the_admin_link_shows_only_to_staff(client, thread):
    alice, *_ = thread
    admin_link = 'href="/admin/"'

    assert admin_link not in client.get("/u/alice/").content.decode()
    client.force_login(alice)
    assert admin_link not in client.get("/u/alice/").content.decode()
    client.force_login(UserFactory(is_staff=True))
    assert admin_link in client.get("/u/alice/").content.decode()
