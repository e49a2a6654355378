"""The catalog of HG → MP webhooks, as data: the 18 calls HG makes to the marketplace.

Every operation here is ``direction="inbound"``: hgsync receives it (``hgsync serve``) and
applies it through an inbound pipeline (``receive: NAME``); outbound pipelines cannot send
it. ``certainty`` is how sure we are of the **path**: ``doc``, ``inferred`` (the spec's
``/webhooks/<kebab-case-name>`` pattern), or ``unknown (default chosen)`` for the paths the
spec does not give, which follow the same pattern with the operation's name. Every method is
[doc] except Refund create result's (``POST`` assumed). An operator corrects a path or
method under ``receiver.operations`` in ``config/hgsync.yaml``, without a code change.

``idempotent`` says whether applying one event twice is harmless: events that set a state
(updates, enable/disable, stock, price, cancels, statuses) are; events that create a record
(product, variant, invoice, shipment, refund result) are not. The receiver deduplicates
every event by its id either way. Registered under the ``hgsync.operations`` entry point
group next to :data:`connectors.hepsiglobal.catalog.CATALOG`.
"""

from __future__ import annotations

from connectors.hepsiglobal import webhook_examples as ex
from connectors.hepsiglobal import webhook_models as m
from connectors.hepsiglobal import webhook_queries as q
from engine.definitions.operations import Operation, ResultFields

DEFAULT = "unknown (default chosen)"


def _webhook(
    name: str, title: str, method: str, path: str | None, certainty: str, **more: object
) -> Operation:
    """An inbound operation; ``path=None`` means the default ``/webhooks/<kebab-case-name>``."""
    route = path or "/webhooks/" + name.replace("_", "-")
    return Operation(
        name=name,
        title=title,
        method=method,
        path=route,
        certainty=DEFAULT if path is None else certainty,
        direction="inbound",
        pipeline=True,
        **more,  # type: ignore[arg-type]
    )


