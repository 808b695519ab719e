"""Fan-out on write, Mastodon-style: a new tweet marks the feeds of its
author's recently active followers stale; the others are rebuilt when they
next visit (a stored list also goes stale with age)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from feed.models import FeedRequest, Tweet
from users.models import Follow

FANOUT_CHUNK = 1000


def fanout_followers(*, tweet_id: int) -> int:
    """Enqueue stale-marking for the author's recently active followers, in
    chunks of FANOUT_CHUNK. Returns how many followers were marked."""
    from config.celery import enqueue
    from ranking.tasks import mark_feeds_stale

    author_id = Tweet.objects.filter(pk=tweet_id).values_list("author_id", flat=True).first()
    if author_id is None:
        return 0
    since = timezone.now() - timedelta(seconds=settings.FANOUT_ACTIVE_WINDOW_S)
    followers = Follow.objects.filter(followee_id=author_id).values("follower_id")
    active = list(
        FeedRequest.objects.filter(user_id__in=followers, created_at__gte=since)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )
    for start in range(0, len(active), FANOUT_CHUNK):
        enqueue(mark_feeds_stale, active[start : start + FANOUT_CHUNK])
    return len(active)
