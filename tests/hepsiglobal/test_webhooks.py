"""The HG → MP webhook catalog: routes, examples, [doc] rules, open payloads, the two queries."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.hepsiglobal import webhook_examples as ex
from connectors.hepsiglobal.catalog import CATALOG
from connectors.hepsiglobal.webhook_models import PRICE_UPDATE_LIMIT
from connectors.hepsiglobal.webhook_queries import (
    VariantListingCountAnswer,
    VariantListingCountQuery,
    VariantListingStatusAnswer,
    VariantListingStatusQuery,
)
from connectors.hepsiglobal.webhooks import WEBHOOKS
from engine.definitions.plugins import known_operations, resolve
from engine.definitions.targets import OperationOverride

DEFAULT = "unknown (default chosen)"

# name: (method, path, certainty of the path), from the spec's table rows 11-28
EXPECTED = {
    "product_create": ("POST", "/webhooks/product-create", "inferred"),
    "product_update": ("PUT", "/webhooks/product-update", "doc"),
    "variant_create": ("POST", "/webhooks/variant-create", "inferred"),
    "variant_update": ("PUT", "/webhooks/variant-update", "doc"),
    "product_enable_disable": ("PUT", "/webhooks/product-enable-disable", DEFAULT),
    "listing_priority": ("PUT", "/webhooks/listing-priority", DEFAULT),
    "stock_update": ("PUT", "/webhooks/stock-update", "inferred"),
    "price_update": ("PUT", "/webhooks/price-update", "doc"),
    "bulk_merchant_active": ("POST", "/webhooks/bulk-merchant-active", DEFAULT),
    "bulk_merchant_inactive": ("POST", "/webhooks/bulk-merchant-inactive", DEFAULT),
    "variant_listing_status": ("POST", "/webhooks/variant-listing-status", "doc"),
    "variant_listing_count": ("GET", "/webhooks/variant-listing-count", DEFAULT),
    "send_invoice": ("POST", "/webhooks/send-invoice", DEFAULT),
    "order_cancel_by_seller": ("PUT", "/webhooks/order-cancel", "doc"),
    "create_shipment": ("POST", "/webhooks/create-shipment", "doc"),
    "shipment_status_by_hg": ("PUT", "/webhooks/shipment-status-by-hg", DEFAULT),
    "cancel_shipment": ("PUT", "/webhooks/cancel-shipment", "inferred"),
    "refund_create_result": ("POST", "/webhooks/refund-create-result", DEFAULT),
}
CREATES = {"product_create", "variant_create", "send_invoice", "create_shipment", "refund_create_result"}


def body(name: str) -> dict[str, Any]:
    """A fresh copy of a webhook's example body, to break."""
    example = WEBHOOKS[name].example
    assert example is not None
    return copy.deepcopy(example)


def problems(name: str, payload: object) -> list[str]:
    return WEBHOOKS[name].validate(payload)


# -- the catalog --------------------------------------------------------------------------------


def test_the_eighteen_webhooks_and_their_routes() -> None:
    assert {n: (op.method, op.path, op.certainty) for n, op in WEBHOOKS.items()} == EXPECTED
    assert all(op.direction == "inbound" and op.pipeline for op in WEBHOOKS.values())
    assert all(op.direction == "outbound" for op in CATALOG.values())


def test_both_catalogs_are_registered() -> None:
    registered = known_operations()
    assert [n for n, op in registered.items() if op.direction == "inbound"] == list(EXPECTED)
    assert [n for n, op in registered.items() if op.direction == "outbound"] == list(CATALOG)


def test_flags_per_webhook() -> None:
    assert {n for n, op in WEBHOOKS.items() if not op.idempotent} == CREATES
    assert {n for n, op in WEBHOOKS.items() if op.query} == {
        "variant_listing_status",
        "variant_listing_count",
    }
    assert all((op.answer is not None) == op.query for op in WEBHOOKS.values())
    assert {n: op.batch_limit for n, op in WEBHOOKS.items() if op.batch_limit} == {
        "stock_update": 1000,
        "price_update": 1000,
    }
    assert "[inferred]" in WEBHOOKS["stock_update"].description
    assert {n: op.list_field for n, op in WEBHOOKS.items() if op.list_field} == {
        "product_create": "variants",
        "product_update": "variants",
        "stock_update": "items",
        "price_update": "items",
    }
    assert {n: op.event_id_field for n, op in WEBHOOKS.items() if op.event_id_field} == {
        "order_cancel_by_seller": "cancel_id"
    }


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_example_passes_its_model(name: str) -> None:
    op = WEBHOOKS[name]
    assert op.model is not None and op.example is not None
    assert op.validate(op.example) == []
    assert op.path_params == ()
    if op.list_field:
        assert isinstance(op.example[op.list_field], list) and op.example[op.list_field]
        assert op.list_field in op.model.model_fields
    if op.event_id_field:
        assert op.model.model_fields[op.event_id_field].is_required()


