"""The stored ranked lists, in Redis (through the Django cache): one per
user, with its stale and building marks, and beside it the feature row each
item was scored with. Derived data: any list can be rebuilt from
PostgreSQL, and a Redis failure reads as "no list" (or "no features").

Each version of a list (a build, or the viewer's own tweet put on top) is
also kept under its own key for SCROLL_KEEP_S, so a scroll that began on it
reads on from it after a newer version replaced it."""

import struct
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

# How long a replaced list stays readable by the scrolls that began on it.
SCROLL_KEEP_S = 3600


# The reason shown on the viewer's own new tweet, pinned on top of their list.
OWN_TWEET_REASON = "Your tweet"


@dataclass(frozen=True)
class RankedItem:
    tweet_id: int
    score: float | None  # None: placed, not scored (the viewer's own new tweet)
    reasons: tuple[str, ...]
    # In an interleaved list: the variant whose ranker picked it.
    team: str = ""


@dataclass(frozen=True)
class RankedFeed:
    user_id: int
    model_version: str
    built_at: datetime  # the time its features are as of
    items: list[RankedItem]
    version: str = ""  # this version of the list, once stored
    feature_spec: str = ""  # ranking.spec.FEATURE_SPEC_FINGERPRINT of the build
    # What it was built for: an experiment's variant (Assignment.key), or ""
    # for the default feed. A list built for another serves no one else.
    arm: str = ""
    # Tweet id -> the feature row the build scored it with (little-endian
    # float32 bytes), when given to the store; items placed unscored have
    # none. A list read back does not carry them (ranked_features_get reads
    # one page's).
    features: dict[int, bytes] | None = field(default=None, compare=False, repr=False)


def _key(user_id: int) -> str:
    return f"ranked-feed:{user_id}"


def _version_key(user_id: int, version: str) -> str:
    return f"ranked-feed:{user_id}:{version}"


def _stale_key(user_id: int) -> str:
    return f"ranked-feed-stale:{user_id}"


def _building_key(user_id: int) -> str:
    return f"ranked-feed-building:{user_id}"


# One per ranker, for all users: "active" (the default feed's), or a model
# version an experiment's variant names.
def _unavailable_key(ranker: str) -> str:
    return f"ranking-unavailable:{ranker}"


def _features_key(user_id: int) -> str:
    return f"ranked-feed-features:{user_id}"


