from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import checks
from django.core.cache import cache
from django.test import RequestFactory

from config.ratelimit import Rate, client_ip, duration, give_back, hit

RATE = Rate.parse("10/min")


def test_rate_reads_drf_notation():
    assert Rate.parse("600/min") == Rate(600, 60)
    assert Rate.parse("5/hour") == Rate(5, 3600)
    assert Rate.parse("2/s") == Rate(2, 1)
    assert Rate.parse("10/15m") == Rate(10, 900)  # a lock-out window


@pytest.mark.parametrize("rate", ["", "10", "ten/min", "10/fortnight", "10/-5m"])
def test_a_rate_that_is_not_one_is_refused_with_its_form(rate):
    with pytest.raises(ValueError, match="600/min"):
        Rate.parse(rate)


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


def test_a_hit_given_back_no_longer_counts():
    for _ in range(10):
        hit("t", "a", RATE, now=6000.0)
    give_back("t", "a", RATE, now=6000.0)

    assert hit("t", "a", RATE, now=6001.0) is None
    assert hit("t", "a", RATE, now=6001.0) is not None


def test_waits_read_as_people_read_them():
    assert [duration(s) for s in (1, 45, 60, 90, 120, 900, 3600, 5400, 7200)] == [
        "1 second",
        "45 seconds",
        "1 minute",
        "90 seconds",
        "2 minutes",
        "15 minutes",
        "1 hour",
        "90 minutes",
        "2 hours",
    ]


def forwarded(chain: str | None, remote: str = "10.0.0.9"):
    extra = {"HTTP_X_FORWARDED_FOR": chain} if chain is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_with_no_trusted_proxy_x_forwarded_for_is_ignored(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}

    assert client_ip(forwarded("198.51.100.1")) == "10.0.0.9"
    assert client_ip(forwarded(None)) == "10.0.0.9"
    request = forwarded(None)
    del request.META["REMOTE_ADDR"]  # a server that gives none still answers
    assert client_ip(request) == ""


def test_behind_one_proxy_the_client_is_the_address_it_appended(settings):
    """A client may send any X-Forwarded-For; the trusted proxy appends the
    address it saw, and that last entry is the one that counts."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    assert client_ip(forwarded("203.0.113.7")) == "203.0.113.7"
    assert client_ip(forwarded("1.2.3.4, 5.6.7.8, 203.0.113.7")) == "203.0.113.7"
    assert client_ip(forwarded(None)) == "10.0.0.9"  # not through the proxy


def test_an_ipv6_client_counts_as_its_64(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    assert client_ip(forwarded("2001:db8:1:2:aaaa::1")) == client_ip(forwarded("2001:db8:1:2:bbbb::2"))
    assert client_ip(forwarded("2001:db8:1:2::1")) == "2001:db8:1:2::/64"
    assert client_ip(forwarded("2001:db8:1:3::1")) != client_ip(forwarded("2001:db8:1:2::1"))


def test_a_malformed_rate_setting_fails_the_system_checks(settings):
    assert not [error for error in checks.run_checks() if error.id == "ratelimit.E001"]
    settings.LOGIN_FAILURE_RATE = "ten a minute"

    errors = [error for error in checks.run_checks() if error.id == "ratelimit.E001"]

    assert [error.msg for error in errors] == [
        "LOGIN_FAILURE_RATE: 'ten a minute' is not a rate: write it as 600/min, 10/s or 10/15m."
    ]
