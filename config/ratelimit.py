"""Rate limits that hold under concurrency, shared by the API and the pages.

One atomic counter per key and fixed window in the cache (with Redis, a
`SET NX` then an `INCRBY`), weighted with the previous window's count: the
sliding-window estimate, so a burst across a window boundary cannot take
twice the limit. Each hit increments before it compares, so concurrent
requests see distinct counts and at most `count` pass in a window; a refused
hit gives its increment back.

A cache outage (Redis down: django-redis then returns None) lets requests
through: throttling degrades, the product does not.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

PERIODS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    period_s: int

    @classmethod
    def parse(cls, rate: str) -> "Rate":
        """ "600/min", "10/s", "1000/day": DRF's notation, read as DRF reads it."""
        count, period = rate.split("/")
        return cls(int(count), PERIODS_S[period[0]])


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
