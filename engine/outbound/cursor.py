"""Incremental reads: the saved cursor of a pipeline, stored as text, and its look-back.

A pipeline whose source names a cursor column reads only rows whose cursor is at or past
the saved one minus the look-back window, so rows committed late (with a cursor value a
little in the past) are not missed. Re-reading rows is harmless: diffing drops what was
delivered. The new cursor is saved only after the run recorded every outcome, and never
past a row whose request failed for a reason worth retrying, so that row is read again.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


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