def _stamp(built_at: datetime) -> int:
    """A build's identity in its feature rows: its time in whole milliseconds."""
    return (built_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _payload(feed: RankedFeed) -> dict:
    return {
        "version": f"{time.time():.6f}",
        "model_version": feed.model_version,
        "built_at": feed.built_at.isoformat(),
        "feature_spec": feed.feature_spec,
        "arm": feed.arm,
        "items": [
            [i.tweet_id, None if i.score is None else round(i.score, 6), list(i.reasons), i.team]
            for i in feed.items[: settings.RANKED_FEED_MAX_ITEMS]
        ],
    }


def _feed(user_id: int, payload: dict | None) -> RankedFeed | None:
    if payload is None:
        return None
    # Lists stored before items had a team have three fields an item.
    items = [RankedItem(item[0], item[1], tuple(item[2]), *item[3:]) for item in payload["items"]]
    built_at = datetime.fromisoformat(payload["built_at"])
    feature_spec = payload.get("feature_spec", "")
    arm = payload.get("arm", "")
    return RankedFeed(user_id, payload["model_version"], built_at, items, payload["version"], feature_spec, arm)


def _put(feed: RankedFeed, beside: dict | None = None) -> None:
    payload = _payload(feed)
    cache.set_many({_key(feed.user_id): payload, **(beside or {})}, timeout=settings.RANKED_FEED_TTL_S)
    cache.set_many({_version_key(feed.user_id, payload["version"]): payload}, timeout=SCROLL_KEEP_S)


def ranked_feed_store(*, feed: RankedFeed) -> None:
    """Store a freshly built list, trimmed, as the user's list and as a
    version of its own; clear its stale and building marks. The items'
    feature rows, when the feed has them, go beside the list in the same
    write, stamped with the build so that rows of another build are never
    taken for this one's. One entry for all the rows (~70 KB for 500 items),
    not one per item: the embedded file cache culls at random past 300
    entries, and would drop lists with them."""
    beside = {}
    if feed.features is not None:
        items = feed.items[: settings.RANKED_FEED_MAX_ITEMS]
        rows = {i.tweet_id: feed.features[i.tweet_id] for i in items if i.tweet_id in feed.features}
        beside[_features_key(feed.user_id)] = (_stamp(feed.built_at), rows)
    _put(feed, beside)
    cache.delete_many([_stale_key(feed.user_id), _building_key(feed.user_id)])


def ranked_feed_get(*, user_id: int, version: str | None = None) -> RankedFeed | None:
    """The user's list, or the version `version` of it (None once it expired)."""
    key = _key(user_id) if version is None else _version_key(user_id, version)
    return _feed(user_id, cache.get(key))


def ranked_feed_prepend(*, user_id: int, item: RankedItem) -> None:
    """Put `item` on top of the user's current list, if there is one, as a
    new version (the viewer's own new tweet: seen at once, without waiting
    for a rebuild; scrolls under way keep the version they began on)."""
    feed = ranked_feed_get(user_id=user_id)
    if feed is not None:
        items = [item, *(i for i in feed.items if i.tweet_id != item.tweet_id)]
        # Same build: its feature rows stay valid for the items it scored.
        _put(replace(feed, items=items))


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


def ranked_feed_drop(*, user_id: int) -> None:
    """Forget the user's list: it no longer holds who they follow."""
    cache.delete(_key(user_id))


def ranked_feed_is_fresh(*, feed: RankedFeed, at: datetime | None = None) -> bool:
    age_s = ((at or timezone.now()) - feed.built_at).total_seconds()
    return age_s <= settings.RANKED_FEED_MAX_AGE_S and not cache.get(_stale_key(feed.user_id))


def feeds_mark_stale(*, user_ids: list[int]) -> None:
    """New tweets for these users: rebuild their lists on their next visit."""
    cache.set_many({_stale_key(user_id): 1 for user_id in user_ids}, timeout=settings.RANKED_FEED_TTL_S)


def building_mark(*, user_id: int) -> bool | None:
    """Mark a build of `user_id`'s list as asked for, for FEED_BUILD_MARK_TTL_S:
    True when marked now, False when one already is, None when Redis is down
    (django-redis then answers None instead of raising)."""
    return cache.add(_building_key(user_id), 1, timeout=settings.FEED_BUILD_MARK_TTL_S)


def building_unmark(*, user_id: int) -> None:
    """The build marked as asked for was not sent after all: let the next
    read ask again, rather than wait out the mark."""
    cache.delete(_building_key(user_id))


def building_marked(*, user_id: int) -> bool:
    return cache.get(_building_key(user_id)) is not None


def ranking_unavailable_mark(*, reason: str, ranker: str = "active") -> None:
    """`ranker` cannot rank now (no model active, or none that loads; a
    variant's version missing): reads of the feeds it orders answer the
    chronological feed as "off" for RANKING_UNAVAILABLE_RECHECK_S rather than
    ask for builds that cannot rank, then ask again."""
    cache.set(_unavailable_key(ranker), reason, timeout=settings.RANKING_UNAVAILABLE_RECHECK_S)


def ranking_unavailable(ranker: str = "active") -> str | None:
    """Why `ranker` cannot rank, when a worker said so recently; else None."""
    return cache.get(_unavailable_key(ranker))


def ranking_unavailable_clear() -> None:
    """A model version was activated: the next read asks for a build."""
    cache.delete(_unavailable_key("active"))
