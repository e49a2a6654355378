"""The payload models: each documented rule, as a table of bodies and the field they blame."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from connectors.hepsiglobal import examples
from connectors.hepsiglobal.catalog import CATALOG


def problems(operation: str, body: object) -> list[str]:
    return CATALOG[operation].validate(body)


def edit(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted paths set (``items.0.sku``); the value DROP removes it."""
    body = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is DROP:
            del target[key]
        else:
            target[key] = value
    return body


DROP = object()
ORDER = examples.CREATE_ORDER
USD_ORDER = edit(
    ORDER,
    {
        "original_currency": DROP,
        "original_order_amount": DROP,
        "currency_rate": DROP,
        "items.0.original_currency": DROP,
        "items.0.original_total_amount": DROP,
    },
)

VALID = [
    ("create_order", ORDER, "the documentation's EUR example"),
    ("create_order", USD_ORDER, "a USD sale needs no original_* fields or rate"),
    ("create_order", edit(ORDER, {"currency_rate": None}), "null rate: HG applies its default"),
    (
        "create_order",
        edit(ORDER, {"currency_rate": DROP, "exchange_rate": 1.05}),
        "exchange_rate is accepted for currency_rate",
    ),
    ("create_order", edit(ORDER, {"original_currency": "USD", "currency_rate": DROP}), "USD original"),
    ("create_order", edit(ORDER, {"order_amount": Decimal("23.78")}), "Decimal from SQL"),
    ("create_order", edit(ORDER, {"order_amount": 23}), "an int amount"),
    ("create_order", edit(ORDER, {"gift_note": "hi", "items.0.colour": "red"}), "extras pass"),
    ("create_order", edit(ORDER, {"order_date": "2024-07-13T16:01:26Z"}), "Z offset"),
    ("create_order", edit(ORDER, {"customer.tax_id": "123"}), "customer extras"),
    ("cancel_order_item", {"reason": "anything_at_all"}, "any non-empty reason"),
    ("order_item_delivery", {"delivered_at": "2024-07-20T11:30:00+03:00", "by": "x"}, "extras"),
    ("shipment_label", {"shipment_label_base64": "JVBERi0xLjQK", "tracking_number": "T1"}, "b64"),
    (
        "shipment_label",
        {"shipment_label_url": None, "shipment_label_base64": "JVBER\ni0xLjQK", "tracking_number": "T"},
        "base64 with a line break",
    ),
    ("shipment_status", {"status": "DELIVERED"}, "status_date optional"),
    ("product_status", {"sku": "HBV1", "status": "DISABLED", "reason": "x"}, "extras"),
    ("create_refund", edit(examples.CREATE_REFUND, {"items.0.currency": DROP}), "currency optional"),
]


@pytest.mark.parametrize(("operation", "body", "why"), VALID, ids=[v[2] for v in VALID])
def test_valid_bodies(operation: str, body: dict[str, Any], why: str) -> None:
    assert problems(operation, body) == []


