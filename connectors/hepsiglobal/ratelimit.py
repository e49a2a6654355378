"""An asyncio rate limiter: at most ``rate`` requests a second, ``burst`` of them back to back.

A token bucket written as GCRA (the "virtual scheduling" form): each :meth:`acquire`
reserves the next free slot *synchronously*, before it awaits anything, so waiters are
served in the order they called, however many there are (FIFO, no thundering herd, no
lock). The clock and sleep are injectable so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """``await limiter.acquire()`` before each request; ``rate_per_second=None`` is no limit."""

    def __init__(
        self,
        rate_per_second: float | None,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("rate_per_second must be above 0, or None for no limit")
        if burst is not None and burst < 1:
            raise ValueError("burst must be 1 or more")
        self.rate = rate_per_second
        self.burst = burst or 1
        self._clock = clock
        self._sleep = sleep
        self._interval = 1.0 / rate_per_second if rate_per_second else 0.0
        self._tolerance = (self.burst - 1) * self._interval
        self._next: float | None = None  # theoretical arrival time of the next request

    def reserve(self) -> float:
        """Take the next slot now; return how many seconds to wait before using it."""
        if self.rate is None:
            return 0.0
        now = self._clock()
        scheduled = now if self._next is None else max(self._next, now)
        self._next = scheduled + self._interval
        return max(0.0, scheduled - self._tolerance - now)

    async def acquire(self) -> None:
        """Wait until this caller may send one request."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)

    def __repr__(self) -> str:
        rate = "unlimited" if self.rate is None else f"{self.rate:g}/s, burst {self.burst}"
        return f"RateLimiter({rate})"
