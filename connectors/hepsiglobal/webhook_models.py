"""Payload models of the HG → MP webhooks (pydantic v2): the events HG sends the marketplace.

HG's "Webhooks Integration API" is only partly documented (``spec/hepsiglobal-api.md``,
section "HG → MP webhooks"). The rule, as for the MP→HG models in
:mod:`connectors.hepsiglobal.models`:

- **[doc]** fields are typed strictly (a number is a JSON number, an integer is not a string
  or a boolean). Of those, the fields an event cannot be applied without are required: the
  entity's code (``spu``, ``sku``), a price update's ``items`` and each price, the five
  fields of an order cancel, a shipment's order and tracking numbers. A price update carries
  at most 1000 items [doc]; the model enforces that.
- **[inferred]** payloads (Product Create, Variant Create, Stock update and the events whose
  fields the spec only names in their titles) are open: every field optional, loosely typed.
- Every model keeps unknown fields (``extra="allow"``): HG may send fields nobody has
  documented yet, and an event must never be refused for one; ``model_dump()`` includes them.

The two queries HG asks (Variant Listing Status and Count) live in
:mod:`connectors.hepsiglobal.webhook_queries`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from connectors.hepsiglobal.model_types import CurrencyCode, Money, NonEmptyStr, PositiveInt

__all__ = [
    "BulkMerchantActive",
    "BulkMerchantInactive",
    "CancelShipment",
    "CreateShipment",
    "OrderCancelBySeller",
    "PRICE_UPDATE_LIMIT",
    "PriceItem",
    "PriceUpdate",
    "ProductCreate",
    "ProductEnableDisable",
    "ProductInfo",
    "ProductUpdate",
    "ListingPriority",
    "RefundCreateResult",
    "SendInvoice",
    "ShipmentStatusByHg",
    "ShipmentTracking",
    "StockItem",
    "StockUpdate",
    "VariantCreate",
    "VariantInfo",
    "VariantUpdate",
]

_OPEN = ConfigDict(extra="allow")

PRICE_UPDATE_LIMIT = 1000
"""At most this many items in one Price update call [doc]."""

# [inferred] fields are ``Any``: named and described, never coerced, never a reason to refuse.


# -- products and variants ---------------------------------------------------------------------


class VariantInfo(BaseModel):
    """One variant in a product event: only its ``sku`` is documented [doc]; the rest passes through."""

    model_config = _OPEN

    sku: NonEmptyStr = Field(description="HG variant code, e.g. HBCV00000ABCD1")


class ProductInfo(BaseModel):
    """The ``product`` object of a Product Update [doc]; each field typed, only ``spu`` required."""

    model_config = _OPEN

    spu: NonEmptyStr = Field(description="HG product code, e.g. HB0000144QYJ")
    name: StrictStr | None = Field(None, description="product name")
    brand: StrictStr | None = Field(None, description="brand name")
    variant_axes: list[StrictStr] | None = Field(
        None, description="attribute names the variants differ by, e.g. ['Color', 'Size']"
    )
    category_trail: StrictStr | None = Field(
        None, description="category path joined with ' > ', e.g. 'Home > Kitchen > Mugs'"
    )
    product_id: Any = Field(None, description="HG's product id (type [unknown]: string or integer)")
    updated_at: StrictStr | None = Field(None, description="when HG last changed it (ISO 8601)")


class ProductUpdate(BaseModel):
    """``PUT /webhooks/product-update`` [doc]: a product and its variants."""

    model_config = _OPEN

    product: ProductInfo = Field(description="the product")
    variants: list[VariantInfo] = Field(description="the product's variants, each with its sku")


class ProductCreate(BaseModel):
    """Product Create: the same shape as Product Update [inferred], so open: nothing required."""

    model_config = _OPEN

    product: Any = Field(
        None, description="the product: spu, name, brand, variant_axes, category_trail, product_id"
    )
    variants: Any = Field(None, description="the product's variants (sku, ...)")


class VariantUpdate(BaseModel):
    """``PUT /webhooks/variant-update`` [doc]: one variant's data."""

    model_config = _OPEN

    sku: NonEmptyStr = Field(description="HG variant code, e.g. HBCV00000ABCD1")
    spu: StrictStr | None = Field(None, description="HG product code the variant belongs to")
    name: StrictStr | None = Field(None, description="variant name")
    barcode: StrictStr | None = Field(None, description="barcode (EAN/GTIN)")
    attributes: dict[str, Any] | None = Field(
        None, description="attribute name → value, e.g. {'Color': 'Blue'}"
    )
    description: StrictStr | None = Field(None, description="description; may hold HTML")


class VariantCreate(BaseModel):
    """Variant Create: alike Variant Update [inferred], so open: nothing required."""

    model_config = _OPEN

    sku: Any = Field(None, description="HG variant code")
    spu: Any = Field(None, description="HG product code")
    name: Any = Field(None, description="variant name")
    barcode: Any = Field(None, description="barcode")
    attributes: Any = Field(None, description="attribute name → value")
    description: Any = Field(None, description="description; may hold HTML")


class ProductEnableDisable(BaseModel):
    """Enable/Disable product: method only [doc]; the fields are [inferred] from the title."""

    model_config = _OPEN

    company_id: Any = Field(None, description="the HG seller's id")
    spu: Any = Field(None, description="HG product code")
    sku: Any = Field(None, description="HG variant code, when one variant is meant")
    status: Any = Field(None, description="the new state, e.g. ENABLED or DISABLED (values [unknown])")


