"""The ranking as the web process sees it, and all it imports of `ranking`:
read a page of a stored ranked list and the feature rows it was scored
with, ask for a build, say a tweet was posted.

No TensorFlow, no worker code: builds and fan-out run in Celery workers,
enqueued by task name. Any failure of Redis or the broker reads as "no
ranked list", which the caller answers with the chronological feed.
"""

from dataclasses import dataclass
from datetime import datetime

from config.celery import enqueue
from ranking.store import RankedItem, building_mark, ranked_features_get, ranked_feed_get, ranked_feed_is_fresh

__all__ = ["RankedItem", "RankedPage", "feed_build_request", "ranked_page", "served_features", "tweet_posted"]


@dataclass(frozen=True)
class RankedPage:
    model_version: str
    items: list[RankedItem]
    has_more: bool
    built_at: datetime | None = None  # when the list was built: the time its features are as of
    feature_spec: str = ""  # the feature-spec fingerprint the list was built under


def feed_build_request(*, user_id: int) -> None:
    """Ask a feeds worker for a new list, once per user at a time."""
    if building_mark(user_id=user_id):
        enqueue("ranking.tasks.build_feed", user_id)


def tweet_posted(*, tweet_id: int) -> None:
    """A tweet or retweet was posted: once committed, its author's recently
    active followers' lists go stale (ranking.tasks.fanout_tweet)."""
    enqueue("ranking.tasks.fanout_tweet", tweet_id)


def ranked_page(
    *, user_id: int, offset: int, limit: int, continuing: bool, at: datetime | None = None
) -> RankedPage | None:
    """A slice of the stored ranked list, or None (and a build is requested)
    when there is none, or, for a new load, when it is stale. A scroll in
    progress (`continuing`) keeps reading the list it started on."""
    feed = ranked_feed_get(user_id=user_id)
    if feed is None or not (continuing or ranked_feed_is_fresh(feed=feed, at=at)):
        feed_build_request(user_id=user_id)
        return None
    return RankedPage(
        model_version=feed.model_version,
        items=feed.items[offset : offset + limit],
        has_more=offset + limit < len(feed.items),
        built_at=feed.built_at,
        feature_spec=feed.feature_spec,
    )


def served_features(*, user_id: int, page: RankedPage, tweet_ids: list[int]) -> dict[int, list[float]]:
    """The feature rows `page`'s list scored these tweets with (tweet id ->
    floats), in one cache read; missing where Redis lost them or is down."""
    if page.built_at is None or not tweet_ids:
        return {}
    return ranked_features_get(user_id=user_id, built_at=page.built_at, tweet_ids=tweet_ids)