def test_the_answer_examples_pass_their_models() -> None:
    VariantListingStatusAnswer.model_validate(ex.VARIANT_LISTING_STATUS_ANSWER)
    VariantListingCountAnswer.model_validate(ex.VARIANT_LISTING_COUNT_ANSWER)
    assert WEBHOOKS["variant_listing_status"].answer is VariantListingStatusAnswer
    assert WEBHOOKS["variant_listing_count"].answer is VariantListingCountAnswer


def test_config_corrects_a_webhook_route() -> None:
    override = {"refund_create_result": OperationOverride(method="PUT", path="/hooks/refunds/result")}
    op = resolve("refund_create_result", override)
    assert (op.method, op.path, op.certainty, op.direction) == (
        "PUT",
        "/hooks/refunds/result",
        "config",
        "inbound",
    )
    assert WEBHOOKS["refund_create_result"].certainty == DEFAULT  # the catalog is unchanged


# -- [doc] rules ----------------------------------------------------------------------------------


def test_order_cancel_needs_its_five_documented_fields() -> None:
    assert problems("order_cancel_by_seller", {}) == [
        "cancel_id: required",
        "order_number: required",
        "order_item_number: required",
        "cancel_quantity: required",
        "reason: required",
    ]
    without_id = body("order_cancel_by_seller")
    del without_id["cancel_id"]
    assert problems("order_cancel_by_seller", without_id) == ["cancel_id: required"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("cancel_id", "556677", "cancel_id: Input should be a valid integer"),
        ("cancel_id", True, "cancel_id: Input should be a valid integer"),
        ("cancel_quantity", 0, "cancel_quantity: Input should be greater than 0"),
        ("cancel_quantity", 1.5, "cancel_quantity: Input should be a valid integer"),
        ("reason", "  ", "reason: must not be empty"),
        ("order_number", 123, "order_number: Input should be a valid string"),
    ],
)
def test_order_cancel_types_are_strict(field: str, value: object, reason: str) -> None:
    payload = body("order_cancel_by_seller")
    payload[field] = value
    assert problems("order_cancel_by_seller", payload) == [reason]


def test_a_price_update_carries_at_most_1000_items() -> None:
    item = body("price_update")["items"][0]
    assert problems("price_update", {"items": [item] * PRICE_UPDATE_LIMIT}) == []
    too_many = problems("price_update", {"items": [item] * (PRICE_UPDATE_LIMIT + 1)})
    assert too_many == ["items: List should have at most 1000 items after validation, not 1001"]
    assert problems("price_update", {"items": []}) == [
        "items: List should have at least 1 item after validation, not 0"
    ]
    assert problems("price_update", {}) == ["items: required"]


def test_price_items_report_every_problem_at_its_place() -> None:
    payload = body("price_update")
    payload["items"].append({"sku": "HBCV2", "company_id": "12345", "price": "19.90", "currency": "usd"})
    payload["items"][0]["discount_percentage"] = -5
    del payload["items"][0]["currency"]
    assert problems("price_update", payload) == [
        "items[0].currency: required",
        "items[0].discount_percentage: Input should be greater than or equal to 0",
        "items[1].company_id: Input should be a valid integer",
        "items[1].price: must be a JSON number, not a string",
        "items[1].currency: must be an ISO 4217 code like 'EUR'",
    ]


def test_product_and_variant_updates_need_their_codes() -> None:
    product = body("product_update")
    del product["product"]["spu"]
    product["variants"][1]["sku"] = ""
    product["product"]["variant_axes"] = "Color"
    assert problems("product_update", product) == [
        "product.spu: required",
        "product.variant_axes: Input should be a valid list",
        "variants[1].sku: must not be empty",
    ]
    assert problems("product_update", {"product": body("product_update")["product"]}) == [
        "variants: required"
    ]
    variant = body("variant_update")
    del variant["sku"]
    variant["barcode"] = 8690000000011
    assert problems("variant_update", variant) == [
        "sku: required",
        "barcode: Input should be a valid string",
    ]


def test_create_shipment_tracking_is_typed() -> None:
    payload = body("create_shipment")
    del payload["tracking"][0]["carrier"]
    payload["tracking"][1]["is_default"] = "yes"
    assert problems("create_shipment", payload) == [
        "tracking[0].carrier: required",
        "tracking[1].is_default: Input should be a valid boolean",
    ]
    assert problems("create_shipment", {"order_number": "1"}) == ["tracking: required"]


