"""Fan-out on write, Mastodon-style: a new tweet marks stale the lists of
its author's recently active followers, the ones who read their feed within
FANOUT_ACTIVE_WINDOW_S (User.last_feed_at); the others are rebuilt when they
next visit (a stored list also goes stale with age).

The followers are walked in id order, FANOUT_CHUNK at a time: one query per
chunk, on the (followee, follower) index and the users' primary key, whose
cost does not grow with the feed-request log nor with the author's fame
beyond the chunks themselves."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from feed.models import Tweet
from users.models import Follow, User


def active_followers_chunk(*, author_id: int, since: datetime, after: int = 0, size: int) -> list[int]:
    """Up to `size` ids, in order, of `author_id`'s followers past id `after`
    who read their feed since `since`: one query. The bound on the id is on
    both sides of the join (users and follows), so PostgreSQL starts both
    index scans at `after` instead of walking the users from the first."""
    followers = Follow.objects.filter(followee_id=author_id, follower_id__gt=after).values("follower_id")
    return list(
        User.objects.filter(pk__gt=after, last_feed_at__gte=since, pk__in=followers)
        .order_by("pk")
        .values_list("pk", flat=True)[:size]
    )


def active_follower_chunks(*, author_id: int, at: datetime | None = None) -> Iterator[list[int]]:
    """The author's followers who read their feed within the active window,
    in chunks of FANOUT_CHUNK, each found by one query as it is needed."""
    since = (at or timezone.now()) - timedelta(seconds=settings.FANOUT_ACTIVE_WINDOW_S)
    after = 0
    while True:
        chunk = active_followers_chunk(author_id=author_id, since=since, after=after, size=settings.FANOUT_CHUNK)
        if chunk:
            yield chunk
        if len(chunk) < settings.FANOUT_CHUNK:
            return
        after = chunk[-1]


def followers_to_notify(*, tweet_id: int) -> Iterator[list[int]]:
    """The chunks of followers whose lists a new tweet makes stale."""
    author_id = Tweet.objects.filter(pk=tweet_id).values_list("author_id", flat=True).first()
    if author_id is None:
        return iter(())
    return active_follower_chunks(author_id=author_id)
