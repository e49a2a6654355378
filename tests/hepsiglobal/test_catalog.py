"""The operation catalog: examples, path templates, overrides, lookup and description."""

from __future__ import annotations

import re

import pytest

from connectors.hepsiglobal.catalog import CATALOG
from engine.cli.ops_text import describe
from engine.definitions.operations import Operation
from engine.definitions.plugins import resolve
from engine.definitions.targets import OperationOverride

EXPECTED = {
    "create_token": ("POST", "/v1/auth/token"),
    "product_status": ("PUT", "/v1/products/status"),
    "create_order": ("POST", "/v1/orders"),
    "order_item_delivery": (
        "PUT",
        "/v1/orders/{order_number}/order_items/{order_item_number}/delivery",
    ),
    "cancel_order_item": ("PUT", "/v1/orders/{order_number}/order_items/{order_item_number}"),
    "shipment_label": ("POST", "/v1/shipments/{shipment_id}/label"),
    "shipment_status": ("PUT", "/v1/shipments/{shipment_id}/status"),
    "tracking_by_barcode": ("GET", "/v1/tracking/providers/{provider_name}/{tracking_barcode}"),
    "tracking_by_shipment_id": ("GET", "/v1/tracking/packages/{shipment_id}"),
    "create_refund": ("POST", "/v1/refunds"),
}


def test_the_ten_operations_and_their_routes() -> None:
    assert {name: (op.method, op.path) for name, op in CATALOG.items()} == EXPECTED
    assert [name for name, op in CATALOG.items() if not op.pipeline] == ["create_token"]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_example_passes_its_model(name: str) -> None:
    op = CATALOG[name]
    assert op.certainty in {"doc", "inferred", "unknown (default chosen)"}
    assert op.idempotent == (op.method in {"GET", "PUT"} or name == "create_token")
    if op.model is None:
        assert op.method == "GET" and op.example is None
        assert op.validate(None) == []
    else:
        assert op.example is not None
        assert op.validate(op.example) == []


def test_a_get_takes_no_body() -> None:
    assert CATALOG["tracking_by_shipment_id"].validate({"x": 1}) == [
        "body: tracking_by_shipment_id (GET) takes no body"
    ]


def test_path_params_in_order() -> None:
    assert CATALOG["tracking_by_barcode"].path_params == ("provider_name", "tracking_barcode")
    assert CATALOG["create_order"].path_params == ()


def test_render_path_quotes_every_value() -> None:
    op = CATALOG["cancel_order_item"]
    path = op.render_path({"order_number": "A/1 2", "order_item_number": "A/1 2_HBV?#%"})
    assert path == "/v1/orders/A%2F1%202/order_items/A%2F1%202_HBV%3F%23%25"
    assert CATALOG["tracking_by_shipment_id"].render_path({"shipment_id": 42}) == ("/v1/tracking/packages/42")


def test_render_path_names_missing_and_extra_params() -> None:
    op = CATALOG["cancel_order_item"]
    with pytest.raises(ValueError) as caught:
        op.render_path({"order_number": "1", "item": "x"})
    text = str(caught.value)
    assert "missing path parameter(s): order_item_number" in text
    assert "unexpected path parameter(s): item" in text
    with pytest.raises(ValueError, match="empty path parameter"):
        op.render_path({"order_number": "1", "order_item_number": None})


def test_override_path_and_method() -> None:
    overrides = {
        "order_item_delivery": OperationOverride(path="/v2/deliveries/{order_item_number}"),
        "product_status": OperationOverride(method="POST"),
    }
    delivery = resolve("order_item_delivery", overrides)
    assert (delivery.method, delivery.path, delivery.certainty) == (
        "PUT",
        "/v2/deliveries/{order_item_number}",
        "config",
    )
    assert delivery.path_params == ("order_item_number",)
    status = resolve("product_status", overrides)
    assert (status.method, status.path) == ("POST", "/v1/products/status")
    assert status.certainty == "unknown (default chosen)"
    assert resolve("create_order", overrides) is CATALOG["create_order"]
    assert CATALOG["order_item_delivery"].certainty == "inferred"  # the catalog is unchanged
    assert CATALOG["create_order"].with_override(None) is CATALOG["create_order"]


def test_resolve_unknown_lists_known_and_suggests() -> None:
    with pytest.raises(KeyError) as caught:
        resolve("cancel_order_items")
    text = str(caught.value)
    assert text.startswith("unknown operation 'cancel_order_items'; known: bulk_merchant_active, ")
    assert "cancel_order_item, " in text and "tracking_by_shipment_id" in text
    assert "stock_update" in text  # both directions' names: `hgsync ops NAME` shows either
    assert "did you mean 'cancel_order_item'?" in text
    with pytest.raises(ValueError, match="known: ") as no_match:
        resolve("zzz")
    assert "did you mean" not in str(no_match.value)


def test_describe_shows_route_fields_and_example() -> None:
    text = describe(CATALOG["cancel_order_item"])
    assert "PUT /v1/orders/{order_number}/order_items/{order_item_number}" in text
    assert "(path: doc)" in text
    assert "path parameters: order_number, order_item_number" in text
    assert "reason  string  required" in text
    assert '"reason": "customer_demand"' in text

    order = describe(CATALOG["create_order"])
    assert "POST /v1/orders" in order
    assert "items[].item_number  string  required" in order
    assert "currency_rate  number > 0 | null  optional" in order
    assert "order_date  date-time  required" in order
    assert "not idempotent" in order

    tracking = describe(CATALOG["tracking_by_barcode"])
    assert "GET /v1/tracking/providers/{provider_name}/{tracking_barcode}" in tracking
    assert "body: none" in tracking


def test_operation_is_frozen() -> None:
    op: Operation = CATALOG["create_order"]
    with pytest.raises(AttributeError):
        op.path = "/x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("order_number", "item", "fragment"),
    [
        ("..", "X", "path segment '..'"),
        ("1", ".", "path segment '.'"),
        ("1", "..", "path segment '..'"),
        ("1\x00", "X", "order_number contains a control character"),
        ("1", "X\nY", "order_item_number contains a control character"),
        ("1", "A\x7f", "order_item_number contains a control character"),
    ],
)
def test_render_path_refuses_a_value_that_changes_the_endpoint(order_number, item, fragment) -> None:
    """Dot segments survive percent-encoding and are then removed by URL normalisation; they
    (and control characters) are refused instead of reaching another endpoint."""
    op = CATALOG["cancel_order_item"]
    with pytest.raises(ValueError, match=re.escape(fragment)):
        op.render_path({"order_number": order_number, "order_item_number": item})


def test_render_path_keeps_dots_inside_a_value() -> None:
    op = CATALOG["cancel_order_item"]
    assert (
        op.render_path({"order_number": "..1", "order_item_number": "a.b"})
        == "/v1/orders/..1/order_items/a.b"
    )
