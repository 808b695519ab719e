"""The stored ranked lists: Redis lists (a header, then each item with its
feature row) read by range, one version per build, kept for the scrolls
that began on it."""

import struct
import threading
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from feed.services import feed_read
from ranking.feeds import RankedPage, Unranked, ranked_page, served_features
from ranking.spec import as_of
from ranking.store import (
    SCROLL_KEEP_S,
    RankedFeed,
    RankedItem,
    ranked_features_get,
    ranked_feed_get,
    ranked_feed_slice,
    ranked_feed_store,
)
from tests.factories import UserFactory, follow, tweet

pytestmark = pytest.mark.django_db


def row(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def feed(user_id, built_at, rows: dict | None = None, spec="abc123", ids=(10, 11, 12)) -> RankedFeed:
    items = [RankedItem(tweet_id, float(len(ids) - n), ()) for n, tweet_id in enumerate(ids)]
    return RankedFeed(user_id, "v1", built_at, items, feature_spec=spec, features=rows)


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(django_settings.REDIS_URL)


class Monitor:
    """The commands Redis receives on the test's db while the block runs, as
    Redis MONITOR reports them (the server's own view, not a client spy),
    keeping those that name a ranked list's keys."""

    def __init__(self, *needles: str):
        self.needles = needles or ("ranked-list",)
        self.commands: list[str] = []

    def __enter__(self):
        client = raw_redis()
        self.db = client.connection_pool.connection_kwargs.get("db", 0)
        self.client = client
        ready = threading.Event()

        def watch():
            with client.monitor() as monitor:
                ready.set()
                for command in monitor.listen():
                    if "monitor-stop" in command["command"]:
                        return
                    if command["db"] == self.db and any(n in command["command"] for n in self.needles):
                        self.commands.append(command["command"])

        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()
        assert ready.wait(5)
        return self

    def __exit__(self, *exc):
        raw_redis().echo("monitor-stop")
        self.thread.join(5)


def test_each_item_is_stored_with_its_row_and_a_page_reads_its_rows_with_its_slice():
    built_at = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, built_at, {10: row(1, 0.1), 11: row(2, 0.2), 12: row(3, 1e-7), 99: row(9)}))

    page = ranked_page(user_id=7, offset=1, limit=5)

    assert [i.tweet_id for i in page.items] == [11, 12]
    assert (page.built_at, page.feature_spec, page.has_more) == (built_at, "abc123", False)
    # float32 values, exactly: 0.2 comes back as the float32 nearest to it.
    assert served_features(user_id=7, page=page, tweet_ids=[11, 12, 99]) == {
        11: [2.0, struct.unpack("<f", struct.pack("<f", 0.2))[0]],
        12: [3.0, pytest.approx(1e-7)],
    }
    # The row of an item not in the list is not kept.
    assert 99 not in ranked_feed_get(user_id=7).features


def test_items_placed_without_a_row_read_as_missing():
    built_at = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, built_at, {10: row(1), 12: row(3)}))

    assert ranked_features_get(user_id=7, built_at=built_at, tweet_ids=[10, 11, 12]) == {10: [1.0], 12: [3.0]}


def test_rows_of_an_earlier_build_are_never_taken_for_a_later_ones():
    first = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, first, {10: row(1), 11: row(2), 12: row(3)}))
    began_on = ranked_page(user_id=7, offset=0, limit=1).version
    later = first + timedelta(milliseconds=1)
    ranked_feed_store(feed=feed(7, later))  # a build that kept no rows

    assert ranked_page(user_id=7, offset=0, limit=3).features == {}
    assert ranked_features_get(user_id=7, built_at=first, tweet_ids=[10]) == {}
    # The scroll that began on the first build reads on with its rows.
    assert ranked_page(user_id=7, offset=1, limit=2, version=began_on).features == {11: [2.0], 12: [3.0]}


