"""The ranked feed as the web process sees it: stored lists in Redis (through
the Django cache), read, marked stale and requested. No TensorFlow here: lists
are built by the `feeds` workers (ranking.pipeline), and any failure of
Redis or the broker reads as "no ranked list", which the caller answers with
the chronological feed.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from config.celery import enqueue
from ranking.tasks import build_feed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankedItem:
    tweet_id: int
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RankedFeed:
    user_id: int
    model_version: str
    built_at: datetime
    items: list[RankedItem]


@dataclass(frozen=True)
class RankedPage:
    model_version: str
    items: list[RankedItem]
    has_more: bool


def _key(user_id: int) -> str:
    return f"ranked-feed:{user_id}"


def _stale_key(user_id: int) -> str:
    return f"ranked-feed-stale:{user_id}"


def _building_key(user_id: int) -> str:
    return f"ranked-feed-building:{user_id}"


def ranked_feed_store(*, feed: RankedFeed) -> None:
    """Store a freshly built list, trimmed, and clear its stale mark."""
    payload = {
        "model_version": feed.model_version,
        "built_at": feed.built_at.isoformat(),
        "items": [
            [i.tweet_id, round(i.score, 6), list(i.reasons)] for i in feed.items[: settings.RANKED_FEED_MAX_ITEMS]
        ],
    }
    cache.set(_key(feed.user_id), payload, timeout=settings.RANKED_FEED_TTL_S)
    cache.delete_many([_stale_key(feed.user_id), _building_key(feed.user_id)])


def ranked_feed_get(*, user_id: int) -> RankedFeed | None:
    payload = cache.get(_key(user_id))
    if payload is None:
        return None
    items = [RankedItem(tweet_id, score, tuple(reasons)) for tweet_id, score, reasons in payload["items"]]
    return RankedFeed(user_id, payload["model_version"], datetime.fromisoformat(payload["built_at"]), items)


def ranked_feed_is_fresh(*, feed: RankedFeed, at: datetime | None = None) -> bool:
    age_s = ((at or timezone.now()) - feed.built_at).total_seconds()
    return age_s <= settings.RANKED_FEED_MAX_AGE_S and not cache.get(_stale_key(feed.user_id))


def feeds_mark_stale(*, user_ids: list[int]) -> None:
    """New tweets for these users: rebuild their lists on their next visit."""
    cache.set_many({_stale_key(user_id): 1 for user_id in user_ids}, timeout=settings.RANKED_FEED_TTL_S)


def feed_build_request(*, user_id: int) -> None:
    """Ask a feeds worker for a new list, once per user at a time."""
    if cache.add(_building_key(user_id), 1, timeout=60):
        enqueue(build_feed, user_id)


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
    )
