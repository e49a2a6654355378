"""The catalog of MP→HG operations, as data: name, method, path template, payload model.

Much of HG's API is [inferred] or [unknown] (``spec/hepsiglobal-api.md``), so each
operation records how sure we are of its path (``certainty``), and an operator can correct
a method or path in ``config/hgsync.yaml`` (``targets.<name>.operations``) without a code
change (:class:`engine.definitions.targets.OperationOverride`). The catalog is registered
under the ``hgsync.operations`` entry point group, as an add-on's would be.

The examples live in :mod:`connectors.hepsiglobal.examples`; a test checks each one passes
its model.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from connectors.hepsiglobal import examples, models
from connectors.hepsiglobal.conventions import advice
from connectors.hepsiglobal.model_types import FIELD_TYPES
from engine.definitions.operations import Operation
from engine.definitions.targets import DuplicateAnswer

# HG's answer to a repeated order, refund or label is undocumented; a 409 is the usual one.
# Config corrects it (targets.<name>.operations.<op>.duplicate_answers).
_ALREADY = (DuplicateAnswer(status=409),)

CATALOG: dict[str, Operation] = {
    op.name: replace(op, advise=partial(advice, op.name), field_types=FIELD_TYPES)
    for op in [
        Operation(
            name="create_token",
            title="Create token",
            method="POST",
            path="/v1/auth/token",
            model=models.TokenRequest,
            certainty="doc",
            idempotent=True,  # a second token does no harm
            pipeline=False,
            description="OAuth 2.0 client credentials; the client fetches and refreshes tokens itself.",
            example=examples.TOKEN_REQUEST,
        ),
        Operation(
            name="product_status",
            title="Product Status",
            method="PUT",
            path="/v1/products/status",
            model=models.ProductStatus,
            certainty="unknown (default chosen)",
            idempotent=True,
            fields_certainty="unknown",
            description="Report a product's or variant's listing status at the marketplace.",
            example=examples.PRODUCT_STATUS,
        ),
        Operation(
            name="create_order",
            title="Create Order",
            method="POST",
            path="/v1/orders",
            model=models.CreateOrder,
            certainty="doc",
            idempotent=False,
            duplicate_answers=_ALREADY,
            fields_certainty="example",
            description="Send an order. Amounts in USD; original_* amounts and a rate when the "
            "sale was in another currency.",
            example=examples.CREATE_ORDER,
        ),
        Operation(
            name="order_item_delivery",
            title="Order Item Delivery",
            method="PUT",
            path="/v1/orders/{order_number}/order_items/{order_item_number}/delivery",
            model=models.OrderItemDelivery,
            certainty="inferred",
            idempotent=True,
            fields_certainty="inferred",
            description="Report an order item delivered to the customer.",
            example=examples.ORDER_ITEM_DELIVERY,
        ),
        Operation(
            name="cancel_order_item",
            title="Cancel order by marketplace",
            method="PUT",
            path="/v1/orders/{order_number}/order_items/{order_item_number}",
            model=models.CancelOrderItem,
            certainty="doc",
            idempotent=True,
            description="Cancel a whole order item line, with a reason.",
            example=examples.CANCEL_ORDER_ITEM,
        ),
        Operation(
            name="shipment_label",
            title="Send shipment label (fulfillment by MP)",
            method="POST",
            path="/v1/shipments/{shipment_id}/label",
            model=models.ShipmentLabel,
            certainty="doc",
            idempotent=False,
            duplicate_answers=_ALREADY,
            description="Send the label of a shipment the marketplace fulfils: URL or base64.",
            example=examples.SHIPMENT_LABEL,
        ),
        Operation(
            name="shipment_status",
            title="Set shipment status (fulfillment by MP)",
            method="PUT",
            path="/v1/shipments/{shipment_id}/status",
            model=models.ShipmentStatus,
            certainty="inferred",
            idempotent=True,
            fields_certainty="inferred",
            description="Report the status of a shipment the marketplace fulfils.",
            example=examples.SHIPMENT_STATUS,
        ),
        Operation(
            name="tracking_by_barcode",
            title="Shipment Tracking With Barcode",
            method="GET",
            path="/v1/tracking/providers/{provider_name}/{tracking_barcode}",
            model=None,
            certainty="doc",
            idempotent=True,
            description="Tracking events of a parcel by carrier (e.g. hepsijet, wwe) and barcode.",
        ),
        Operation(
            name="tracking_by_shipment_id",
            title="Shipment Tracking With Shipment ID",
            method="GET",
            path="/v1/tracking/packages/{shipment_id}",
            model=None,
            certainty="doc",
            idempotent=True,
            description="Tracking events of a shipment by its id.",
        ),
        Operation(
            name="create_refund",
            title="Create Refund",
            method="POST",
            path="/v1/refunds",
            model=models.CreateRefund,
            certainty="doc",
            idempotent=False,
            in_doubt="hold",  # money: a person decides
            duplicate_answers=_ALREADY,
            reference="request_id",  # [inferred]: the result webhook names it [doc]
            fields_certainty="example",
            description="Refund items. Asynchronous and final: it cannot be cancelled; the result "
            "arrives later through the 'Refund create result' webhook.",
            example=examples.CREATE_REFUND,
        ),
    ]
}
