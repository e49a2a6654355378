"""The sandbox's checks of a Create Order body (``POST /v1/orders``), from the spec alone.

Amounts are JSON numbers in USD with at most 2 decimals; a sale in another currency needs the
``original_*`` amounts and a rate (null: HG's default rate); each line has its own item number.
The typed fields of HG's example (strings, integers, objects) must have their example's type.
"""

from __future__ import annotations

from typing import Any

from connectors.hepsiglobal.sandbox.rules import (
    RATE_FIELDS,
    Errors,
    _datetime,
    _got,
    _integer,
    _is_number,
    _money,
    _number,
    _object,
    _original_currency,
    _positive_int,
    _string,
    _texts,
    _usd,
    not_an_object,
)

CUSTOMER_FIELDS = ("name", "phone", "email")
ADDRESS_FIELDS = (
    "name",
    "phone",
    "country_code",
    "city",
    "district",
    "address_line1",
    "address_line2",
    "postal_code",
)


def check_create_order(path_params: dict[str, str], body: Any) -> Errors:
    if not isinstance(body, dict):
        return [not_an_object(body)]
    errs: Errors = []
    _string(errs, body, "order_number", "", required=True)
    _texts(errs, body, ("marketplace", "delivery_point_code"), "")
    _integer(errs, body, "shipping_type", "")
    _number(errs, body, "order_amount", "", required=True)
    _money(errs, body, "")
    _usd(errs, body, "currency", "", required=True)
    _datetime(errs, body, "order_date", "", required=True)
    customer = _object(errs, body, "customer", "")
    if customer is not None:
        _texts(errs, customer, CUSTOMER_FIELDS, "customer.")
    for key in ("shipping_address", "billing_address"):
        address = _object(errs, body, key, "")
        if address is not None:
            _texts(errs, address, ADDRESS_FIELDS, f"{key}.")
    original = _original_currency(errs, body, "")
    for key in RATE_FIELDS:
        rate = body.get(key)
        if rate is not None and (not _is_number(rate) or rate <= 0):
            errs.append(f"{key}: must be a number > 0, or null for HG's default rate, {_got(rate)}")
    rates = [body.get(key) for key in RATE_FIELDS]
    if None not in rates and all(_is_number(r) for r in rates) and rates[0] != rates[1]:
        errs.append(f"exchange_rate: {rates[1]!r} differs from currency_rate {rates[0]!r}; send one rate")
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
    numbers: dict[str, int] = {}
    for i, item in enumerate(items):
        _check_order_item(errs, item, f"items[{i}].", original)
        number = item.get("item_number") if isinstance(item, dict) else None
        if isinstance(number, str) and numbers.setdefault(number, i) != i:
            errs.append(f"items[{i}].item_number: {number!r} is already items[{numbers[number]}]'s")
    return errs


def _check_order_item(errs: Errors, item: Any, at: str, order_original: str | None) -> None:
    if not isinstance(item, dict):
        errs.append(f"{at[:-1]}: must be an object, {_got(item)}")
        return
    _string(errs, item, "sku", at, required=True)
    _string(errs, item, "item_number", at, required=True)
    _string(errs, item, "spu", at)
    _texts(errs, item, ("product_name",), at)
    _positive_int(errs, item, "quantity", at)
    _integer(errs, item, "company_id", at)
    _number(errs, item, "unit_product_price", at, required=True)
    _number(errs, item, "total_amount", at, required=True)
    _money(errs, item, at)
    _usd(errs, item, "currency", at)
    _datetime(errs, item, "esd", at)
    _object(errs, item, "campaign", at)
    original = _original_currency(errs, item, at) or order_original
    if original and original != "USD":
        why = f" when original_currency is {original!r}"
        _number(errs, item, "original_total_amount", at, required=True, why=why)
    else:
        _number(errs, item, "original_total_amount", at)
