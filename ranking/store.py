"""The stored ranked lists, in Redis (through the Django cache): one per
user, with its stale and building marks, and beside it the feature row each
item was scored with. Derived data: any list can be rebuilt from
PostgreSQL, and a Redis failure reads as "no list" (or "no features")."""

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
    built_at: datetime  # the time its features are as of
    items: list[RankedItem]
    feature_spec: str = ""  # ranking.spec.FEATURE_SPEC_FINGERPRINT of the build
    # Tweet id -> the feature row the build scored it with (little-endian
    # float32 bytes), when given to the store; items placed unscored have
    # none. A list read back does not carry them (ranked_features_get reads
    # one page's).
    features: dict[int, bytes] | None = field(default=None, compare=False, repr=False)


def _key(user_id: int) -> str:
    return f"ranked-feed:{user_id}"


def _stale_key(user_id: int) -> str:
    return f"ranked-feed-stale:{user_id}"


def _building_key(user_id: int) -> str:
    return f"ranked-feed-building:{user_id}"


def _features_key(user_id: int) -> str:
    return f"ranked-feed-features:{user_id}"


def _stamp(built_at: datetime) -> int:
    """A build's identity in its feature rows: its time in whole milliseconds."""
    return (built_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def ranked_feed_store(*, feed: RankedFeed) -> None:
    """Store a freshly built list, trimmed, and clear its stale mark. The
    items' feature rows, when the feed has them, go beside it in the same
    write, stamped with the build so that rows of another build are never
    taken for this one's. One entry for all the rows (~70 KB for 500 items),
    not one per item: the embedded file cache culls at random past 300
    entries, and would drop lists with them."""
    items = feed.items[: settings.RANKED_FEED_MAX_ITEMS]
    payload = {
        "model_version": feed.model_version,
        "built_at": feed.built_at.isoformat(),
        "feature_spec": feed.feature_spec,
        "items": [[i.tweet_id, round(i.score, 6), list(i.reasons)] for i in items],
    }
    entries = {_key(feed.user_id): payload}
    if feed.features is not None:
        rows = {i.tweet_id: feed.features[i.tweet_id] for i in items if i.tweet_id in feed.features}
        entries[_features_key(feed.user_id)] = (_stamp(feed.built_at), rows)
    cache.set_many(entries, timeout=settings.RANKED_FEED_TTL_S)
    cache.delete_many([_stale_key(feed.user_id), _building_key(feed.user_id)])


def ranked_feed_get(*, user_id: int) -> RankedFeed | None:
    payload = cache.get(_key(user_id))
    if payload is None:
        return None
    items = [RankedItem(tweet_id, score, tuple(reasons)) for tweet_id, score, reasons in payload["items"]]
    built_at = datetime.fromisoformat(payload["built_at"])
    return RankedFeed(user_id, payload["model_version"], built_at, items, payload.get("feature_spec", ""))


def ranked_features_get(*, user_id: int, built_at: datetime, tweet_ids: list[int]) -> dict[int, list[float]]:
    """The feature rows the list built at `built_at` scored these tweets
    with, in one read: tweet id -> floats. Rows of another build, expired
    ones, and all of them when Redis is down, are missing."""
    stored = cache.get(_features_key(user_id))
    if stored is None or stored[0] != _stamp(built_at):
        return {}
    rows = stored[1]
    return {
        tweet_id: list(struct.unpack(f"<{len(rows[tweet_id]) // 4}f", rows[tweet_id]))
        for tweet_id in tweet_ids
        if tweet_id in rows
    }


def ranked_feed_is_fresh(*, feed: RankedFeed, at: datetime | None = None) -> bool:
    age_s = ((at or timezone.now()) - feed.built_at).total_seconds()
    return age_s <= settings.RANKED_FEED_MAX_AGE_S and not cache.get(_stale_key(feed.user_id))


def feeds_mark_stale(*, user_ids: list[int]) -> None:
    """New tweets for these users: rebuild their lists on their next visit."""
    cache.set_many({_stale_key(user_id): 1 for user_id in user_ids}, timeout=settings.RANKED_FEED_TTL_S)


def building_mark(*, user_id: int) -> bool:
    """Mark a build of `user_id`'s list as asked for; False when one already is."""
    return cache.add(_building_key(user_id), 1, timeout=BUILDING_MARK_TTL_S)
