from concurrent.futures import ThreadPoolExecutor

from django.core.cache import cache

from config.ratelimit import Rate, hit

RATE = Rate.parse("10/min")


def test_rate_reads_drf_notation():
    assert Rate.parse("600/min") == Rate(600, 60)
    assert Rate.parse("5/hour") == Rate(5, 3600)
    assert Rate.parse("2/s") == Rate(2, 1)


def test_allows_the_count_then_says_when_to_retry():
    now = 6000.0  # the start of a window
    assert [hit("t", "a", RATE, now=now) for _ in range(10)] == [None] * 10
    wait = hit("t", "a", RATE, now=now)
    assert wait == 60
    assert hit("t", "b", RATE, now=now) is None  # another ident has its own count


def test_a_refused_hit_is_not_counted():
    now = 6000.0
    for _ in range(10):
        hit("t", "a", RATE, now=now)
    for _ in range(5):
        assert hit("t", "a", RATE, now=now) is not None
    assert cache.get(f"ratelimit:t:a:{int(now // 60)}") == 10


def test_the_previous_window_weighs_on_the_next():
    for _ in range(10):
        hit("t", "a", RATE, now=6000.0)
    # A quarter into the next window the previous one still weighs 7.5.
    assert hit("t", "a", RATE, now=6075.0) is None
    assert hit("t", "a", RATE, now=6075.0) is None
    wait = hit("t", "a", RATE, now=6075.0)
    assert wait is not None and 0 < wait <= 45


def test_a_batch_costs_its_size():
    assert hit("t", "a", RATE, cost=8, now=6000.0) is None
    assert hit("t", "a", RATE, cost=3, now=6000.0) is not None
    assert hit("t", "a", RATE, cost=2, now=6000.0) is None


def test_parallel_hits_never_pass_more_than_the_count():
    rate = Rate.parse("50/min")
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: hit("t", "par", rate, now=6000.0), range(400)))
    assert sum(r is None for r in results) == 50
