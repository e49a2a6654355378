"""The sandbox's own checks of request bodies, one plain function per operation.

Written from ``spec/hepsiglobal-api.md`` alone and deliberately apart from the client's payload
models (``connectors/hepsiglobal/models.py``), so that one misreading of the spec cannot hide
in both. Each ``check_<operation>(path_params, body)`` returns every problem found as a human
message, ``items[0].item_number: must be order_number + '_' + sku ('1001_HBV1'), got
'1001-HBV1'``; an empty list means the request is accepted.

The [doc] rules are enforced strictly; unknown extra fields are accepted everywhere. An
optional field holding ``null`` counts as absent, except where ``null`` has a documented
meaning (the exchange rate: HG applies its default rate).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

Errors = list[str]
Check = Callable[[dict[str, str], Any], Errors]

MONEY_FIELDS = (
    "order_amount",
    "unit_product_price",
    "total_amount_excl_vat",
    "total_amount",
    "vat_amount",
    "merchant_campaign_amount",
    "marketplace_campaign_amount",
    "total_discount_amount",
)
RATE_FIELDS = ("currency_rate", "exchange_rate")
DATETIME_EXAMPLE = "2024-07-13T16:01:26+00:00"
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


# --- how values are shown in messages -------------------------------------------------------


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type: string, number, boolean, null, object or array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _got(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"got {text!r}"
    if value is None or isinstance(value, bool):
        return f"got {json_type(value)} {'null' if value is None else str(value).lower()}"
    if isinstance(value, int | float):
        return f"got {value!r}"
    return f"got {json_type(value)}"


def not_an_object(body: Any) -> str:
    return f"body: must be a JSON object, got {json_type(body)}"


# --- field checks: each appends its messages to ``errs`` -------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(errs: Errors, obj: dict, key: str, at: str, *, required: bool = False) -> str | None:
    """A non-empty string (required, or when present); returns it when valid."""
    value = obj.get(key)
    if value is None:
        if required:
            errs.append(f"{at}{key}: required, a non-empty string")
        return None
    if not isinstance(value, str) or not value.strip():
        errs.append(f"{at}{key}: must be a non-empty string, {_got(value)}")
        return None
    return value


def _number(errs: Errors, obj: dict, key: str, at: str, *, required: bool = False, why: str = "") -> None:
    """A JSON number >= 0 (not a string, not a boolean)."""
    value = obj.get(key)
    if value is None:
        if required:
            errs.append(f"{at}{key}: a number >= 0 is required{why}")
        return
    if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
        errs.append(f"{at}{key}: must be a JSON number, {_got(value)}")
    elif value < 0:
        errs.append(f"{at}{key}: must be >= 0, {_got(value)}")


def _positive_int(errs: Errors, obj: dict, key: str, at: str) -> None:
    value = obj.get(key)
    if value is None:
        errs.append(f"{at}{key}: required, a positive integer")
    elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        errs.append(f"{at}{key}: must be a positive integer, {_got(value)}")


def _integer(errs: Errors, obj: dict, key: str, at: str) -> None:
    value = obj.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        errs.append(f"{at}{key}: must be an integer, {_got(value)}")


def is_datetime_with_offset(value: Any) -> bool:
    """``2024-07-13T16:01:26+00:00`` or ``...Z``: ISO 8601 with an offset from UTC."""
    if not isinstance(value, str) or not _DATETIME.fullmatch(value):
        return False
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _datetime(errs: Errors, obj: dict, key: str, at: str, *, required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            errs.append(f"{at}{key}: required, an ISO 8601 date-time like {DATETIME_EXAMPLE!r}")
    elif not is_datetime_with_offset(value):
        errs.append(
            f"{at}{key}: must be an ISO 8601 date-time with a UTC offset, like "
            f"{DATETIME_EXAMPLE!r}, {_got(value)}"
        )


def _usd(errs: Errors, obj: dict, key: str, at: str, *, required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            errs.append(f"{at}{key}: required, must be 'USD'")
    elif value != "USD":
        errs.append(f"{at}{key}: must be 'USD' (amounts are sent in USD), {_got(value)}")


def _original_currency(errs: Errors, obj: dict, at: str) -> str | None:
    """The ``original_currency`` code when present and valid, else None."""
    value = obj.get("original_currency")
    if value is None:
        return None
    if not isinstance(value, str) or not _CURRENCY_CODE.fullmatch(value):
        errs.append(f"{at}original_currency: must be an ISO 4217 code like 'EUR', {_got(value)}")
        return None
    return value


def _money(errs: Errors, obj: dict, at: str) -> None:
    for key in MONEY_FIELDS:
        _number(errs, obj, key, at)


def _item_of_order(errs: Errors, order_number: Any, item_number: Any, at: str) -> None:
    """``item_number`` must be ``<order_number>_<something>``."""
    if not isinstance(order_number, str) or not order_number or not isinstance(item_number, str):
        return
    prefix = order_number + "_"
    if not item_number.startswith(prefix) or item_number == prefix:
        errs.append(f"{at}: must be order_number + '_' + sku ({prefix + '...'!r}), {_got(item_number)}")


def _date_time_keys(body: dict) -> list[str]:
    """Fields named like a date-time: ``*_at``, ``*_date``, ``date``, ``datetime``."""
    return [k for k in body if k.endswith(("_at", "_date")) or k in ("date", "datetime", "timestamp")]


# --- one check per operation ------------------------------------------------------------------


def check_create_order(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    order_number = _string(errs, body, "order_number", "", required=True)
    _money(errs, body, "")
    _usd(errs, body, "currency", "", required=True)
    _datetime(errs, body, "order_date", "")
    original = _original_currency(errs, body, "")
    for key in RATE_FIELDS:
        rate = body.get(key)
        if rate is not None and (not _is_number(rate) or rate <= 0):
            errs.append(f"{key}: must be a number > 0, or null for HG's default rate, {_got(rate)}")
    if original and original != "USD":
        why = f" when original_currency is {original!r}"
        _number(errs, body, "original_order_amount", "", required=True, why=why)
        if not any(key in body for key in RATE_FIELDS):
            errs.append(
                f"currency_rate: required{why} (or exchange_rate); null lets HG apply its default rate"
            )
    else:
        _number(errs, body, "original_order_amount", "")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        errs.append(f"items: required, a non-empty array of order items, {_got(items)}")
        return errs
    for i, item in enumerate(items):
        _check_order_item(errs, item, f"items[{i}].", order_number, original)
    return errs


def _check_order_item(
    errs: Errors, item: Any, at: str, order_number: str | None, order_original: str | None
) -> None:
    if not isinstance(item, dict):
        errs.append(f"{at[:-1]}: must be an object, {_got(item)}")
        return
    sku = _string(errs, item, "sku", at, required=True)
    item_number = _string(errs, item, "item_number", at, required=True)
    if order_number and sku and item_number and item_number != f"{order_number}_{sku}":
        errs.append(
            f"{at}item_number: must be order_number + '_' + sku "
            f"({order_number + '_' + sku!r}), {_got(item_number)}"
        )
    _positive_int(errs, item, "quantity", at)
    _integer(errs, item, "company_id", at)
    _money(errs, item, at)
    _usd(errs, item, "currency", at)
    _datetime(errs, item, "esd", at)
    original = _original_currency(errs, item, at) or order_original
    if original and original != "USD":
        why = f" when original_currency is {original!r}"
        _number(errs, item, "original_total_amount", at, required=True, why=why)
    else:
        _number(errs, item, "original_total_amount", at)


def check_cancel_order_item(path_params: dict[str, str], body: Any) -> Errors:
    errs: Errors = []
    _item_of_order(
        errs,
        path_params.get("order_number"),
        path_params.get("order_item_number"),
        "path.order_item_number",
    )
    if not isinstance(body, dict):
        return [*errs, not_an_object(body)]
    _string(errs, body, "reason", "", required=True)
    return errs


def check_order_item_delivery(path_params: dict[str, str], body: Any) -> Errors:
    errs: Errors = []
    _item_of_order(
        errs,
        path_params.get("order_number"),
        path_params.get("order_item_number"),
        "path.order_item_number",
    )
    if not isinstance(body, dict):
        return [*errs, not_an_object(body)]
    for key in _date_time_keys(body):  # delivered_at, delivery_date, ...
        _datetime(errs, body, key, "")
    return errs


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not re.search(r"\s", value)


def _is_base64(value: str) -> bool:
    compact = re.sub(r"\s+", "", value)
    if not compact:
        return False
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_shipment_label(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    url, b64 = body.get("shipment_label_url"), body.get("shipment_label_base64")
    if url is None and b64 is None:
        errs.append("shipment_label_url: one of shipment_label_url or shipment_label_base64 is required")
    elif url is not None and b64 is not None:
        errs.append(
            "shipment_label_base64: give shipment_label_url or shipment_label_base64, not both "
            "(the other must be absent or null)"
        )
    if url is not None and (not isinstance(url, str) or not _is_http_url(url)):
        errs.append(f"shipment_label_url: must be an http(s) URL, {_got(url)}")
    if b64 is not None and (not isinstance(b64, str) or not _is_base64(b64)):
        errs.append(f"shipment_label_base64: must be non-empty valid base64, {_got(b64)}")
    _string(errs, body, "tracking_number", "", required=True)
    return errs


def check_shipment_status(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _string(errs, body, "status", "", required=True)
    for key in _date_time_keys(body):
        _datetime(errs, body, key, "")
    return errs


def check_no_body(path_params: dict[str, str], body: Any) -> Errors:
    """GET operations: nothing to check."""
    return []


check_tracking_by_barcode = check_tracking_by_shipment_id = check_no_body


def check_create_refund(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _string(errs, body, "refund_number", "", required=True)
    order_number = _string(errs, body, "order_number", "", required=True)
    _datetime(errs, body, "refund_date", "", required=True)
    items = body.get("items")
    if not isinstance(items, list) or not items:
        errs.append(f"items: required, a non-empty array of refunded items, {_got(items)}")
        return errs
    for i, item in enumerate(items):
        at = f"items[{i}]."
        if not isinstance(item, dict):
            errs.append(f"items[{i}]: must be an object, {_got(item)}")
            continue
        item_number = _string(errs, item, "order_item_number", at, required=True)
        _item_of_order(errs, order_number, item_number, f"{at}order_item_number")
        _positive_int(errs, item, "quantity", at)
        _number(errs, item, "amount", at)
        _usd(errs, item, "currency", at)
    return errs


def check_product_status(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _string(errs, body, "sku", "", required=True)
    _string(errs, body, "status", "", required=True)
    return errs
