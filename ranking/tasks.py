"""Celery tasks: thin, idempotent, taking ids. Model work is imported inside
each task, never at module top: the web process imports this module too and
must never import TensorFlow."""

from celery import shared_task


@shared_task(acks_late=True)
def build_feed(user_id: int) -> int:
    """Build and store one user's ranked feed. Idempotent: a rebuild replaces it."""
    from ranking.pipeline import feed_build

    feed = feed_build(user_id=user_id)
    return len(feed.items) if feed else 0


@shared_task(acks_late=True)
def fanout_tweet(tweet_id: int) -> int:
    """A new tweet: mark its author's recently active followers' feeds stale,
    in chunks. Returns how many followers were marked."""
    from ranking.fanout import fanout_followers

    return fanout_followers(tweet_id=tweet_id)


@shared_task(acks_late=True)
def mark_feeds_stale(user_ids: list[int]) -> None:
    from ranking.feeds import feeds_mark_stale

    feeds_mark_stale(user_ids=user_ids)