WEBHOOKS: dict[str, Operation] = {
    op.name: op
    for op in [
        _webhook(
            "product_create",
            "Product Create",
            "POST",
            "/webhooks/product-create",
            "inferred",
            model=m.ProductCreate,
            idempotent=False,
            list_field="variants",
            example=ex.PRODUCT_CREATE,
            description="HG created a product: the product and its variants (same shape as "
            "Product Update [inferred]).",
        ),
        _webhook(
            "product_update",
            "Product Update",
            "PUT",
            "/webhooks/product-update",
            "doc",
            model=m.ProductUpdate,
            idempotent=True,
            list_field="variants",
            example=ex.PRODUCT_UPDATE,
            description="HG changed a product: the product and its variants.",
        ),
        _webhook(
            "variant_create",
            "Variant Create",
            "POST",
            "/webhooks/variant-create",
            "inferred",
            model=m.VariantCreate,
            idempotent=False,
            example=ex.VARIANT_CREATE,
            description="HG created a variant (same shape as Variant Update [inferred]).",
        ),
        _webhook(
            "variant_update",
            "Variant Update",
            "PUT",
            "/webhooks/variant-update",
            "doc",
            model=m.VariantUpdate,
            idempotent=True,
            example=ex.VARIANT_UPDATE,
            description="HG changed a variant: name, barcode, attributes, description (may hold HTML).",
        ),
        _webhook(
            "product_enable_disable",
            "Enable/Disable product",
            "PUT",
            None,
            DEFAULT,
            model=m.ProductEnableDisable,
            idempotent=True,
            example=ex.PRODUCT_ENABLE_DISABLE,
            description="HG enables or disables a product for sale; fields [inferred].",
        ),
        _webhook(
            "listing_priority",
            "Listing Priority",
            "PUT",
            None,
            DEFAULT,
            model=m.ListingPriority,
            idempotent=True,
            example=ex.LISTING_PRIORITY,
            description="HG sets a variant's listing priority; fields [inferred].",
        ),
        _webhook(
            "stock_update",
            "Stock update",
            "PUT",
            "/webhooks/stock-update",
            "inferred",
            model=m.StockUpdate,
            idempotent=True,
            list_field="items",
            batch_limit=1000,
            example=ex.STOCK_UPDATE,
            description="HG sends stock levels in bulk: {items: [{sku, company_id, stock}]}. The "
            "shape and the limit of 1000 items a call are [inferred] from Price update.",
        ),
        _webhook(
            "price_update",
            "Price update",
            "PUT",
            "/webhooks/price-update",
            "doc",
            model=m.PriceUpdate,
            idempotent=True,
            list_field="items",
            batch_limit=m.PRICE_UPDATE_LIMIT,
            example=ex.PRICE_UPDATE,
            description="HG sends prices in bulk, at most 1000 items a call [doc].",
        ),
        _webhook(
            "bulk_merchant_active",
            "Bulk Merchant Active",
            "POST",
            None,
            DEFAULT,
            model=m.BulkMerchantActive,
            idempotent=True,
            example=ex.BULK_MERCHANT_ACTIVE,
            description="HG marks sellers active; a list of company ids [inferred].",
        ),
        _webhook(
            "bulk_merchant_inactive",
            "Bulk Merchant Inactive",
            "POST",
            None,
            DEFAULT,
            model=m.BulkMerchantInactive,
            idempotent=True,
            example=ex.BULK_MERCHANT_INACTIVE,
            description="HG marks sellers inactive; a list of company ids [inferred].",
        ),
        _webhook(
            "variant_listing_status",
            "Variant Listing Status",
            "POST",
            "/webhooks/variant-listing-status",
            "doc",
            model=q.VariantListingStatusQuery,
            answer=q.VariantListingStatusAnswer,
            query=True,
            idempotent=True,
            example=ex.VARIANT_LISTING_STATUS,
            description="A query: HG asks for variants' listing states (filters [doc]); the "
            "marketplace answers one page (page/size [inferred]).",
        ),
        _webhook(
            "variant_listing_count",
            "Variant Listing Count",
            "GET",
            None,
            DEFAULT,
            model=q.VariantListingCountQuery,
            answer=q.VariantListingCountAnswer,
            query=True,
            idempotent=True,
            example=ex.VARIANT_LISTING_COUNT,
            description="A query: HG asks how many variants match; the filters are query-string "
            "parameters [inferred], which the model describes.",
        ),
        _webhook(
            "send_invoice",
            "Send invoice",
            "POST",
            None,
            DEFAULT,
            model=m.SendInvoice,
            idempotent=False,
            example=ex.SEND_INVOICE,
            description="HG sends an order's invoice; fields [inferred].",
        ),
        _webhook(
            "order_cancel_by_seller",
            "Order cancel (canceled by seller)",
            "PUT",
            "/webhooks/order-cancel",
            "doc",
            model=m.OrderCancelBySeller,
            idempotent=True,
            event_id_field="cancel_id",
            example=ex.ORDER_CANCEL_BY_SELLER,
            description="The seller cancelled units of an order item; cancel_id identifies the event.",
        ),
        _webhook(
            "create_shipment",
            "Create shipment",
            "POST",
            "/webhooks/create-shipment",
            "doc",
            model=m.CreateShipment,
            idempotent=False,
            example=ex.CREATE_SHIPMENT,
            description="HG created a shipment for an order, with its tracking numbers; shipment "
            "and item details [unknown] pass through.",
        ),
        _webhook(
            "shipment_status_by_hg",
            "Set shipment status (fulfillment by HG)",
            "PUT",
            None,
            DEFAULT,
            model=m.ShipmentStatusByHg,
            idempotent=True,
            example=ex.SHIPMENT_STATUS_BY_HG,
            description="The status of a shipment HG fulfils; fields [inferred].",
        ),
        _webhook(
            "cancel_shipment",
            "Cancel shipment",
            "PUT",
            "/webhooks/cancel-shipment",
            "inferred",
            model=m.CancelShipment,
            idempotent=True,
            example=ex.CANCEL_SHIPMENT,
            description="HG cancelled a shipment; fields [inferred].",
        ),
        _webhook(
            "refund_create_result",
            "Refund create result",
            "POST",
            None,
            DEFAULT,
            model=m.RefundCreateResult,
            idempotent=False,
            result=ResultFields(),
            example=ex.REFUND_CREATE_RESULT,
            description="The outcome of a Create Refund, matched to it by request id [doc]. "
            "Method POST and every field name are assumed.",
        ),
    ]
}
