"""Field types shared by the HepsiGlobal payload models: money, date-times, codes, rule errors.

The documented conventions (``spec/hepsiglobal-api.md``) are strict: money is a JSON number
(never a string, never a boolean), date-times are ISO 8601 strings *with* an offset, the
currency of amounts sent to HG is USD. The types here encode those once; the models in
:mod:`connectors.hepsiglobal.models` and :mod:`connectors.hepsiglobal.order_models` use them.

Cross-field rules (the USD rule, one ``item_number`` per line of an order) are checked in
model validators that report each problem at the field it concerns, through
:func:`raise_problems`, so that ``Operation.validate`` can print ``items[0].item_number: ...``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

DATETIME_EXAMPLE = "2024-07-13T16:01:26+00:00"
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
MONEY_PLACES = 2


def _json_number(value: Any) -> Any:
    """Accept int, float and Decimal; refuse strings and booleans (they would pass as numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        kind = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
        if isinstance(value, str):
            kind = "a string"
        elif value is None:
            kind = "null"
        raise PydanticCustomError("json_number", "must be a JSON number, not {kind}", {"kind": kind})
    if not math.isfinite(value):
        raise PydanticCustomError("json_number", "must be a finite number")
    return value


def decimal_places(value: int | float | Decimal) -> int:
    """How many decimals a finite number has as written (``1.50`` has 1, ``184.70000000000002`` 14)."""
    _, digits, exponent = (value if isinstance(value, Decimal) else Decimal(repr(value))).as_tuple()
    if not isinstance(exponent, int):
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing) if len(digits) > trailing else 0


def _cents(value: Any) -> Any:
    """At most 2 decimals: float noise such as ``184.70000000000002`` is not an amount."""
    if decimal_places(value) > MONEY_PLACES:
        raise PydanticCustomError(
            "money_places",
            "{value} has more than {places} decimals",
            {"value": repr(value) if isinstance(value, float) else str(value), "places": MONEY_PLACES},
        )
    return value


def _datetime_with_offset(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "datetime_offset",
            "must be an ISO 8601 date-time string, e.g. {example}",
            {"example": DATETIME_EXAMPLE},
        )
    match = _ISO_DATETIME.match(value)
    if not match:
        raise PydanticCustomError(
            "datetime_offset",
            "'{value}' is not an ISO 8601 date-time like {example}",
            {"value": value[:40], "example": DATETIME_EXAMPLE},
        )
    if not match.group("offset"):
        raise PydanticCustomError(
            "datetime_offset",
            "'{value}' has no UTC offset; write it like {example}",
            {"value": value[:40], "example": DATETIME_EXAMPLE},
        )
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "datetime_offset",
            "'{value}' is not a real date-time: {reason}",
            {"value": value, "reason": str(exc)},
        ) from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _currency_code(value: str) -> str:
    if not _CURRENCY_CODE.match(value):
        raise PydanticCustomError("currency_code", "must be an ISO 4217 code like 'EUR'")
    return value


Money = Annotated[float, Field(ge=0), BeforeValidator(_cents), BeforeValidator(_json_number)]
"""An amount: a JSON number (int, float or Decimal; not a string or bool), 0 or more, with at
most 2 decimals."""

PositiveNumber = Annotated[float, Field(gt=0), BeforeValidator(_json_number)]
"""A JSON number above 0 (an exchange rate)."""

DateTimeWithOffset = Annotated[
    str,
    BeforeValidator(_datetime_with_offset),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [DATETIME_EXAMPLE]}),
]
"""An ISO 8601 date-time string with an offset: ``2024-07-13T16:01:26+00:00`` (or ``...Z``)."""

NonEmptyStr = Annotated[StrictStr, AfterValidator(_not_blank)]
"""A string with something in it other than spaces."""

PositiveInt = Annotated[StrictInt, Field(gt=0)]
"""An integer above 0; booleans and floats are refused."""

CurrencyCode = Annotated[StrictStr, AfterValidator(_currency_code)]
"""A three-letter upper-case ISO 4217 code."""

Usd = Literal["USD"]
"""Amounts sent to HG are in USD [doc]."""

JsonNumber = Annotated[float, BeforeValidator(_json_number)]
"""Any finite JSON number (not a string, not a boolean)."""

FIELD_TYPES: dict[str, Any] = {
    "text": NonEmptyStr,
    "integer": StrictInt,
    "number": JsonNumber,
    "money": Money,
    "datetime": DateTimeWithOffset,
    "boolean": StrictBool,
}
"""The types config may give a field it adds or corrects (``targets.<t>.operations.<op>.types``)."""


def problem(loc: tuple[str | int, ...], message: str, value: Any = None) -> InitErrorDetails:
    """One rule violation at ``loc`` (relative to the model that checks it)."""
    return InitErrorDetails(
        type=PydanticCustomError("rule", message),
        loc=loc,
        input=value,  # type: ignore[typeddict-item]
    )


def raise_problems(title: str, problems: list[InitErrorDetails]) -> None:
    """Raise every problem at once, each at its own field (pydantic keeps their locations)."""
    if problems:
        raise ValidationError.from_exception_data(title, problems)
