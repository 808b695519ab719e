"""Notifications: written by the actions in their transaction, never for
your own actions nor from people you muted or blocked, removed by the undo,
likes and retweets grouped, the unread count and marking read, the API and
the page, and a constant number of queries."""

import pytest
from django.db import transaction
from django.utils import timezone

from feed import services as feed_services
from feed.services import mentioned_names
from tests.factories import UserFactory, follow, tweet
from users import api as users_api
from users import selectors, services
from users.models import Notification

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


def kinds(user):
    return sorted(
        (n.kind, n.actor.username) for n in Notification.objects.filter(recipient=user).select_related("actor")
    )


def lines(client):
    response = client.get("/api/notifications/")
    assert response.status_code == 200
    return response.json()


# --- Written by the actions -------------------------------------------------------


def test_each_action_notifies_the_person_it_concerns():
    alice, bob = UserFactory.create_batch(2)
    post = tweet(alice, "a tweet")

    follow(bob, alice)
    feed_services.like_create(user=bob, tweet=post)
    feed_services.retweet_create(user=bob, tweet=post)
    reply = feed_services.tweet_create(author=bob, text="a reply", reply_to=post)
    mention = tweet(bob, f"hello @{alice.username.upper()}!")

    assert kinds(alice) == sorted(
        [(k, bob.username) for k in (Kind.FOLLOW, Kind.LIKE, Kind.RETWEET, Kind.REPLY, Kind.MENTION)]
    )
    rows = {n.kind: n.tweet_id for n in Notification.objects.filter(recipient=alice)}
    assert rows == {
        Kind.FOLLOW: None,
        Kind.LIKE: post.pk,
        Kind.RETWEET: post.pk,
        Kind.REPLY: reply.pk,
        Kind.MENTION: mention.pk,
    }
    assert not Notification.objects.filter(recipient=bob).exists()


def test_a_notification_is_written_in_the_actions_transaction():
    alice, bob = UserFactory.create_batch(2)
    post = tweet(alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        feed_services.like_create(user=bob, tweet=post)
        assert Notification.objects.filter(recipient=alice).count() == 1
        raise RuntimeError("the action fails after the like")
    assert not Notification.objects.exists()


def test_never_for_your_own_actions():
    alice = UserFactory()
    post = tweet(alice, f"talking to myself @{alice.username}")
    feed_services.like_create(user=alice, tweet=post)
    feed_services.retweet_create(user=alice, tweet=post)
    feed_services.tweet_create(author=alice, text="and replying", reply_to=post)

    assert not Notification.objects.exists()


def test_a_reply_that_mentions_its_parents_author_notifies_once_as_a_reply():
    alice, bob, carol = UserFactory.create_batch(3)
    post = tweet(alice)
    feed_services.tweet_create(author=bob, text=f"@{alice.username} and @{carol.username}", reply_to=post)

    assert kinds(alice) == [(Kind.REPLY, bob.username)]
    assert kinds(carol) == [(Kind.MENTION, bob.username)]


def test_mentions_are_looked_up_in_one_query_case_insensitively(django_assert_num_queries):
    author = UserFactory()
    mentioned = UserFactory.create_batch(5)
    text = " ".join(f"@{u.username.upper()}" for u in mentioned) + " @nobody_here"

    # The tweet, its author-day counter, the mentioned (one query), the
    # silencers among them (one), the notifications (one insert); a savepoint pair.
    with django_assert_num_queries(7):
        tweet(author, text, fanout=False)

    assert Notification.objects.filter(kind=Kind.MENTION).count() == 5


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("hi @alice and @Bob_2", {"alice", "bob_2"}),
        ("mail a@b.com", set()),
        ("@a@b.c", set()),
        ("@alice.", {"alice"}),
        ("@alice.smith", set()),
        ("(@carol)", {"carol"}),
        ("@" + "x" * 31, set()),
        ("@", set()),
    ],
)
def test_mentions_are_usernames_of_letters_digits_and_underscores(text, names):
    assert mentioned_names(text) == names


@pytest.mark.parametrize("relation", ["muted", "blocked", "blocked_by"])
def test_none_from_muted_or_blocked_people(relation):
    alice, bob = UserFactory.create_batch(2)
    post = tweet(alice, "hello")
    if relation == "muted":
        services.mute_create(user=alice, muted=bob)
    elif relation == "blocked":
        services.block_create(user=alice, blocked=bob)
    else:
        services.block_create(user=bob, blocked=alice)

    if relation == "muted":
        follow(bob, alice)
        feed_services.like_create(user=bob, tweet=post)
        feed_services.retweet_create(user=bob, tweet=post)
        feed_services.tweet_create(author=bob, text="reply", reply_to=post)
    tweet(bob, f"hey @{alice.username}")
    assert kinds(alice) == []
    if relation == "blocked_by":  # nor the other way: a blocker mentioning whom they blocked
        tweet(alice, f"hey @{bob.username}")
        assert kinds(bob) == []


def test_notifications_made_before_a_mute_are_not_shown_while_it_lasts(api_for):
    client = api_for()
    bob = UserFactory()
    follow(bob, client.user)
    assert lines(client)["unread"] == 1

    services.mute_create(user=client.user, muted=bob)
    assert lines(client) == {"next": None, "previous": None, "unread": 0, "results": []}

    services.mute_delete(user=client.user, muted=bob)
    assert lines(client)["unread"] == 1


def test_a_muted_word_removes_the_notifications_about_tweets_holding_it(api_for):
    client = api_for()
    bob = UserFactory()
    tweet(bob, f"@{client.user.username} look: #Spoilers")
    tweet(bob, f"@{client.user.username} fine")
    services.muted_word_create(user=client.user, word="spoilers")

    assert [line["tweet"]["text"] for line in lines(client)["results"]] == [f"@{client.user.username} fine"]


