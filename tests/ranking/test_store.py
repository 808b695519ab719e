"""The stored lists' feature rows: written with the list in one write, read
for one page in one read, never mixed across builds."""

import struct
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from ranking.feeds import RankedPage, served_features
from ranking.spec import as_of
from ranking.store import RankedFeed, RankedItem, ranked_features_get, ranked_feed_get, ranked_feed_store

pytestmark = pytest.mark.django_db


def row(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def feed(user_id, built_at, rows: dict | None = None, spec="abc123") -> RankedFeed:
    items = [RankedItem(10, 2.0, ()), RankedItem(11, 1.0, ()), RankedItem(12, 0.5, ())]
    return RankedFeed(user_id, "v1", built_at, items, feature_spec=spec, features=rows)


def test_rows_are_stored_in_the_lists_own_write_and_read_for_a_page_in_one(monkeypatch):
    built_at = as_of(timezone.now())
    calls = []
    for name in ("set", "set_many", "get", "get_many"):
        method = getattr(cache, name)

        def spy(*args, _name=name, _method=method, **kwargs):
            calls.append((_name, sorted(args[0]) if _name == "set_many" else args[0]))
            return _method(*args, **kwargs)

        monkeypatch.setattr(cache, name, spy)

    ranked_feed_store(feed=feed(7, built_at))
    without_rows = calls[:]
    calls.clear()
    ranked_feed_store(feed=feed(7, built_at, {10: row(1, 0.1), 11: row(2, 0.2), 12: row(3, 1e-7)}))
    with_rows = calls[:]
    calls.clear()
    stored = ranked_feed_get(user_id=7)
    calls.clear()
    rows = ranked_features_get(user_id=7, built_at=stored.built_at, tweet_ids=[11, 12, 99])

    # As many writes as a list without rows: the rows ride in the list's own.
    assert [name for name, _ in with_rows] == [name for name, _ in without_rows]
    assert any(
        {"ranked-feed:7", "ranked-feed-features:7"} <= set(keys) for name, keys in with_rows if name == "set_many"
    )
    assert calls == [("get", "ranked-feed-features:7")]
    assert (stored.built_at, stored.feature_spec) == (built_at, "abc123")
    # float32 values, exactly: 0.2 comes back as the float32 nearest to it.
    assert rows == {11: [2.0, struct.unpack("<f", struct.pack("<f", 0.2))[0]], 12: [3.0, pytest.approx(1e-7)]}


def test_items_placed_without_a_row_read_as_missing_and_rows_of_dropped_items_are_not_kept():
    built_at = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, built_at, {10: row(1), 12: row(3), 99: row(9)}))

    assert ranked_features_get(user_id=7, built_at=built_at, tweet_ids=[10, 11, 12, 99]) == {10: [1.0], 12: [3.0]}


def test_rows_of_an_earlier_build_are_never_taken_for_a_later_ones():
    first = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, first, {10: row(1), 11: row(2), 12: row(3)}))
    later = first + timedelta(milliseconds=1)
    ranked_feed_store(feed=feed(7, later))  # a build that kept no rows

    assert ranked_features_get(user_id=7, built_at=later, tweet_ids=[10, 11, 12]) == {}
    assert ranked_features_get(user_id=7, built_at=first, tweet_ids=[10]) == {10: [1.0]}
    assert ranked_features_get(user_id=8, built_at=first, tweet_ids=[10]) == {}


def test_without_redis_a_page_has_no_rows_and_no_error(settings):
    built_at = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, built_at, {10: row(1), 11: row(2), 12: row(3)}))
    page = RankedPage(
        model_version="v1",
        built_at=built_at,
        version="",
        items=[RankedItem(10, 2.0, ())],
        has_more=False,
        feature_spec="abc123",
    )
    assert served_features(user_id=7, page=page, tweet_ids=[10]) == {10: [1.0]}
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    assert served_features(user_id=7, page=page, tweet_ids=[10]) == {}
