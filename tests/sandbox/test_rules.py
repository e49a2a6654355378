"""The sandbox's request rules, over real HTTP: each valid body passes, each broken one gets a
400 "Unsuccessful Response" whose errors name the field and what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from connectors.hepsiglobal.sandbox import Sandbox


def order(**changes: Any) -> dict[str, Any]:
    """A valid Create Order body (a EUR sale sent in USD), with ``changes`` applied."""
    body: dict[str, Any] = {
        "order_number": "1001",
        "marketplace": "hepsiglobal",
        "order_date": "2024-07-13T16:01:26+00:00",
        "shipping_type": 1,
        "order_amount": 23.78,
        "currency": "USD",
        "original_order_amount": 24.97,
        "original_currency": "EUR",
        "currency_rate": 1.05,
        "customer": {"name": "Ada", "phone": "+16172531000", "email": "ada@example.com"},
        "items": [
            {
                "item_number": "1001_HBV00000001",
                "esd": "2024-07-15T12:00:00Z",
                "company_id": 42,
                "spu": "HB0000144QYJ",
                "sku": "HBV00000001",
                "quantity": 2,
                "unit_product_price": 11.89,
                "total_amount_excl_vat": 19.82,
                "total_amount": 23.78,
                "vat_amount": 3.96,
                "currency": "USD",
                "original_total_amount": 24.97,
                "original_currency": "EUR",
                "campaign": {"anything": "goes"},
            }
        ],
    }
    for key, value in changes.items():
        if key.startswith("item_"):
            target, key = body["items"][0], key[len("item_") :]
        else:
            target = body
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = value
    return body


DROP = object()
ORDER = ("POST", "/v1/orders")
CANCEL = ("PUT", "/v1/orders/1001/order_items/1001_HBV1")
DELIVERY = ("PUT", "/v1/orders/1001/order_items/1001_HBV1/delivery")
LABEL = ("POST", "/v1/shipments/SHP-1/label")
STATUS = ("PUT", "/v1/shipments/SHP-1/status")
REFUND = ("POST", "/v1/refunds")
PRODUCT = ("PUT", "/v1/products/status")
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def refund(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "refund_number": "R-1",
        "order_number": "1001",
        "refund_date": "2024-07-20T09:00:00+03:00",
        "items": [
            {
                "order_item_number": "1001_HBV1",
                "quantity": 1,
                "reason": "incorrect_order",
                "amount": 11.89,
                "currency": "USD",
                "customer_explanation": "wrong size",
            }
        ],
    }
    for key, value in changes.items():
        target = body["items"][0] if key.startswith("item_") else body
        key = key.removeprefix("item_")
        if value is DROP:
            target.pop(key)
        else:
            target[key] = value
    return body


ACCEPTED = [
    pytest.param(*ORDER, order(), id="order-eur-sale"),
    pytest.param(
        *ORDER,
        order(
            original_currency=DROP,
            original_order_amount=DROP,
            currency_rate=DROP,
            item_original_currency=DROP,
            item_original_total_amount=DROP,
        ),
        id="order-usd-sale-needs-no-original-fields",
    ),
    pytest.param(*ORDER, order(currency_rate=None), id="order-null-rate-means-default-rate"),
    pytest.param(*ORDER, order(currency_rate=DROP, exchange_rate=1.05), id="order-exchange-rate-spelling"),
    pytest.param(
        *ORDER,
        order(order_date="2024-07-13T19:01:26.123+03:00", item_esd="2024-07-15T12:00:00Z"),
        id="order-dates-with-offsets",
    ),
    pytest.param(
        *ORDER,
        order(future_field=1, item_another_field={"x": 1}, merchant_campaign_amount=None),
        id="order-extra-fields-and-null-optionals",
    ),
    pytest.param(*ORDER, order(item_quantity=1, order_amount=0), id="order-zero-amount"),
    pytest.param(*CANCEL, {"reason": "customer_demand"}, id="cancel"),
    pytest.param(*CANCEL, {"reason": "other", "note": "x"}, id="cancel-extra-field"),
    pytest.param(*DELIVERY, {"delivered_at": "2024-07-20T10:00:00Z"}, id="delivery"),
    pytest.param(
        *DELIVERY,
        {"delivered_at": "2024-07-20T10:00:00Z", "delivery_date": "2024-07-20T10:00:00+03:00"},
        id="delivery-extra-date",
    ),
    pytest.param(
        *LABEL,
        {"shipment_label_url": "https://labels.example.com/1.pdf", "tracking_number": "TRK1"},
        id="label-url",
    ),
    pytest.param(
        *LABEL,
        {"shipment_label_url": None, "shipment_label_base64": PNG_BASE64, "tracking_number": "T"},
        id="label-base64",
    ),
    pytest.param(*STATUS, {"status": "IN_TRANSIT", "status_date": "2024-07-14T08:00:00Z"}, id="status"),
    pytest.param(*REFUND, refund(), id="refund"),
    pytest.param(
        *REFUND, refund(item_currency=DROP, item_customer_explanation=DROP), id="refund-no-currency"
    ),
    pytest.param(
        *LABEL,
        {
            "shipment_label_url": "https://l.example/1.pdf",
            "shipment_label_base64": PNG_BASE64,
            "tracking_number": "T",
        },
        id="label-url-and-base64",
    ),
    pytest.param(*PRODUCT, {"sku": "HBV1", "status": "ENABLED", "company_id": 42}, id="product-status"),
]


@pytest.mark.parametrize(("method", "path", "body"), ACCEPTED)
def test_valid_requests_are_accepted(
    api: httpx.Client, sandbox: Sandbox, method: str, path: str, body: dict
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code in (200, 202), response.text
    assert set(response.json()) == {"data", "message"}
    [record] = sandbox.records()
    assert record["body"] == body and record["method"] == method and record["path"] == path


def test_create_order_answers_with_the_order_number(api: httpx.Client) -> None:
    response = api.post("/v1/orders", json=order())
    assert response.json()["data"] == {"order_number": "1001"}


def test_create_refund_is_asynchronous(api: httpx.Client, sandbox: Sandbox) -> None:
    response = api.post("/v1/refunds", json=refund())
    assert response.status_code == 202
    request_id = response.json()["data"]["request_id"]
    assert len(request_id) == 36
    assert sandbox.records("create_refund")[0]["response"] == {"request_id": request_id}


@pytest.mark.parametrize(
    ("path", "operation", "params"),
    [
        (
            "/v1/tracking/providers/hepsijet/BAR%20CODE1",
            "tracking_by_barcode",
            {"provider_name": "hepsijet", "tracking_barcode": "BAR CODE1"},
        ),
        ("/v1/tracking/packages/SHP-9", "tracking_by_shipment_id", {"shipment_id": "SHP-9"}),
    ],
)
def test_tracking(api: httpx.Client, sandbox: Sandbox, path: str, operation: str, params: dict) -> None:
    response = api.get(path)
    assert response.status_code == 200
    [event] = response.json()["data"]["delivery_info"]
    assert set(event) == {"datetime", "detail", "eventCode", "location"}
    [record] = sandbox.records(operation)
    assert record["path_params"] == params and record["body"] is None


REJECTED = [
    # Create Order: identity, money, USD, the original_* fields, items, dates.
    (*ORDER, order(order_number=DROP), "order_number: required"),
    (*ORDER, order(order_number=""), "order_number: must be a non-empty string"),
    (*ORDER, order(order_amount="23.78"), "order_amount: must be a JSON number, got '23.78'"),
    (*ORDER, order(order_amount=True), "order_amount: must be a JSON number, got boolean true"),
    (*ORDER, order(order_amount=-1), "order_amount: must be >= 0, got -1"),
    (*ORDER, order(total_discount_amount="0"), "total_discount_amount: must be a JSON number"),
    (*ORDER, order(item_total_amount="23.78"), "items[0].total_amount: must be a JSON number"),
    (*ORDER, order(item_vat_amount=-0.5), "items[0].vat_amount: must be >= 0"),
    (*ORDER, order(item_unit_product_price=[1]), "items[0].unit_product_price: must be a JSON number"),
    (*ORDER, order(currency=DROP), "currency: required, must be 'USD'"),
    (*ORDER, order(currency="EUR"), "currency: must be 'USD' (amounts are sent in USD), got 'EUR'"),
    (*ORDER, order(item_currency="TRY"), "items[0].currency: must be 'USD'"),
    (
        *ORDER,
        order(original_order_amount=DROP),
        "original_order_amount: a number >= 0 is required when original_currency is 'EUR'",
    ),
    (*ORDER, order(original_order_amount="24.97"), "original_order_amount: must be a JSON number"),
    (*ORDER, order(currency_rate=DROP), "currency_rate: required when original_currency is 'EUR'"),
    (*ORDER, order(currency_rate=0), "currency_rate: must be a number > 0"),
    (*ORDER, order(currency_rate=DROP, exchange_rate="1.05"), "exchange_rate: must be a number > 0"),
    (*ORDER, order(original_currency="euro"), "original_currency: must be an ISO 4217 code"),
    (
        *ORDER,
        order(item_original_total_amount=DROP),
        "items[0].original_total_amount: a number >= 0 is required when original_currency is 'EUR'",
    ),
    (
        *ORDER,
        order(
            original_currency=DROP,
            original_order_amount=DROP,
            currency_rate=DROP,
            item_original_currency="GBP",
            item_original_total_amount=DROP,
        ),
        "items[0].original_total_amount: a number >= 0 is required when original_currency is 'GBP'",
    ),
    (*ORDER, order(items=[]), "items: required, a non-empty array"),
    (*ORDER, order(items=DROP), "items: required, a non-empty array"),
    (*ORDER, order(items=["1001_X"]), "items[0]: must be an object"),
    (
        *ORDER,
        order(items=[order()["items"][0], dict(order()["items"][0], sku="HBV2")]),
        "items[1].item_number: '1001_HBV00000001' is already items[0]'s",
    ),
    (*ORDER, order(order_amount=184.70000000000002), "order_amount: an amount has at most 2 decimals"),
    (*ORDER, order(item_total_amount=DROP), "items[0].total_amount: a number >= 0 is required"),
    (*ORDER, order(order_date=DROP), "order_date: required, an ISO 8601 date-time"),
    (*ORDER, order(shipping_type="1"), "shipping_type: must be an integer, got '1'"),
    (*ORDER, order(customer="Ada"), "customer: must be an object, got 'Ada'"),
    (*ORDER, order(customer={"phone": 16172531000}), "customer.phone: must be a string, got 16172531000"),
    (*ORDER, order(exchange_rate=1.1), "exchange_rate: 1.1 differs from currency_rate 1.05"),
    (*ORDER, order(item_item_number=DROP), "items[0].item_number: required"),
    (*ORDER, order(item_sku=DROP), "items[0].sku: required"),
    (*ORDER, order(item_quantity=0), "items[0].quantity: must be a positive integer, got 0"),
    (*ORDER, order(item_quantity=1.5), "items[0].quantity: must be a positive integer, got 1.5"),
    (*ORDER, order(item_quantity=True), "items[0].quantity: must be a positive integer"),
    (*ORDER, order(item_quantity="2"), "items[0].quantity: must be a positive integer, got '2'"),
    (*ORDER, order(item_quantity=DROP), "items[0].quantity: required, a positive integer"),
    (*ORDER, order(item_company_id="42"), "items[0].company_id: must be an integer, got '42'"),
    (
        *ORDER,
        order(order_date="2024-07-13 16:01:26"),
        "order_date: must be an ISO 8601 date-time with a UTC offset",
    ),
    (*ORDER, order(order_date="2024-07-13T16:01:26"), "order_date: must be an ISO 8601 date-time"),
    (*ORDER, order(order_date=1720886486), "order_date: must be an ISO 8601 date-time"),
    (*ORDER, order(item_esd="2024-13-01T00:00:00Z"), "items[0].esd: must be an ISO 8601 date-time"),
    # Cancel order by marketplace.
    (*CANCEL, {}, "reason: required, a non-empty string"),
    (*CANCEL, {"reason": ""}, "reason: must be a non-empty string"),
    (*CANCEL, {"reason": 5}, "reason: must be a non-empty string, got 5"),
    # Order item delivery.
    (*DELIVERY, {"delivered_at": "yesterday"}, "delivered_at: must be an ISO 8601 date-time"),
    (*DELIVERY, {"delivery_date": "2024-07-20"}, "delivery_date: must be an ISO 8601 date-time"),
    (*DELIVERY, {}, "delivered_at: required, an ISO 8601 date-time"),
    # Shipment label.
    (*LABEL, {"tracking_number": "T"}, "one of shipment_label_url or shipment_label_base64"),
    (
        *LABEL,
        {"shipment_label_url": None, "shipment_label_base64": None, "tracking_number": "T"},
        "one of shipment_label_url or shipment_label_base64 is required",
    ),
    (
        *LABEL,
        {"shipment_label_url": "ftp://x.example/l.pdf", "tracking_number": "T"},
        "shipment_label_url: must be an http(s) URL",
    ),
    (
        *LABEL,
        {"shipment_label_url": "labels/1.pdf", "tracking_number": "T"},
        "shipment_label_url: must be an http(s) URL",
    ),
    (
        *LABEL,
        {"shipment_label_base64": "not base64!", "tracking_number": "T"},
        "shipment_label_base64: must be non-empty valid base64",
    ),
    (
        *LABEL,
        {"shipment_label_base64": "", "tracking_number": "T"},
        "shipment_label_base64: must be non-empty valid base64",
    ),
    (*LABEL, {"shipment_label_base64": PNG_BASE64}, "tracking_number: required"),
    (*LABEL, {"shipment_label_base64": PNG_BASE64, "tracking_number": 7}, "tracking_number: must be"),
    # Shipment status.
    (*STATUS, {}, "status: required"),
    (*STATUS, {"status": ""}, "status: must be a non-empty string"),
    (
        *STATUS,
        {"status": "DELIVERED", "status_date": "2024-07-14"},
        "status_date: must be an ISO 8601 date-time",
    ),
    # Create refund.
    (*REFUND, refund(refund_number=DROP), "refund_number: required"),
    (*REFUND, refund(order_number=""), "order_number: must be a non-empty string"),
    (*REFUND, refund(refund_date=DROP), "refund_date: required"),
    (*REFUND, refund(refund_date="20.07.2024"), "refund_date: must be an ISO 8601 date-time"),
    (*REFUND, refund(items=[]), "items: required, a non-empty array"),
    (*REFUND, refund(items=[7]), "items[0]: must be an object"),
    (*REFUND, refund(item_reason=DROP), "items[0].reason: required, a non-empty string"),
    (*REFUND, refund(item_amount=DROP), "items[0].amount: a number >= 0 is required"),
    (*REFUND, refund(item_order_item_number=DROP), "items[0].order_item_number: required"),
    (*REFUND, refund(item_quantity=0), "items[0].quantity: must be a positive integer"),
    (*REFUND, refund(item_amount="11.89"), "items[0].amount: must be a JSON number"),
    (*REFUND, refund(item_amount=-1), "items[0].amount: must be >= 0"),
    (*REFUND, refund(item_currency="EUR"), "items[0].currency: must be 'USD'"),
    # Product status.
    (*PRODUCT, {"status": "ENABLED"}, "sku: required"),
    (*PRODUCT, {"sku": "HBV1"}, "status: required"),
    (*PRODUCT, {"sku": "", "status": "ENABLED"}, "sku: must be a non-empty string"),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), REJECTED)
def test_rule_violations_are_rejected(
    api: httpx.Client, sandbox: Sandbox, method: str, path: str, body: dict, expected: str
) -> None:
    response = api.request(method, path, json=copy.deepcopy(body))
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["message"] == "Unsuccessful Response"
    assert any(expected in error for error in payload["errors"]), payload["errors"]
    assert sandbox.records() == []


def test_every_problem_is_reported_at_once(api: httpx.Client) -> None:
    body = order(currency="EUR", item_quantity=0, item_sku="")
    errors = api.post("/v1/orders", json=body).json()["errors"]
    assert len(errors) == 3, errors


BODY_OPERATIONS = [ORDER, CANCEL, DELIVERY, LABEL, STATUS, REFUND, PRODUCT]


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[1, 2]", "body: must be a JSON object, got array"),
        (b'"text"', "body: must be a JSON object, got string"),
        (b"null", "body: must be a JSON object, got null"),
        (b"{not json", "body: not valid JSON"),
        (b'{"order_amount": NaN}', "body: not valid JSON (NaN is not JSON)"),
        (b"", "body: not valid JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_rejected(
    api: httpx.Client, method: str, path: str, content: bytes, expected: str
) -> None:
    headers = {"Content-Type": "application/json"}
    response = api.request(method, path, content=content, headers=headers)
    assert response.status_code == 400
    assert any(expected in error for error in response.json()["errors"]), response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "warning"),
    [
        (
            *ORDER,
            order(item_item_number="1001-HBV00000001"),
            "items[0].item_number: '1001-HBV00000001' is not",
        ),
        ("PUT", "/v1/orders/1001/order_items/oi1", {"reason": "x"}, "path.order_item_number: 'oi1' is not"),
        (
            *REFUND,
            refund(order_number="mp_order123", item_order_item_number="oi1"),
            "items[0].order_item_number",
        ),
    ],
)
def test_an_item_number_off_the_examples_form_is_accepted_with_a_warning(
    api: httpx.Client, sandbox: Sandbox, method: str, path: str, body: dict, warning: str
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code in (200, 202), response.text
    [found] = response.json()["warnings"]
    assert found.startswith(warning) and found.endswith("as in HG's examples (accepted)"), found
    assert len(sandbox.records()) == 1
