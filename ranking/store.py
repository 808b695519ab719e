"""The stored ranked lists, in Redis (through the Django cache): one per
user, with its stale and building marks. Derived data: any list can be
rebuilt from PostgreSQL, and a Redis failure reads as "no list"."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

# A build takes well under a second; past this a lost build may be asked again.
BUILDING_MARK_TTL_S = 60


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


def building_mark(*, user_id: int) -> bool:
    """Mark a build of `user_id`'s list as asked for; False when one already is."""
    return cache.add(_building_key(user_id), 1, timeout=BUILDING_MARK_TTL_S)