INVALID = [
    # Create Order: money is a JSON number >= 0, in USD
    ("create_order", {"order_amount": "23.78"}, "order_amount: must be a JSON number, not a string"),
    ("create_order", {"order_amount": True}, "order_amount: must be a JSON number, not a boolean"),
    ("create_order", {"order_amount": -1}, "order_amount: Input should be greater than or equal to 0"),
    ("create_order", {"items.0.unit_product_price": "1"}, "items[0].unit_product_price: must be"),
    ("create_order", {"items.0.vat_amount": [3.96]}, "items[0].vat_amount: must be a JSON"),
    ("create_order", {"currency": "EUR"}, "currency: Input should be 'USD'"),
    ("create_order", {"currency": DROP}, "currency: required"),
    ("create_order", {"items.0.currency": "EUR"}, "items[0].currency: Input should be 'USD'"),
    # the USD rule: original_* amounts and a rate when the sale was not in USD
    ("create_order", {"original_order_amount": DROP}, "original_order_amount: required when"),
    ("create_order", {"currency_rate": DROP}, "currency_rate: required when original_currency is EUR"),
    ("create_order", {"currency_rate": 0}, "currency_rate: Input should be greater than 0"),
    ("create_order", {"currency_rate": "1.05"}, "currency_rate: must be a JSON number"),
    ("create_order", {"exchange_rate": 1.1}, "exchange_rate: differs from currency_rate"),
    ("create_order", {"items.0.original_total_amount": DROP}, "items[0].original_total_amount: req"),
    ("create_order", {"original_currency": "euro"}, "original_currency: must be an ISO 4217 code"),
    # amounts have cents, not float noise
    ("create_order", {"order_amount": 184.70000000000002}, "order_amount: 184.70000000000002 has more"),
    ("create_order", {"items.0.total_amount": Decimal("1.005")}, "items[0].total_amount: 1.005 has more"),
    ("create_order", {"items": []}, "items: List should have at least 1 item"),
    ("create_order", {"items.0.quantity": 0}, "items[0].quantity: Input should be greater than 0"),
    ("create_order", {"items.0.quantity": True}, "items[0].quantity: Input should be a valid integer"),
    ("create_order", {"items.0.quantity": 1.0}, "items[0].quantity: Input should be a valid integer"),
    ("create_order", {"items.0.company_id": "12345"}, "items[0].company_id: Input should be a valid"),
    ("create_order", {"order_number": 1001}, "order_number: Input should be a valid string"),
    ("create_order", {"shipping_type": "1"}, "shipping_type: Input should be a valid integer"),
    # date-times carry an offset
    ("create_order", {"order_date": "2024-07-13T16:01:26"}, "order_date: '2024-07-13T16:01:26' has no"),
    ("create_order", {"order_date": "2024-07-13 16:01:26+00:00"}, "order_date: '2024-07-13 16:01:26"),
    ("create_order", {"order_date": "2024-02-30T00:00:00Z"}, "order_date: '2024-02-30T00:00:00Z' is not a"),
    ("create_order", {"items.0.esd": "2024-07-15"}, "items[0].esd: '2024-07-15' is not an ISO 8601"),
    ("create_order", {"order_date": 1720886486}, "order_date: must be an ISO 8601 date-time string"),
    # cancel, delivery, status
    ("cancel_order_item", {"reason": ""}, "reason: must not be empty"),
    ("cancel_order_item", {"reason": "  "}, "reason: must not be empty"),
    ("cancel_order_item", {}, "reason: required"),
    (
        "order_item_delivery",
        {"delivered_at": "2024-07-20T11:30:00"},
        "delivered_at: '2024-07-20T11:30:00' has no",
    ),
    ("shipment_status", {"status": "X", "status_date": "yesterday"}, "status_date: 'yesterday' is not"),
    ("product_status", {"sku": "", "status": "ENABLED"}, "sku: must not be empty"),
    # shipment label: at least one of URL and base64
    ("shipment_label", {"tracking_number": "T1"}, "shipment_label_base64: required when shipment_label_url"),
    (
        "shipment_label",
        {"shipment_label_base64": "not base64!", "tracking_number": "T"},
        "shipment_label_base64: is not valid base64",
    ),
    (
        "shipment_label",
        {"shipment_label_url": "ftp://x.test/l", "tracking_number": "T"},
        "shipment_label_url: must be an http",
    ),
    ("shipment_label", {"shipment_label_url": "https://x.test/l"}, "tracking_number: required"),
    # refunds
    ("create_refund", {"items.0.reason": DROP}, "items[0].reason: required"),
    ("create_refund", {"items.0.amount": "23.78"}, "items[0].amount: must be a JSON number"),
    ("create_refund", {"items.0.currency": "TRY"}, "items[0].currency: Input should be 'USD'"),
    ("create_refund", {"refund_date": "2024-07-25"}, "refund_date: '2024-07-25' is not an ISO 8601"),
    ("create_refund", {"items": []}, "items: List should have at least 1 item"),
]
BASES = {
    "create_order": ORDER,
    "create_refund": examples.CREATE_REFUND,
    "shipment_label": {},
    "cancel_order_item": {},
    "order_item_delivery": {},
    "shipment_status": {},
    "product_status": {},
}


@pytest.mark.parametrize(("operation", "changes", "expected"), INVALID, ids=[i[2][:50] for i in INVALID])
def test_invalid_bodies_name_the_field(operation: str, changes: dict[str, Any], expected: str) -> None:
    found = problems(operation, edit(BASES[operation], changes))
    assert any(line.startswith(expected) for line in found), found