# --- Undo ----------------------------------------------------------------------------------


def test_undoing_an_action_removes_its_notification():
    alice, bob, carol = UserFactory.create_batch(3)
    post = tweet(alice)
    follow(bob, alice)
    feed_services.like_create(user=bob, tweet=post)
    feed_services.like_create(user=carol, tweet=post)
    feed_services.retweet_create(user=bob, tweet=post)
    reply = feed_services.tweet_create(author=bob, text="a reply", reply_to=post)
    mention = tweet(bob, f"@{alice.username}")

    services.follow_delete(follower=bob, followee=alice)
    feed_services.like_delete(user=bob, tweet=post)
    feed_services.retweet_delete(user=bob, tweet=post)
    feed_services.tweet_delete(tweet=reply, by=bob)
    feed_services.tweet_delete(tweet=mention, by=bob)

    assert kinds(alice) == [(Kind.LIKE, carol.username)]
    # Deleting the tweet takes its likes' notifications with it.
    feed_services.tweet_delete(tweet=post, by=alice)
    assert kinds(alice) == []


def test_a_block_removes_the_notifications_between_them():
    alice, bob = UserFactory.create_batch(2)
    follow(bob, alice)
    follow(alice, bob)
    services.block_create(user=alice, blocked=bob)
    assert not Notification.objects.exists()


# --- Grouping, unread, mark read ----------------------------------------------------------


def test_likes_and_retweets_of_one_tweet_are_grouped(api_for):
    client = api_for()
    post, other = tweet(client.user, "popular"), tweet(client.user, "less so")
    likers = UserFactory.create_batch(4)
    for liker in likers:
        feed_services.like_create(user=liker, tweet=post)
    feed_services.retweet_create(user=likers[0], tweet=post)
    feed_services.like_create(user=likers[1], tweet=other)
    follow(likers[2], client.user)
    follow(likers[3], client.user)

    body = lines(client)

    texts = [line["text"] for line in body["results"]]
    last = likers[3].shown_name
    assert texts == [
        f"{likers[3].shown_name} followed you",
        f"{likers[2].shown_name} followed you",
        f"{likers[1].shown_name} liked your tweet",
        f"{likers[0].shown_name} retweeted your tweet",
        f"{last} and 3 others liked your tweet",
    ]
    grouped = body["results"][-1]
    assert grouped["others"] == 3
    assert grouped["actor"]["username"] == likers[3].username
    assert grouped["tweet"] == {"id": post.pk, "text": "popular"}
    assert body["unread"] == 5


def test_mark_read_up_to_now_and_the_unread_count(api_for):
    client = api_for()
    post = tweet(client.user, "hi")
    first, second = UserFactory.create_batch(2)
    feed_services.like_create(user=first, tweet=post)
    follow(first, client.user)
    assert lines(client)["unread"] == 2

    response = client.post("/api/notifications/read/")
    assert response.status_code == 200
    assert response.json() == {"marked": 2, "unread": 0}
    body = lines(client)
    assert body["unread"] == 0
    assert not any(line["unread"] for line in body["results"])

    # A later like of the same tweet makes its group unread again.
    feed_services.like_create(user=second, tweet=post)
    body = lines(client)
    assert body["unread"] == 1
    assert [line["unread"] for line in body["results"]] == [True, False]
    assert body["results"][0]["others"] == 1


def test_mark_read_leaves_what_came_after_now_unread():
    alice, bob = UserFactory.create_batch(2)
    before = timezone.now()
    follow(bob, alice)
    assert services.notifications_read(user=alice, at=before) == 0
    assert selectors.notifications_unread_count(viewer=alice) == 1


def test_the_list_pages_newest_first_with_cursors_in_constant_queries(api_for, django_assert_num_queries, monkeypatch):
    client = api_for()
    monkeypatch.setattr(users_api.NotificationPagination, "page_size", 3)
    for follower in UserFactory.create_batch(5):
        follow(follower, client.user)
    post = tweet(client.user)
    for liker in UserFactory.create_batch(3):
        feed_services.like_create(user=liker, tweet=post)

    # The page of groups, its newest notifications with actors and tweets, the unread count.
    with django_assert_num_queries(3):
        first = client.get("/api/notifications/")
    body = first.json()
    assert [line["kind"] for line in body["results"]] == [Kind.LIKE, Kind.FOLLOW, Kind.FOLLOW]
    with django_assert_num_queries(3):
        second = client.get(body["next"]).json()
    assert [line["kind"] for line in second["results"]] == [Kind.FOLLOW] * 3
    assert second["next"] is None
    assert body["unread"] == second["unread"] == 6


def test_notifications_need_a_login(api):
    assert api.get("/api/notifications/").status_code in (401, 403)
    assert api.post("/api/notifications/read/").status_code in (401, 403)


def test_a_bad_cursor_is_a_4xx(api_for):
    assert api_for().get("/api/notifications/?cursor=nonsense").status_code == 404


# --- Pages ---------------------------------------------------------------------------------


def test_the_bell_shows_the_unread_count_and_the_page_marks_read(client, django_assert_max_num_queries):
    alice, bob = UserFactory.create_batch(2)
    tweet(bob, f"hi @{alice.username}")
    client.force_login(alice)

    home = client.get("/following/").content.decode()
    assert "data-unread>1<" in home

    page = client.get("/notifications/").content.decode()
    assert "mentioned you" in page
    assert "notification unread" in page  # shown as new this once
    assert "data-unread>" not in client.get("/following/").content.decode()
    assert "notification unread" not in client.get("/notifications/").content.decode()


def test_logged_out_pages_have_no_bell(client):
    assert "data-bell" not in client.get("/").content.decode()
