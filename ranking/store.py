"""The stored ranked lists: one per user and build, with its stale and
building marks. Derived data: any list can be rebuilt from PostgreSQL, and
a Redis failure reads as "no list" (the caller serves the chronological
feed).

On Redis a build is a Redis list, `ranked-list:{user}:{version}`: index 0
holds the header (the build's version, model, built_at, feature spec, arm
and length), then one entry per item with the feature row it was scored
with. `ranked-list-current:{user}` names the current version. A page read is
LINDEX 0 plus LRANGE of its slice, in one round trip: its cost does not grow
with the list's 500 items, and the page's served features come with it.
A replaced version is kept SCROLL_KEEP_S, so a scroll that began on it (its
cursor names the version) reads on from it, and neither repeats nor skips an
item across a rebuild.

On the embedded default's file cache (no REDIS_URL) the same entries are
kept as one cache value per version, sliced in Python: it serves one
process pair on one machine, not a fleet."""

import base64
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache, caches
from django.utils import timezone
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

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
    # none. Stored beside each item; a list read back carries them.
    features: dict[int, bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RankedSlice:
    """One page of a stored list: its build's header and the items from
    `offset`, with the feature rows they were scored with (tweet id ->
    floats; missing for items placed unscored)."""

    user_id: int
    model_version: str
    built_at: datetime
    version: str
    feature_spec: str
    arm: str
    length: int  # of the whole list
    offset: int
    items: list[RankedItem]
    features: dict[int, list[float]] = field(compare=False, repr=False)
    # Read with the current version, in the same round trip; None: not read.
    stale: bool | None = None


def _current_key(user_id: int) -> str:
    return f"ranked-list-current:{user_id}"


def _list_key(user_id: int, version: str) -> str:
    return f"ranked-list:{user_id}:{version}"


def _stale_key(user_id: int) -> str:
    return f"ranked-feed-stale:{user_id}"


def _building_key(user_id: int) -> str:
    return f"ranked-feed-building:{user_id}"


# One per ranker, for all users: "active" (the default feed's), or a model
# version an experiment's variant names.
def _unavailable_key(ranker: str) -> str:
    return f"ranking-unavailable:{ranker}"


def _client():
    """The Redis client behind the cache, or None on another cache (the
    embedded default's files): lists are then kept as cache values."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend.client.get_client(write=True)
    return None


# --- Encoding: a header, then one entry per item, JSON text -----------------


def _header(feed: RankedFeed, version: str, length: int) -> str:
    return json.dumps(
        {
            "version": version,
            "model_version": feed.model_version,
            "built_at": feed.built_at.isoformat(),
            "feature_spec": feed.feature_spec,
            "arm": feed.arm,
            "length": length,
        }
    )


def _entry(item: RankedItem, row: bytes | None) -> str:
    score = None if item.score is None else round(item.score, 6)
    encoded = None if row is None else base64.b64encode(row).decode()
    return json.dumps([item.tweet_id, score, list(item.reasons), item.team, encoded])


def _item(entry: bytes | str) -> tuple[RankedItem, bytes | None]:
    tweet_id, score, reasons, team, row = json.loads(entry)
    return RankedItem(tweet_id, score, tuple(reasons), team), None if row is None else base64.b64decode(row)


def _items(entries: list) -> tuple[list[RankedItem], dict[int, bytes]]:
    """A stored list's entries: its items in order, and the feature rows by tweet id."""
    items, rows = [], {}
    for entry in entries:
        item, row = _item(entry)
        items.append(item)
        if row is not None:
            rows[item.tweet_id] = row
    return items, rows


def _floats(row: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(row) // 4}f", row))


def _new_version() -> str:
    return f"{time.time():.6f}"


# --- Writes ------------------------------------------------------------------


def _write(*, user_id: int, version: str, entries: list[str], clear_marks: bool) -> None:
    """Store `entries` (header first) as version `version` of the user's
    list and make it the current one; the version it replaces stays
    readable SCROLL_KEEP_S for the scrolls under way on it."""
    ttl = settings.RANKED_FEED_TTL_S
    marks = [_stale_key(user_id), _building_key(user_id)] if clear_marks else []
    client = _client()
    if client is None:
        previous = cache.get(_current_key(user_id))
        cache.set_many({_list_key(user_id, version): entries, _current_key(user_id): version}, timeout=ttl)
        if previous and previous != version:
            cache.touch(_list_key(user_id, previous), SCROLL_KEEP_S)
        if marks:
            cache.delete_many(marks)
        return
    key = cache.make_key(_list_key(user_id, version))
    try:
        pipe = client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.rpush(key, *entries)
        pipe.expire(key, ttl)
        pipe.set(cache.make_key(_current_key(user_id)), version, ex=ttl, get=True)
        if marks:
            pipe.delete(*(cache.make_key(mark) for mark in marks))
        previous = pipe.execute()[3]
        if previous is not None and previous.decode() != version:
            # LT: only ever shortens; a list already expiring sooner keeps its time.
            client.expire(cache.make_key(_list_key(user_id, previous.decode())), SCROLL_KEEP_S, lt=True)
    except (RedisError, OSError):
        logger.warning("Redis is unavailable: the ranked list of user %s was not stored", user_id, exc_info=True)


def ranked_feed_store(*, feed: RankedFeed) -> None:
    """Store a freshly built list, trimmed, as a new version and the user's
    current one, each item with the feature row it was scored with when the
    feed has them; clear its stale and building marks. One transaction."""
    items = feed.items[: settings.RANKED_FEED_MAX_ITEMS]
    rows = feed.features or {}
    version = _new_version()
    entries = [_header(feed, version, len(items)), *(_entry(i, rows.get(i.tweet_id)) for i in items)]
    _write(user_id=feed.user_id, version=version, entries=entries, clear_marks=True)


def ranked_feed_prepend(*, user_id: int, item: RankedItem) -> None:
    """Put `item` on top of the user's current list, if there is one, as a
    new version (the viewer's own new tweet: seen at once, without waiting
    for a rebuild; scrolls under way keep the version they began on). Reads
    the whole list: a post is rare beside the page reads."""
    feed = ranked_feed_get(user_id=user_id)
    if feed is None:
        return
    rows = feed.features or {}
    items = [item, *(i for i in feed.items if i.tweet_id != item.tweet_id)][: settings.RANKED_FEED_MAX_ITEMS]
    version = _new_version()
    # Same build: its feature rows stay valid for the items it scored.
    entries = [_header(feed, version, len(items)), *(_entry(i, rows.get(i.tweet_id)) for i in items)]
    _write(user_id=user_id, version=version, entries=entries, clear_marks=False)


def ranked_feed_drop(*, user_id: int) -> None:
    """Forget the user's list: it no longer holds who they follow. Scrolls
    under way on it read on for SCROLL_KEEP_S."""
    client = _client()
    if client is None:
        cache.delete(_current_key(user_id))
        return
    try:
        previous = client.getdel(cache.make_key(_current_key(user_id)))
        if previous is not None:
            client.expire(cache.make_key(_list_key(user_id, previous.decode())), SCROLL_KEEP_S, lt=True)
    except (RedisError, OSError):
        logger.warning("Redis is unavailable: the ranked list of user %s was not dropped", user_id, exc_info=True)


# --- Reads -------------------------------------------------------------------


def _range(*, user_id: int, version: str | None, start: int, stop: int) -> tuple[list, bool | None] | None:
    """Entries `start` to `stop` (inclusive; -1: the last) after the header
    of the version `version` of the user's list (None: the current one),
    the header first, and, when the current one was read, whether it is
    marked stale. None when there is no such list or Redis is down."""
    client = _client()
    if client is None:
        version = version or cache.get(_current_key(user_id))
        entries = cache.get(_list_key(user_id, version)) if version else None
        if not entries:
            return None
        return [entries[0], *entries[1 + start : None if stop == -1 else 1 + stop + 1]], None
    try:
        stale = None
        if version is None:
            pipe = client.pipeline(transaction=False)
            pipe.get(cache.make_key(_current_key(user_id)))
            pipe.exists(cache.make_key(_stale_key(user_id)))
            current, marked = pipe.execute()
            if current is None:
                return None
            version, stale = current.decode(), bool(marked)
        key = cache.make_key(_list_key(user_id, version))
        pipe = client.pipeline(transaction=False)
        pipe.lindex(key, 0)
        pipe.lrange(key, 1 + start, -1 if stop == -1 else 1 + stop)
        header, entries = pipe.execute()
    except (RedisError, OSError):
        logger.warning("Redis is unavailable: no ranked list for user %s", user_id, exc_info=True)
        return None
    if header is None:
        return None
    return [header, *entries], stale


def ranked_feed_slice(*, user_id: int, offset: int, limit: int, version: str | None = None) -> RankedSlice | None:
    """Items `offset` to `offset + limit` of the version `version` of the
    user's list (None: the current one), with their feature rows, reading
    only them and the header. None when there is no such list (expired,
    never built) or Redis is down."""
    read = _range(user_id=user_id, version=version, start=offset, stop=offset + limit - 1)
    if read is None:
        return None
    (header, *entries), stale = read
    head = json.loads(header)
    items, rows = _items(entries)
    return RankedSlice(
        user_id=user_id,
        model_version=head["model_version"],
        built_at=datetime.fromisoformat(head["built_at"]),
        version=head["version"],
        feature_spec=head["feature_spec"],
        arm=head["arm"],
        length=head["length"],
        offset=offset,
        items=items,
        features={tweet_id: _floats(row) for tweet_id, row in rows.items()},
        stale=stale,
    )


def ranked_feed_get(*, user_id: int, version: str | None = None) -> RankedFeed | None:
    """The user's whole list, or the version `version` of it (None once it
    expired), with its feature rows: for writes and tests. A page read
    reads its slice (ranked_feed_slice)."""
    read = _range(user_id=user_id, version=version, start=0, stop=-1)
    if read is None:
        return None
    (header, *entries), _ = read
    head = json.loads(header)
    items, rows = _items(entries)
    built_at = datetime.fromisoformat(head["built_at"])
    return RankedFeed(
        user_id, head["model_version"], built_at, items, head["version"], head["feature_spec"], head["arm"], rows
    )


def ranked_features_get(*, user_id: int, built_at: datetime, tweet_ids: list[int]) -> dict[int, list[float]]:
    """The feature rows the user's current list, when it is the build of
    `built_at`, scored these tweets with: tweet id -> floats. Reads the whole
    list (for tests and tools); a page's rows come with its slice."""
    feed = ranked_feed_get(user_id=user_id)
    if feed is None or feed.built_at != built_at:
        return {}
    return {tweet_id: _floats(feed.features[tweet_id]) for tweet_id in tweet_ids if tweet_id in feed.features}


def ranked_feed_is_fresh(*, feed: RankedFeed | RankedSlice, at: datetime | None = None) -> bool:
    age_s = ((at or timezone.now()) - feed.built_at).total_seconds()
    if age_s > settings.RANKED_FEED_MAX_AGE_S:
        return False
    stale = getattr(feed, "stale", None)
    return not (cache.get(_stale_key(feed.user_id)) if stale is None else stale)


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
