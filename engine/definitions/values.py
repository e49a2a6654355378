"""Parsers of the values config and pipeline files write as text: intervals, look-backs, rates.

Each raises ``ValueError`` with a message an operator can act on; the models that use them
turn it into a ``file:line:col`` problem.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

_EVERY = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
MAX_INTERVAL = 366 * 86400  # seconds; a longer schedule or look-back is a mistake, and past
# what a timer or a date can hold when large enough (99999999999999999999d)
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(value: str | float | int | None) -> float | None:
    """``"20/s"``, ``"600/m"``, ``"1000/h"`` or a number of requests a second; None: no limit."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a rate limit must be above 0")
        return float(value)
    match = _RATE.match(str(value))
    if not match:
        raise ValueError(f"rate limit {value!r} is not like '20/s', '600/m' or '1000/h'")
    count, unit = float(match.group(1)), match.group(2)
    if count <= 0:
        raise ValueError("a rate limit must be above 0")
    return count / _PER[unit]


def parse_every(value: str | int) -> int:
    """``30s``, ``5m``, ``1h``, ``1d`` (or a number of seconds) → seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        match = _EVERY.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not an interval like 30s, 5m, 1h or 1d")
        seconds = int(match.group(1)) * _SECONDS[match.group(2)]
    if seconds < 1:
        raise ValueError("an interval must be at least 1s")
    if seconds > MAX_INTERVAL:
        raise ValueError(f"{value!r} is longer than a year (366d); schedule it with cron instead")
    return seconds


def parse_lookback(value: str | int | float | None) -> timedelta | Decimal:
    """``"5m"`` → a timedelta (for date-time cursors); a number → that many units (for ids)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise ValueError("lookback must be a duration like 5m or a number")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("lookback must not be negative")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("lookback must be a finite number")
        return Decimal(str(value))
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"lookback {value!r} is not a duration like 30s, 5m, 2h, 1d or a number")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds > MAX_INTERVAL:
        raise ValueError(f"lookback {value!r} is longer than a year (366d)")
    return timedelta(seconds=seconds)