def test_a_body_that_is_not_an_object_is_refused() -> None:
    for name in WEBHOOKS:
        assert problems(name, ["not", "an", "object"]), name


# -- open where the spec is not firm -----------------------------------------------------------


def test_unknown_fields_are_kept_everywhere() -> None:
    payload = body("price_update")
    payload["batch_ref"] = "b-1"
    payload["items"][0]["vat_rate"] = 0.2
    dumped = WEBHOOKS["price_update"].model.model_validate(payload).model_dump()  # type: ignore[union-attr]
    assert dumped["batch_ref"] == "b-1"
    assert dumped["items"][0]["vat_rate"] == 0.2

    product = body("product_update")
    product["product"]["origin_country"] = "TR"
    product["variants"][0]["images"] = ["https://img.example.com/1.jpg"]
    dumped = WEBHOOKS["product_update"].model.model_validate(product).model_dump()  # type: ignore[union-attr]
    assert dumped["product"]["origin_country"] == "TR"
    assert dumped["variants"][0]["images"] == ["https://img.example.com/1.jpg"]
    assert dumped["variants"][0]["attributes"] == {"Color": "Blue", "Volume": "350 ml"}

    cancel = {**body("order_cancel_by_seller"), "cancelled_at": "2024-07-14T10:00:00+00:00"}
    dumped = WEBHOOKS["order_cancel_by_seller"].model.model_validate(cancel).model_dump()  # type: ignore[union-attr]
    assert dumped == cancel


@pytest.mark.parametrize(
    "name",
    [n for n, (_, _, certainty) in EXPECTED.items() if certainty != "doc" and not WEBHOOKS[n].query],
)
def test_inferred_payloads_refuse_nothing_and_change_nothing(name: str) -> None:
    odd = {key: ["odd", 1, None] for key in WEBHOOKS[name].model.model_fields}  # type: ignore[union-attr]
    odd["surprise"] = {"nested": True}
    if name == "stock_update":  # its `items` must still be a list of objects to be applied
        odd["items"] = [{"sku": 123, "stock": "12", "warehouse": "IST-1"}]
    assert problems(name, odd) == []
    assert problems(name, {}) == []
    dumped = WEBHOOKS[name].model.model_validate(odd).model_dump(exclude_unset=True)  # type: ignore[union-attr]
    assert dumped == odd  # nothing coerced: "12" stays a string, 123 an integer


def test_a_stock_update_items_must_be_a_list_of_objects() -> None:
    assert problems("stock_update", {"items": {"sku": "x"}}) == ["items: Input should be a valid list"]
    assert problems("stock_update", {"items": ["HBCV1"]}) == [
        "items[0]: Input should be a valid dictionary or instance of StockItem"
    ]


# -- the two queries -----------------------------------------------------------------------------


def test_listing_status_filters_and_pages() -> None:
    query = VariantListingStatusQuery.model_validate(
        {"sku": "HBCV1", "mp_sku": ["a", "b"], "page": 3, "size": 50}
    )
    assert (query.sku_values(), query.mp_sku_values(), query.offset) == (["HBCV1"], ["a", "b"], 100)
    default = VariantListingStatusQuery.model_validate({})
    assert (default.page, default.size, default.offset, default.sku_values()) == (1, 100, 0, [])
    assert problems("variant_listing_status", {"page": 0, "size": 1001, "company_id": "12"}) == [
        "company_id: Input should be a valid integer",
        "page: Input should be greater than or equal to 1",
        "size: Input should be less than or equal to 1000",
    ]
    assert problems("variant_listing_status", {"sku": [1, 2]}) == [
        "sku.str: Input should be a valid string",
        "sku.list[str][0]: Input should be a valid string",
        "sku.list[str][1]: Input should be a valid string",
    ]


def test_listing_count_reads_query_string_values() -> None:
    query = VariantListingCountQuery.model_validate({"company_id": "12345", "sku": "HBCV1", "extra": "x"})
    assert (query.company_id, query.sku_values(), query.model_dump()["extra"]) == (12345, ["HBCV1"], "x")
    assert problems("variant_listing_count", {"company_id": "abc"}) == [
        "company_id: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_answers_are_checked() -> None:
    with pytest.raises(ValueError, match="total"):
        VariantListingStatusAnswer.model_validate({"items": [], "page": 1, "size": 100})
    with pytest.raises(ValueError, match="status"):
        VariantListingStatusAnswer.model_validate({"items": [{"sku": "x"}], "page": 1, "size": 1, "total": 1})
    with pytest.raises(ValueError, match="count"):
        VariantListingCountAnswer.model_validate({"count": -1})