def test_a_page_read_touches_only_its_slice():
    built_at = timezone.now()
    ids = list(range(1000, 1500))
    ranked_feed_store(feed=feed(7, built_at, {i: row(i) for i in ids}, ids=ids))
    key = cache.make_key("ranked-list:7:")

    with Monitor() as first:
        page = ranked_page(user_id=7, offset=0, limit=20)
    with Monitor() as scroll:
        next_page = ranked_page(user_id=7, offset=20, limit=20, version=page.version)

    current = cache.make_key("ranked-list-current:7")
    assert first.commands == [f"GET {current}", f"LINDEX {key}{page.version} 0", f"LRANGE {key}{page.version} 1 20"]
    assert scroll.commands == [f"LINDEX {key}{page.version} 0", f"LRANGE {key}{page.version} 21 40"]
    assert [i.tweet_id for i in next_page.items] == ids[20:40]
    assert next_page.features == {i: [float(i)] for i in ids[20:40]}
    assert next_page.has_more


def test_a_scroll_across_a_rebuild_neither_repeats_nor_skips_an_item():
    viewer, author = UserFactory(), UserFactory()
    follow(viewer, author)
    tweets = [tweet(author, f"tweet {n}").pk for n in range(50)]
    ranked_feed_store(feed=feed(viewer.pk, timezone.now(), ids=tweets))

    page = feed_read(viewer=viewer, mode="ranked", limit=20)
    shown = [i.tweet.pk for i in page.items]
    # A rebuild between two pages: another order, and an item fewer.
    ranked_feed_store(feed=feed(viewer.pk, timezone.now(), ids=list(reversed(tweets[1:]))))
    with Monitor() as monitor:
        while page.next_cursor:
            page = feed_read(viewer=viewer, mode="ranked", cursor=page.next_cursor, limit=20)
            shown += [i.tweet.pk for i in page.items]

    assert shown == tweets
    assert page.caught_up
    # Each page read only its slice of the list the scroll began on.
    assert [c.split()[0] for c in monitor.commands] == ["LINDEX", "LRANGE"] * 2
    assert [c.split()[-2:] for c in monitor.commands if c.startswith("LRANGE")] == [["21", "40"], ["41", "60"]]
    # A new load reads the new build.
    assert [i.tweet.pk for i in feed_read(viewer=viewer, mode="ranked", limit=3).items] == tweets[:-4:-1]


def test_a_replaced_version_is_kept_only_for_the_scrolls_on_it(settings):
    ranked_feed_store(feed=feed(7, timezone.now()))
    first = ranked_feed_get(user_id=7).version
    ranked_feed_store(feed=feed(7, timezone.now()))
    second = ranked_feed_get(user_id=7).version
    client = raw_redis()

    assert 0 < client.ttl(cache.make_key(f"ranked-list:7:{first}")) <= SCROLL_KEEP_S
    assert client.ttl(cache.make_key(f"ranked-list:7:{second}")) > settings.RANKED_FEED_TTL_S - 60


def test_a_stored_list_works_on_the_embedded_file_cache_too(settings, tmp_path):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": tmp_path}
    }
    built_at = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, built_at, {10: row(1), 11: row(2), 12: row(3)}))
    page = ranked_page(user_id=7, offset=1, limit=1)
    ranked_feed_store(feed=feed(7, built_at, ids=(12, 11, 10)))

    assert [i.tweet_id for i in page.items] == [11]
    assert page.features == {11: [2.0]} and page.has_more
    rest = ranked_page(user_id=7, offset=2, limit=5, version=page.version)
    assert [i.tweet_id for i in rest.items] == [12] and not rest.has_more
    assert [i.tweet_id for i in ranked_page(user_id=7, offset=0, limit=5).items] == [12, 11, 10]


def test_without_redis_there_is_no_page_and_no_error(settings):
    built_at = as_of(timezone.now())
    ranked_feed_store(feed=feed(7, built_at, {10: row(1), 11: row(2), 12: row(3)}))
    assert isinstance(ranked_page(user_id=7, offset=0, limit=1), RankedPage)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    assert ranked_feed_slice(user_id=7, offset=0, limit=1) is None
    # No list, and no build can be asked for: the chronological feed.
    assert ranked_page(user_id=7, offset=0, limit=1) == Unranked("off")
    ranked_feed_store(feed=feed(7, built_at))  # a worker's write is lost, not raised