def test_every_cross_field_problem_is_reported_at_once() -> None:
    body = edit(
        ORDER,
        {"original_order_amount": DROP, "currency_rate": DROP, "items.0.original_total_amount": DROP},
    )
    found = problems("create_order", body)
    assert [line.split(":")[0] for line in found] == [
        "original_order_amount",
        "currency_rate",
        "items[0].original_total_amount",
    ]


def test_an_item_number_repeated_in_one_order_is_refused() -> None:
    second = dict(ORDER["items"][0], sku="HBV2")
    third = dict(ORDER["items"][0], sku="HBV3", item_number="1001_HBV3")
    found = problems("create_order", edit(ORDER, {"items": [ORDER["items"][0], second, third]}))
    assert found == [
        "items[1].item_number: '1001_HBV00000ABCD1' is already the number of items[0]; each line of an "
        "order needs its own (merge the lines, or number them apart)"
    ]


def test_an_item_number_off_the_examples_form_is_a_warning_not_a_problem() -> None:
    body = edit(ORDER, {"items.0.item_number": "1001-HBV00000ABCD1"})
    assert problems("create_order", body) == []
    assert CATALOG["create_order"].advice({}, body) == [
        "items[0].item_number: '1001-HBV00000ABCD1' is not '1001_HBV00000ABCD1', the "
        "<order_number>_<sku> form of HG's examples (a convention, not a rule: it is sent as it is)"
    ]
    assert CATALOG["create_order"].advice({}, ORDER) == []
    refund = edit(examples.CREATE_REFUND, {"items.0.order_item_number": "oi1"})
    assert problems("create_refund", refund) == []
    assert [w.split(":")[0] for w in CATALOG["create_refund"].advice({}, refund)] == [
        "items[0].order_item_number"
    ]
    cancel = CATALOG["cancel_order_item"].advice({"order_number": "1", "order_item_number": "2_X"}, {})
    assert cancel[0].startswith("path.order_item_number: '2_X' is not '1_...'")


def test_a_label_may_have_both_url_and_base64() -> None:
    body = {
        "shipment_label_url": "https://x.test/l.pdf",
        "shipment_label_base64": "JVBERi0xLjQK",
        "tracking_number": "T",
    }
    assert problems("shipment_label", body) == []


def test_item_original_currency_overrides_the_order() -> None:
    body = edit(USD_ORDER, {"items.0.original_currency": "GBP"})
    assert problems("create_order", body) == [
        "items[0].original_total_amount: required when the sale's currency is GBP (not USD)"
    ]


def test_a_body_that_is_not_an_object() -> None:
    assert problems("cancel_order_item", ["reason"])[0].startswith("body: ")


def test_token_request_forbids_extras_and_hides_the_secret() -> None:
    from connectors.hepsiglobal.models import TokenRequest

    assert problems("create_token", dict(examples.TOKEN_REQUEST, scope="x")) == ["scope: unknown field"]
    assert "your-client-secret" not in repr(TokenRequest.model_validate(examples.TOKEN_REQUEST))


def test_each_problem_with_a_known_fix_names_the_filter() -> None:
    body = edit(
        ORDER,
        {
            "order_date": "2024-07-13 16:01:26",
            "order_amount": 184.70000000000002,
            "currency": "EUR",
            "shipping_type": "1",
            "order_number": 1001,
            "items.0.total_amount": "23.78",
            "items.0.sku": None,
        },
    )
    found = problems("create_order", body)
    assert [line.split(": ", 1)[0] for line in found] == [
        "order_number",
        "order_date",
        "shipping_type",
        "order_amount",
        "currency",
        "items[0].sku",
        "items[0].total_amount",
    ]
    assert found[0].endswith("→ `| string`")
    assert "→ `| iso8601`" in found[1]
    assert found[2].endswith("→ `| to_int`")
    assert found[3] == "order_amount: 184.70000000000002 has more than 2 decimals → `| money`"
    assert found[4].endswith(
        "→ amounts go in USD: convert them with `| usd(row.rate)` and send `currency: USD`"
    )
    assert found[5] == "items[0].sku: is null: input should be a valid string (a NULL in the source?)"
    assert found[6].endswith("→ `| money` for an amount, `| decimal` for another number")
