"""Fan-out finds the recently active followers by their own timestamp
(User.last_feed_at), kept by feed reads, one indexed query per chunk."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feed import services
from ranking.fanout import active_follower_chunks, followers_to_notify
from ranking.store import RankedFeed, RankedItem, ranked_feed_is_fresh, ranked_feed_store
from ranking.tasks import fanout_tweet, mark_feeds_stale
from tests.factories import UserFactory, follow, tweet
from users.models import User
from users.services import user_feed_seen

pytestmark = pytest.mark.django_db


def test_fan_out_reaches_only_followers_who_read_their_feed_within_the_window(settings):
    author, active, dormant, logged_only, stranger = UserFactory.create_batch(5)
    follow(active, author)
    follow(dormant, author)
    follow(logged_only, author)
    user_feed_seen(user=active)
    user_feed_seen(user=dormant, at=timezone.now() - timedelta(days=30))
    user_feed_seen(user=stranger)
    # A feed request in the log, but no timestamp: the log is not scanned.
    services.feed_request_create(user=logged_only, mode="latest")
    posted = tweet(author, "news")

    assert list(followers_to_notify(tweet_id=posted.pk)) == [[active.pk]]
    assert list(followers_to_notify(tweet_id=987654321)) == []
    settings.FANOUT_ACTIVE_WINDOW_S = 60 * 24 * 3600
    assert list(followers_to_notify(tweet_id=posted.pk)) == [sorted([active.pk, dormant.pk])]


def test_a_feed_read_keeps_last_feed_at_with_at_most_one_write_a_step(settings):
    viewer = UserFactory()
    now = timezone.now()

    def updates(at):
        with CaptureQueriesContext(connection) as queries:
            services.feed_read(viewer=viewer, mode="latest", at=at)
        return sum(q["sql"].startswith('UPDATE "users_user"') for q in queries.captured_queries)

    assert updates(now) == 1
    assert User.objects.get(pk=viewer.pk).last_feed_at == now
    assert updates(now + timedelta(seconds=settings.LAST_FEED_AT_STEP_S - 1)) == 0
    assert updates(now + timedelta(seconds=settings.LAST_FEED_AT_STEP_S + 1)) == 1
    assert User.objects.get(pk=viewer.pk).last_feed_at == now + timedelta(seconds=settings.LAST_FEED_AT_STEP_S + 1)


@pytest.mark.parametrize("active", [25, 45])
def test_fan_out_costs_one_query_a_chunk(settings, active):
    settings.FANOUT_CHUNK = 10
    author = UserFactory()
    followers = UserFactory.create_batch(active + 15)
    for n, follower in enumerate(followers):
        follow(follower, author)
        # Interleaved by id: the inactive ones sit between the active ones.
        user_feed_seen(user=follower, at=timezone.now() - timedelta(days=1 if n < active else 10))

    with CaptureQueriesContext(connection) as queries:
        chunks = list(active_follower_chunks(author_id=author.pk))

    assert [len(chunk) for chunk in chunks] == [10] * (active // 10) + [active % 10]
    assert [user_id for chunk in chunks for user_id in chunk] == sorted(f.pk for f in followers[:active])
    assert len(queries) == len(chunks)


def test_a_new_tweet_marks_its_active_followers_lists_stale_a_task_a_chunk(
    settings, django_capture_on_commit_callbacks
):
    settings.FANOUT_CHUNK = 2
    author = UserFactory()
    followers = UserFactory.create_batch(5)
    for follower in followers:
        follow(follower, author)
        user_feed_seen(user=follower)
        ranked_feed_store(feed=_feed(follower.pk))
    posted = tweet(author, "news")

    with django_capture_on_commit_callbacks(execute=False) as sends:
        assert fanout_tweet.apply(args=[posted.pk]).get() == 5
    assert len(sends) == 3  # a mark_feeds_stale task per chunk of 2

    mark_feeds_stale.apply(args=[[followers[0].pk]])
    assert not ranked_feed_is_fresh(feed=_feed(followers[0].pk))
    assert ranked_feed_is_fresh(feed=_feed(followers[1].pk))


def _feed(user_id):
    return RankedFeed(user_id, "v1", timezone.now(), [RankedItem(1, 1.0, ())])
