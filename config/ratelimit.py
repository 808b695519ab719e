"""Rate limits that hold under concurrency, shared by the API and the pages.

One atomic counter per key and fixed window in the cache (with Redis, a
`SET NX` then an `INCRBY`), weighted with the previous window's count: the
sliding-window estimate, so a burst across a window boundary cannot take
twice the limit. Each hit increments before it compares, so concurrent
requests see distinct counts and at most `count` pass in a window; a refused
hit gives its increment back.

A cache outage (Redis down: django-redis then returns None) lets requests
through: throttling degrades, the product does not.

Also here, for every caller alike: who a request counts against
(`client_ip`, `writer`), the one write limit the API and the pages share
(`write_wait`), and `RateLimited`, the refusal the API answers as a 429 with
`Retry-After` (it is DRF's Throttled) and the pages as a message.
"""

import contextlib
import hashlib
import ipaddress
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import checks
from django.core.cache import cache
from rest_framework.exceptions import APIException, Throttled
from rest_framework.throttling import BaseThrottle

PERIODS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# The settings that hold a rate (config/settings.py, from the environment).
RATE_SETTINGS = (
    "WRITE_RATE",
    "ENGAGEMENT_RATE",
    "LOGIN_IP_RATE",
    "LOGIN_FAILURE_RATE",
    "SIGNUP_IP_RATE",
    "SIGNUP_USERNAME_RATE",
)
RATE_PATTERN = re.compile(r"(\d+)/(\d*)([smhd])[a-z]*")


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: int

    @classmethod
    def parse(cls, rate: str) -> "Rate":
        """ "600/min", "10/s", "1000/day": DRF's notation, read as DRF reads it;
        and a number of units, "10/15m", for a lock-out window."""
        match = RATE_PATTERN.fullmatch(rate.strip())
        if match is None:
            raise ValueError(f"{rate!r} is not a rate: write it as 600/min, 10/s or 10/15m.")
        count, units, period = match.groups()
        return cls(int(count), int(units or 1) * PERIODS_S[period])


def hit(scope: str, ident: str, rate: Rate, *, cost: int = 1, now: float | None = None) -> float | None:
    """Count `cost` against `ident`'s `rate` in `scope`. Returns None when
    allowed, else the seconds until a request of this cost may pass."""
    now = time.time() if now is None else now
    window = int(now // rate.period_s)
    key = f"ratelimit:{scope}:{ident}:{window}"
    # Both windows live two periods: the next window reads this one.
    cache.add(key, 0, timeout=2 * rate.period_s)
    try:
        current = cache.incr(key, cost)
    except ValueError:  # evicted between add and incr: count from here
        cache.set(key, cost, timeout=2 * rate.period_s)
        current = cost
    if current is None:  # the cache is down
        return None
    previous = cache.get(f"ratelimit:{scope}:{ident}:{window - 1}") or 0
    elapsed = (now % rate.period_s) / rate.period_s
    estimate = previous * (1 - elapsed) + current
    if estimate <= rate.count:
        return None
    cache.decr(key, cost)
    return retry_after_s(rate=rate, previous=previous, current=current - cost, cost=cost, elapsed=elapsed)


def retry_after_s(*, rate: Rate, previous: int, current: int, cost: int, elapsed: float) -> float:
    """When the estimate will have room for `cost`: within this window once
    the previous window's weight has fallen enough, else at the next one."""
    room = rate.count - current - cost
    if previous and room >= 0:
        # previous * (1 - e) <= room  <=>  e >= 1 - room / previous
        return max((1 - room / previous - elapsed) * rate.period_s, 1.0)
    return max(math.ceil((1 - elapsed) * rate.period_s), 1.0)


def give_back(scope: str, ident: str, rate: Rate, *, now: float, cost: int = 1) -> None:
    """Take back a hit that `hit(..., now=now)` counted: for a limit that
    reserves its count before it knows whether the attempt counts (failed
    log-ins), so parallel attempts cannot all pass before the first is counted."""
    key = f"ratelimit:{scope}:{ident}:{int(now // rate.period_s)}"
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing left to give back
        cache.decr(key, cost)


class RateLimited(Throttled):
    """A limit refused the request. A DRF Throttled, so the API answers it as
    DRF answers its own throttles: 429 with `Retry-After`; the pages catch it
    (config.pages) and show the message."""

    def __init__(self, *, wait_s: float, message: str):
        wait = math.ceil(wait_s)
        APIException.__init__(self, f"{message} Try again in {duration(wait)}.")
        self.wait = wait


def duration(seconds: int) -> str:
    """2 seconds, 15 minutes, 1 hour: the largest unit a person reads easily."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size or seconds == size:
            count = math.ceil(seconds / size)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def enforce(scope: str, ident: str, rate: Rate, *, message: str, cost: int = 1, now: float | None = None) -> None:
    """`hit`, raising RateLimited when refused."""
    wait = hit(scope, ident, rate, cost=cost, now=now)
    if wait is not None:
        raise RateLimited(wait_s=wait, message=message)


def client_ip(request) -> str:
    """The client's address as the last of NUM_PROXIES trusted proxies saw it
    (DRF's setting and its reading: REMOTE_ADDR when 0, else that entry of
    X-Forwarded-For counted from the right), so a client cannot pick its own
    by sending the header. An IPv6 client counts as its /64, which one host
    usually holds whole. Takes a Django or a DRF request."""
    address = BaseThrottle().get_ident(request) or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def writer(request) -> str:
    """Who a write counts against: the user, or the client's IP when anonymous."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


def write_wait(request) -> float | None:
    """Count one write against WRITE_RATE, one limit per writer for the API
    and the pages together. None when allowed, else the seconds to wait."""
    return hit("writes", writer(request), Rate.parse(settings.WRITE_RATE))


def write_check(request) -> None:
    """`write_wait`, raising RateLimited (for the pages)."""
    wait = write_wait(request)
    if wait is not None:
        raise RateLimited(wait_s=wait, message="You are writing too fast.")


def username_ident(username: str) -> str:
    """A bounded key for a username as typed (any length, any case)."""
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def rates_check(app_configs=None, **kwargs) -> list[checks.Error]:
    """A system check (registered by users.apps): every rate setting reads as
    a rate. They are parsed per request, so a malformed one would fail every
    request it limits; `migrate` and `check` refuse it first."""
    errors = []
    for name in RATE_SETTINGS:
        try:
            Rate.parse(getattr(settings, name))
        except ValueError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="ratelimit.E001"))
    return errors
