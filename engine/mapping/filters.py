"""Jinja filters an operator needs to map marketplace rows onto HG requests.

Each raises ``ValueError`` with a plain message on bad input; the renderer turns that into a
row error naming the row.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def to_decimal(value: Any) -> Decimal:
    """A number from an int, float, Decimal or numeric text (``"1,234.5"`` is not accepted)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__} {value!r}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def money(value: Any, places: int = 2) -> Decimal:
    """Round an amount to ``places`` decimals, halves away from zero: ``24.975 | money`` → 24.98."""
    return to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def usd(value: Any, rate: Any, places: int = 2) -> Decimal:
    """Convert an amount in another currency to USD with ``rate`` (original / rate, as HG's
    example 24.97 EUR / 1.05 = 23.78 USD), rounded to ``places`` decimals."""
    divisor = to_decimal(rate)
    if divisor <= 0:
        raise ValueError(f"an exchange rate must be above 0, got {rate!r}")
    return money(to_decimal(value) / divisor, places)


def convert(value: Any, rate: Any, places: int = 2) -> Decimal:
    """Multiply an amount by ``rate`` and round: for rates quoted the other way round."""
    return money(to_decimal(value) * to_decimal(rate), places)


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"expected a date-time like 2024-07-13 16:01:26, got {value!r}")


def iso8601(value: Any, tz: str = "UTC") -> str:
    """A database or CSV date-time as ISO 8601 with offset: ``2024-07-13T16:01:26+00:00``.

    Values without an offset are taken to be in ``tz`` (UTC unless given); fractions of a
    second are dropped, as in HG's examples.
    """
    moment = _parse_datetime(value)
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
    return moment.replace(microsecond=0).isoformat()


def from_json(value: Any) -> Any:
    """Parse JSON text, e.g. a column built with json_group_array or json_agg."""
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str | bytes):
        raise ValueError(f"expected JSON text, got {type(value).__name__}")
    try:
        return json.loads(value, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


def to_int(value: Any) -> int:
    """An integer from an int, an integral number or integral text: ``"3"`` → 3, ``"3.5"`` fails."""
    number = to_decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def require(value: Any, what: str = "value") -> Any:
    """Fail the row when ``value`` is empty: ``row.sku | require('sku')``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{what} is empty")
    return value


FILTERS = {
    "money": money,
    "usd": usd,
    "convert": convert,
    "iso8601": iso8601,
    "from_json": from_json,
    "to_int": to_int,
    "decimal": to_decimal,
    "require": require,
}
