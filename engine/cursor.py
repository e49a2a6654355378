"""Incremental reads: the saved cursor of a pipeline, stored as text, and its look-back.

A pipeline whose source names a cursor column reads only rows whose cursor is at or past
the saved one minus the look-back window, so rows committed late (with a cursor value a
little in the past) are not missed. Re-reading rows is harmless: diffing drops what was
delivered. The new cursor is saved only after the run recorded every outcome, and never
past a row whose request failed for a reason worth retrying, so that row is read again.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lookback(value: str | int | float | None) -> timedelta | Decimal:
    """``"5m"`` → a timedelta (for date-time cursors); a number → that many units (for ids)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise ValueError("lookback must be a duration like 5m or a number")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("lookback must not be negative")
        return Decimal(str(value))
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"lookback {value!r} is not a duration like 30s, 5m, 2h, 1d or a number")
    return timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2)])


def encode(value: Any) -> str:
    """A cursor value as JSON text that keeps its type."""
    if isinstance(value, datetime):
        return json.dumps({"datetime": value.isoformat()})
    if isinstance(value, date):
        return json.dumps({"date": value.isoformat()})
    if isinstance(value, Decimal):
        return json.dumps({"decimal": str(value)})
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a cursor column must hold numbers, text or date-times, not {type(value).__name__}")
    return json.dumps(value)


def decode(text: str) -> Any:
    value = json.loads(text)
    if isinstance(value, dict):
        ((kind, raw),) = value.items()
        return {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "decimal": Decimal}[kind](raw)
    return value


def _parse_text_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def rewind(value: Any, lookback: timedelta | Decimal) -> Any:
    """``value`` minus the look-back, in ``value``'s own type (text date-times stay text)."""
    if isinstance(lookback, timedelta):
        if not lookback:
            return value
        if isinstance(value, datetime | date):
            return value - lookback
        if isinstance(value, str) and (moment := _parse_text_datetime(value)) is not None:
            separator = "T" if "T" in value else " "
            return (moment - lookback).isoformat(sep=separator)
        raise ValueError(f"a duration look-back needs a date-time cursor, and the saved cursor is {value!r}")
    if not lookback:
        return value
    if isinstance(value, int) and lookback == lookback.to_integral_value():
        return value - int(lookback)
    if isinstance(value, int | float):
        return type(value)(Decimal(str(value)) - lookback)
    if isinstance(value, Decimal):
        return value - lookback
    raise ValueError(f"a numeric look-back needs a numeric cursor, and the saved cursor is {value!r}")
