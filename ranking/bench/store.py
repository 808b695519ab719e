"""The stored list's read path: one page (its slice and the header) beside
the whole 500-item list, read from Redis by the store's own functions, on a
list shaped like a build's (scores, a reason, a feature row per item)."""

import statistics
import struct
import time

from django.conf import settings
from django.utils import timezone

from ranking.spec import NUMERIC_FEATURES
from ranking.store import (
    RankedFeed,
    RankedItem,
    _client,
    _current_key,
    _list_key,
    ranked_feed_get,
    ranked_feed_slice,
    ranked_feed_store,
)

# A user id no world has: the list is written, read, then removed.
BENCH_USER_ID = 2**62


def _timed(read, reads: int) -> dict:
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3), "p99_ms": round(times[int(len(times) * 0.99)], 3)}


def page_read_benchmark(*, reads: int = 300, page: int = 20) -> dict:
    """p50 and p99 of reading a page of a full list (a scroll, whose cursor
    names the version; a new load, which looks the current one up first)
    and of reading the whole list, in ms; and the list's size in Redis."""
    items = settings.RANKED_FEED_MAX_ITEMS
    ids = range(1, items + 1)
    row = struct.pack(f"<{len(NUMERIC_FEATURES)}f", *([0.5] * len(NUMERIC_FEATURES)))
    feed = RankedFeed(
        BENCH_USER_ID,
        "bench",
        timezone.now(),
        [RankedItem(i, 1.0, ("You often like @someone",)) for i in ids],
        features=dict.fromkeys(ids, row),
    )
    ranked_feed_store(feed=feed)
    version = ranked_feed_get(user_id=BENCH_USER_ID).version
    middle = items // 2
    result = {
        "items": items,
        "page": page,
        "scroll_page": _timed(
            lambda: ranked_feed_slice(user_id=BENCH_USER_ID, offset=middle, limit=page, version=version), reads
        ),
        "first_page": _timed(lambda: ranked_feed_slice(user_id=BENCH_USER_ID, offset=0, limit=page), reads),
        "whole_list": _timed(lambda: ranked_feed_get(user_id=BENCH_USER_ID, version=version), reads),
    }
    client = _client()
    if client is not None:
        from django.core.cache import cache

        key = cache.make_key(_list_key(BENCH_USER_ID, version))
        result["list_bytes"] = client.memory_usage(key)
        client.delete(key, cache.make_key(_current_key(BENCH_USER_ID)))
    return result