class ListingPriority(BaseModel):
    """Listing Priority: method only [doc]; the fields are [inferred] from the title."""

    model_config = _OPEN

    company_id: Any = Field(None, description="the HG seller's id")
    sku: Any = Field(None, description="HG variant code")
    priority: Any = Field(None, description="the listing priority (scale [unknown])")


# -- stock and price ----------------------------------------------------------------------------


class StockItem(BaseModel):
    """One stock line [inferred]: which of ``stock`` or ``quantity`` HG sends is not known."""

    model_config = _OPEN

    sku: Any = Field(None, description="HG variant code")
    company_id: Any = Field(None, description="the HG seller's id")
    stock: Any = Field(None, description="units available (or `quantity`)")
    quantity: Any = Field(None, description="units available (or `stock`)")


class StockUpdate(BaseModel):
    """Stock update: ``{"items": [...]}``, the bulk shape of Price update [inferred]; open."""

    model_config = _OPEN

    items: list[StockItem] | None = Field(None, description="stock lines (1000 a call at most [inferred])")


class PriceItem(BaseModel):
    """One price line of a Price update [doc]."""

    model_config = _OPEN

    sku: NonEmptyStr = Field(description="HG variant code")
    company_id: StrictInt = Field(description="the HG seller's id, an integer")
    price: Money = Field(description="the selling price, a JSON number")
    currency: CurrencyCode = Field(description="ISO 4217 code of price and retail_price")
    retail_price: Money | None = Field(None, description="the list price before discount")
    channel: StrictStr | None = Field(None, description="the sales channel the price is for")
    discount_percentage: Money | None = Field(None, description="discount in percent, a JSON number")


class PriceUpdate(BaseModel):
    """``PUT /webhooks/price-update`` [doc]: at most 1000 items a call."""

    model_config = _OPEN

    items: list[PriceItem] = Field(
        min_length=1,
        max_length=PRICE_UPDATE_LIMIT,
        description=f"price lines, 1 to {PRICE_UPDATE_LIMIT} [doc]",
    )


class BulkMerchantActive(BaseModel):
    """Bulk Merchant Active: method only [doc]; a list of HG sellers is [inferred]."""

    model_config = _OPEN

    company_ids: Any = Field(None, description="the HG sellers (company ids) now active")


class BulkMerchantInactive(BaseModel):
    """Bulk Merchant Inactive: method only [doc]; a list of HG sellers is [inferred]."""

    model_config = _OPEN

    company_ids: Any = Field(None, description="the HG sellers (company ids) now inactive")


# -- orders, invoices, shipments, refunds -------------------------------------------------------


class SendInvoice(BaseModel):
    """Send invoice: method only [doc]; the fields are [inferred] from the title."""

    model_config = _OPEN

    order_number: Any = Field(None, description="the marketplace's order number")
    invoice_url: Any = Field(None, description="where the invoice can be fetched")
    invoice_number: Any = Field(None, description="the invoice's number")


class OrderCancelBySeller(BaseModel):
    """``PUT /webhooks/order-cancel`` [doc]: the seller cancelled (part of) an order item."""

    model_config = _OPEN

    cancel_id: StrictInt = Field(description="HG's id of this cancellation, an integer; identifies the event")
    order_number: NonEmptyStr = Field(description="the marketplace's order number")
    order_item_number: NonEmptyStr = Field(
        description="the order item, e.g. NMSAC3R37F2891PN-IO-1_HBCV00000ABCD1 (format is a convention)"
    )
    cancel_quantity: PositiveInt = Field(description="units cancelled, an integer above 0")
    reason: NonEmptyStr = Field(description="why, e.g. out_of_stock")


class ShipmentTracking(BaseModel):
    """One tracking entry of a Create shipment [doc]."""

    model_config = _OPEN

    carrier: NonEmptyStr = Field(description="the carrier, e.g. hepsijet or wwe")
    tracking_number: NonEmptyStr = Field(description="the carrier's tracking number")
    is_first_mile: StrictBool | None = Field(None, description="whether this is the first-mile leg")
    is_default: StrictBool | None = Field(None, description="whether this is the tracking to show")


class CreateShipment(BaseModel):
    """``POST /webhooks/create-shipment`` [doc partly]: shipment and item details are [unknown]."""

    model_config = _OPEN

    order_number: NonEmptyStr = Field(description="the marketplace's order number")
    tracking: list[ShipmentTracking] = Field(description="the shipment's tracking entries")


class ShipmentStatusByHg(BaseModel):
    """Set shipment status (fulfillment by HG): method only [doc]; fields [inferred]."""

    model_config = _OPEN

    shipment_id: Any = Field(None, description="HG's shipment id")
    order_number: Any = Field(None, description="the marketplace's order number")
    status: Any = Field(None, description="the shipment's status (values [unknown])")
    status_date: Any = Field(None, description="when the status was reached")


class CancelShipment(BaseModel):
    """Cancel shipment: method only [doc]; fields [inferred]."""

    model_config = _OPEN

    shipment_id: Any = Field(None, description="HG's shipment id")
    order_number: Any = Field(None, description="the marketplace's order number")
    reason: Any = Field(None, description="why, if given")


class RefundCreateResult(BaseModel):
    """The result of a Create Refund, matched to it by request id [doc]; field names [inferred]."""

    model_config = _OPEN

    request_id: Any = Field(
        None, description="the request id Create Refund answered with; matches the result to it"
    )
    refund_number: Any = Field(None, description="the marketplace's refund number")
    status: Any = Field(None, description="the outcome, e.g. ACCEPTED or REJECTED (values [unknown])")
    reason: Any = Field(None, description="why it was rejected, if it was")
