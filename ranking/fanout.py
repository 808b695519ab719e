"""Fan-out on write, Mastodon-style: a new tweet marks the feeds of its
author's recently active followers stale; the others are rebuilt when they
next visit (a stored list also goes stale with age)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from feed.models import FeedRequest, Tweet
from users.models import Follow

FANOUT_CHUNK = 1000


def followers_to_notify(*, tweet_id: int) -> list[list[int]]:
    """The author's followers who loaded a feed lately, in chunks of FANOUT_CHUNK."""
    author_id = Tweet.objects.filter(pk=tweet_id).values_list("author_id", flat=True).first()
    if author_id is None:
        return []
    since = timezone.now() - timedelta(seconds=settings.FANOUT_ACTIVE_WINDOW_S)
    followers = Follow.objects.filter(followee_id=author_id).values("follower_id")
    active = list(
        FeedRequest.objects.filter(user_id__in=followers, created_at__gte=since)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )
    return [active[start : start + FANOUT_CHUNK] for start in range(0, len(active), FANOUT_CHUNK)]
