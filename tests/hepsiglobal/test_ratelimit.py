"""The token-bucket limiter, on virtual time."""

from __future__ import annotations

import asyncio

import pytest

from connectors.hepsiglobal.ratelimit import RateLimiter


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("rate", "count"), [(20.0, 100), (2.0, 10), (0.5, 4)])
def test_sequential_acquires_take_count_over_rate(rate: float, count: int) -> None:
    vt = VirtualTime()
    limiter = RateLimiter(rate, clock=vt.clock, sleep=vt.sleep)

    async def main() -> None:
        for _ in range(count):
            await limiter.acquire()

    asyncio.run(main())
    # the first goes at once, then one every 1/rate seconds
    assert vt.now == pytest.approx((count - 1) / rate)


def test_burst_goes_at_once_then_paces() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(10.0, burst=5, clock=vt.clock, sleep=vt.sleep)

    async def main() -> None:
        for _ in range(15):
            await limiter.acquire()

    asyncio.run(main())
    assert vt.waits[:1] == [pytest.approx(0.1)]  # five free, the sixth waits
    assert len(vt.waits) == 10
    assert vt.now == pytest.approx(1.0)


def test_concurrent_waiters_are_served_in_call_order() -> None:
    """Many waiters at once: each reserves its own slot, first come first served."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)  # the clock stands still: every waiter asks at t=0

    limiter = RateLimiter(4.0, clock=lambda: 0.0, sleep=record)

    async def main() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(9)))

    asyncio.run(main())
    assert waits == pytest.approx([0.25 * k for k in range(1, 9)])  # in call order, evenly spaced


def test_none_is_unlimited() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(None, clock=vt.clock, sleep=vt.sleep)

    async def main() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(1000)))

    asyncio.run(main())
    assert vt.waits == []
    assert vt.now == 0.0


def test_idle_time_is_not_banked_beyond_the_burst() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(1.0, burst=2, clock=vt.clock, sleep=vt.sleep)

    async def main() -> None:
        vt.now = 1000.0  # a long idle period
        for _ in range(4):
            await limiter.acquire()

    asyncio.run(main())
    assert vt.waits == [pytest.approx(1.0), pytest.approx(1.0)]


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1.0, None), (1.0, 0)])
def test_bad_arguments(rate: float, burst: int | None) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)
