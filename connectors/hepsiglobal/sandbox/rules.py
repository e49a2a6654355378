"""The sandbox's own checks of request bodies, one plain function per operation.

Written from ``spec/hepsiglobal-api.md`` alone and deliberately apart from the client's payload
models (``connectors/hepsiglobal/models.py``), so that one misreading of the spec cannot hide
in both. Each ``check_<operation>(path_params, body)`` returns every problem found as a human
message, ``items[0].quantity: must be a positive integer, got '2'``; an empty list means the
request is accepted. Create Order's checks are in :mod:`.order_rules`.

The [doc] rules are enforced strictly; unknown extra fields are accepted everywhere. An
optional field holding ``null`` counts as absent, except where ``null`` has a documented
meaning (the exchange rate: HG applies its default rate). What HG's examples do without a rule
(an item number ``<order_number>_<sku>``) is never a rejection: :func:`advice` returns it as a
warning, which the sandbox puts in its answer.
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
    "base_price",
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
    """An amount: a JSON number >= 0 (not a string, not a boolean) with at most 2 decimals."""
    value = obj.get(key)
    if value is None:
        if required:
            errs.append(f"{at}{key}: a number >= 0 is required{why}")
        return
    if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
        errs.append(f"{at}{key}: must be a JSON number, {_got(value)}")
    elif value < 0:
        errs.append(f"{at}{key}: must be >= 0, {_got(value)}")
    elif isinstance(value, float) and not re.fullmatch(r"-?\d+(\.\d{1,2})?(e\+?\d+)?", repr(value)):
        errs.append(f"{at}{key}: an amount has at most 2 decimals, {_got(value)}")


def _text(errs: Errors, obj: dict, key: str, at: str) -> None:
    """A string when present (empty text allowed)."""
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        errs.append(f"{at}{key}: must be a string, {_got(value)}")


def _texts(errs: Errors, obj: dict, keys: tuple[str, ...], at: str) -> None:
    for key in keys:
        _text(errs, obj, key, at)


def _object(errs: Errors, obj: dict, key: str, at: str) -> dict | None:
    """A JSON object when present; returns it when it is one."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        errs.append(f"{at}{key}: must be an object, {_got(value)}")
        return None
    return value


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


def _date_time_keys(body: dict) -> list[str]:
    """Fields named like a date-time: ``*_at``, ``*_date``, ``date``, ``datetime``."""
    return [k for k in body if k.endswith(("_at", "_date")) or k in ("date", "datetime", "timestamp")]


# --- one check per operation ------------------------------------------------------------------


def check_cancel_order_item(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _string(errs, body, "reason", "", required=True)
    return errs


def check_order_item_delivery(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _datetime(errs, body, "delivered_at", "", required=True)
    for key in _date_time_keys(body):  # delivery_date, ...: an extra date-time still has an offset
        if key != "delivered_at":
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
    if url is None and b64 is None:  # both at once is allowed: the docs do not forbid it
        errs.append("shipment_label_url: one of shipment_label_url or shipment_label_base64 is required")
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
    _string(errs, body, "order_number", "", required=True)
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
        _string(errs, item, "order_item_number", at, required=True)
        _positive_int(errs, item, "quantity", at)
        _string(errs, item, "reason", at, required=True)
        _number(errs, item, "amount", at, required=True)
        _usd(errs, item, "currency", at)
        _text(errs, item, "customer_explanation", at)
    return errs


def check_product_status(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _string(errs, body, "sku", "", required=True)
    _string(errs, body, "status", "", required=True)
    return errs


# --- warnings: what the examples do, without a rule -------------------------------------------


def _convention(order_number: Any, item_number: Any, at: str, sku: Any = None) -> Errors:
    if not isinstance(order_number, str) or not order_number or not isinstance(item_number, str):
        return []
    if isinstance(sku, str) and sku:
        wanted, fits = f"{order_number}_{sku}", item_number == f"{order_number}_{sku}"
    else:
        wanted, fits = f"{order_number}_<sku>", item_number.startswith(order_number + "_")
    return [] if fits else [f"{at}: {item_number!r} is not {wanted!r} as in HG's examples (accepted)"]


def advice(operation: str, path_params: dict[str, str], body: Any) -> Errors:
    """Warnings about an accepted request that departs from HG's examples."""
    found = _convention(
        path_params.get("order_number"), path_params.get("order_item_number"), "path.order_item_number"
    )
    items = body.get("items") if isinstance(body, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and operation == "create_order":
            at = f"items[{i}].item_number"
            found += _convention(body.get("order_number"), item.get("item_number"), at, item.get("sku"))
        elif isinstance(item, dict) and operation == "create_refund":
            at = f"items[{i}].order_item_number"
            found += _convention(body.get("order_number"), item.get("order_item_number"), at)
    return found
