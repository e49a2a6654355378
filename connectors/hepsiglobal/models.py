"""Payload models of the MP→HG operations (pydantic v2), one per operation that has a body.

Strict where ``spec/hepsiglobal-api.md`` says [doc], open (``extra="allow"``) where it does
not, so that an operator can send a field HG wants that nobody has documented yet. Every
field carries a ``description``; ``hgsync ops NAME`` prints them. The Create Order models
live in :mod:`connectors.hepsiglobal.order_models` and are re-exported here.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from connectors.hepsiglobal.model_types import (
    DateTimeWithOffset,
    Money,
    NonEmptyStr,
    PositiveInt,
    Usd,
    problem,
    raise_problems,
)
from connectors.hepsiglobal.order_models import Address, CreateOrder, Customer, OrderItem

__all__ = [
    "Address",
    "CancelOrderItem",
    "CreateOrder",
    "CreateRefund",
    "Customer",
    "OrderItem",
    "OrderItemDelivery",
    "ProductStatus",
    "RefundItem",
    "ShipmentLabel",
    "ShipmentStatus",
    "TokenRequest",
]

_OPEN = ConfigDict(extra="allow")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise PydanticCustomError("http_url", "must be an http:// or https:// URL")
    return value


def _base64(value: str) -> str:
    compact = "".join(value.split())  # line breaks inside base64 are common and harmless
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("base64", "is not valid base64") from None
    if not decoded:
        raise PydanticCustomError("base64", "is empty")
    return value


HttpUrlStr = Annotated[StrictStr, AfterValidator(_http_url)]
Base64Str = Annotated[StrictStr, AfterValidator(_base64)]


class TokenRequest(BaseModel):
    """OAuth 2.0 client credentials [doc]; the client sends this itself."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["client_credentials"] = Field(
        "client_credentials", description="always client_credentials"
    )
    client_id: NonEmptyStr = Field(description="the marketplace's client id")
    client_secret: SecretStr = Field(description="the marketplace's client secret")


class ProductStatus(BaseModel):
    """A product's or variant's listing status at the marketplace [inferred]."""

    model_config = _OPEN

    sku: NonEmptyStr = Field(description="HG variant code, e.g. HBV00000ABCD1")
    status: NonEmptyStr = Field(description="listing status at the marketplace, e.g. ENABLED")


class CancelOrderItem(BaseModel):
    """Cancel a whole order item line (``PUT .../order_items/{order_item_number}``) [doc]."""

    model_config = _OPEN

    reason: NonEmptyStr = Field(
        description="why, e.g. customer_demand; the full list is [unknown], any non-empty text"
    )


class OrderItemDelivery(BaseModel):
    """The marketplace reports an item delivered to the customer [inferred]."""

    model_config = _OPEN

    delivered_at: DateTimeWithOffset = Field(description="when it was delivered, with offset")


class ShipmentLabel(BaseModel):
    """A shipping label for a shipment the marketplace fulfils: a URL or the file in base64 [doc]."""

    model_config = _OPEN

    shipment_label_url: HttpUrlStr | None = Field(
        None, description="http(s) URL of the label; null when the label is sent in base64"
    )
    shipment_label_base64: Base64Str | None = Field(
        None, description="the label file in base64; required when shipment_label_url is null"
    )
    tracking_number: NonEmptyStr = Field(description="the carrier's tracking number")

    @model_validator(mode="after")
    def _url_or_base64(self) -> ShipmentLabel:
        """At least one [doc]; both are allowed (the docs do not forbid it)."""
        if self.shipment_label_url is None and self.shipment_label_base64 is None:
            raise_problems(
                "ShipmentLabel",
                [problem(("shipment_label_base64",), "required when shipment_label_url is null")],
            )
        return self


class ShipmentStatus(BaseModel):
    """The status of a shipment the marketplace fulfils [inferred]; values [unknown]."""

    model_config = _OPEN

    status: NonEmptyStr = Field(description="shipment status, e.g. IN_TRANSIT; values [unknown]")
    status_date: DateTimeWithOffset | None = Field(
        None, description="when the status was reached, with offset"
    )


class RefundItem(BaseModel):
    """One refunded order item [example]."""

    model_config = _OPEN

    order_item_number: NonEmptyStr = Field(description="the refunded item line's number, e.g. oi1")
    quantity: PositiveInt = Field(description="units refunded, an integer above 0")
    reason: NonEmptyStr = Field(description="why, e.g. incorrect_order")
    amount: Money = Field(description="amount refunded, USD")
    currency: Usd | None = Field(None, description="currency of amount: USD")
    customer_explanation: StrictStr | None = Field(None, description="the customer's own words")


class CreateRefund(BaseModel):
    """A refund (``POST /v1/refunds``): asynchronous and final, it cannot be cancelled [doc]."""

    model_config = _OPEN

    refund_number: NonEmptyStr = Field(description="the marketplace's refund number")
    order_number: NonEmptyStr = Field(description="the order the refund belongs to")
    refund_date: DateTimeWithOffset = Field(description="when the refund was made, with offset")
    items: list[RefundItem] = Field(min_length=1, description="the refunded items, at least one")
