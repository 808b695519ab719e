"""The stored ranked lists, in Redis (through the Django cache): one per
user, with its stale and building marks. Derived data: any list can be
rebuilt from PostgreSQL, and a Redis failure reads as "no list".

Each version of a list (a build, or the viewer's own tweet put on top) is
also kept under its own key for SCROLL_KEEP_S, so a scroll that began on it
reads on from it after a newer version replaced it."""

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

# A build takes well under a second; past this a lost build may be asked again.
BUILDING_MARK_TTL_S = 60
# How long a replaced list stays readable by the scrolls that began on it.
SCROLL_KEEP_S = 3600


# The reason shown on the viewer's own new tweet, pinned on top of their list.
OWN_TWEET_REASON = "Your tweet"


@dataclass(frozen=True)
class RankedItem:
    tweet_id: int
    score: float | None  # None: placed, not scored (the viewer's own new tweet)
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RankedFeed:
    user_id: int
    model_version: str
    built_at: datetime  # the time its features are as of
    items: list[RankedItem]
    version: str = ""  # this version of the list, once stored


def _key(user_id: int) -> str:
    return f"ranked-feed:{user_id}"


def _version_key(user_id: int, version: str) -> str:
    return f"ranked-feed:{user_id}:{version}"


def _stale_key(user_id: int) -> str:
    return f"ranked-feed-stale:{user_id}"


def _building_key(user_id: int) -> str:
    return f"ranked-feed-building:{user_id}"


def _payload(feed: RankedFeed) -> dict:
    return {
        "version": f"{time.time():.6f}",
        "model_version": feed.model_version,
        "built_at": feed.built_at.isoformat(),
        "items": [
            [i.tweet_id, None if i.score is None else round(i.score, 6), list(i.reasons)]
            for i in feed.items[: settings.RANKED_FEED_MAX_ITEMS]
        ],
    }


def _feed(user_id: int, payload: dict | None) -> RankedFeed | None:
    if payload is None:
        return None
    items = [RankedItem(tweet_id, score, tuple(reasons)) for tweet_id, score, reasons in payload["items"]]
    built_at = datetime.fromisoformat(payload["built_at"])
    return RankedFeed(user_id, payload["model_version"], built_at, items, payload["version"])


def _put(feed: RankedFeed) -> None:
    payload = _payload(feed)
    cache.set_many({_key(feed.user_id): payload}, timeout=settings.RANKED_FEED_TTL_S)
    cache.set_many({_version_key(feed.user_id, payload["version"]): payload}, timeout=SCROLL_KEEP_S)


def ranked_feed_store(*, feed: RankedFeed) -> None:
    """Store a freshly built list, trimmed, as the user's list and as a
    version of its own; clear its stale and building marks."""
    _put(feed)
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
        _put(RankedFeed(user_id, feed.model_version, feed.built_at, items))


def ranked_feed_drop(*, user_id: int) -> None:
    """Forget the user's list: it no longer holds who they follow."""
    cache.delete(_key(user_id))


def ranked_feed_is_fresh(*, feed: RankedFeed, at: datetime | None = None) -> bool:
    age_s = ((at or timezone.now()) - feed.built_at).total_seconds()
    return age_s <= settings.RANKED_FEED_MAX_AGE_S and not cache.get(_stale_key(feed.user_id))


def feeds_mark_stale(*, user_ids: list[int]) -> None:
    """New tweets for these users: rebuild their lists on their next visit."""
    cache.set_many({_stale_key(user_id): 1 for user_id in user_ids}, timeout=settings.RANKED_FEED_TTL_S)


def building_mark(*, user_id: int) -> bool:
    """Mark a build of `user_id`'s list as asked for; False when one already is."""
    return cache.add(_building_key(user_id), 1, timeout=BUILDING_MARK_TTL_S)
