"""The Create Order payload (``POST /v1/orders``): Order, OrderItem, Customer, Address.

Strict where the HG documentation is firm [doc]: amounts are JSON numbers in USD; when the
sale was in another currency the ``original_*`` amounts and an exchange rate are required (a
null rate lets HG apply its default); an item number appears once in an order. That an item
number is ``<order_number>_<sku>`` is a convention of HG's examples, not a rule (the Create
Refund example breaks it): :func:`connectors.hepsiglobal.conventions.advice` warns about it,
nothing here rejects it. Open
(``extra="allow"``) everywhere else, because the full Order schema is not published.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from pydantic_core import InitErrorDetails

from connectors.hepsiglobal.model_types import (
    CurrencyCode,
    DateTimeWithOffset,
    Money,
    NonEmptyStr,
    PositiveInt,
    PositiveNumber,
    Usd,
    problem,
    raise_problems,
)

_OPEN = ConfigDict(extra="allow")
RATE_FIELDS = ("currency_rate", "exchange_rate")


class Customer(BaseModel):
    """The buyer [example]; other fields are passed through."""

    model_config = _OPEN

    name: StrictStr | None = Field(None, description="full name of the buyer")
    phone: StrictStr | None = Field(None, description="phone number, E.164 style, e.g. +16172531000")
    email: StrictStr | None = Field(None, description="e-mail address of the buyer")


class Address(BaseModel):
    """A postal address; HG's field names are [unknown], so this conventional shape allows extras."""

    model_config = _OPEN

    name: StrictStr | None = Field(None, description="recipient's name")
    phone: StrictStr | None = Field(None, description="recipient's phone, E.164 style")
    country_code: StrictStr | None = Field(None, description="ISO 3166-1 alpha-2 code, e.g. US")
    city: StrictStr | None = Field(None, description="city")
    district: StrictStr | None = Field(None, description="district, county or state")
    address_line1: StrictStr | None = Field(None, description="first address line")
    address_line2: StrictStr | None = Field(None, description="second address line")
    postal_code: StrictStr | None = Field(None, description="postal or ZIP code")


class OrderItem(BaseModel):
    """One line of an order [example]; amounts in USD [doc]."""

    model_config = _OPEN

    item_number: NonEmptyStr = Field(
        description="the line's number, once per order; often <order_number>_<sku>, e.g. 1001_HBV00000ABCD1"
    )
    sku: NonEmptyStr = Field(description="HG variant code, e.g. HBV00000ABCD1")
    spu: NonEmptyStr | None = Field(None, description="HG product code, e.g. HB0000144QYJ")
    company_id: StrictInt | None = Field(None, description="the HG seller's id")
    product_name: StrictStr | None = Field(None, description="product name as sold")
    quantity: PositiveInt = Field(description="units sold, an integer above 0")
    esd: DateTimeWithOffset | None = Field(None, description="expected ship date, ISO 8601 with offset")
    unit_product_price: Money = Field(description="price of one unit, USD")
    total_amount_excl_vat: Money | None = Field(None, description="line total without VAT, USD")
    total_amount: Money = Field(description="line total including VAT, USD")
    vat_amount: Money | None = Field(None, description="VAT of the line, USD")
    merchant_campaign_amount: Money | None = Field(None, description="seller-funded discount, USD")
    marketplace_campaign_amount: Money | None = Field(None, description="marketplace-funded discount, USD")
    total_discount_amount: Money | None = Field(None, description="all discounts of the line, USD")
    base_price: Money | None = Field(None, description="list price of one unit before discounts, USD")
    currency: Usd | None = Field(None, description="currency of the amounts above: USD")
    original_total_amount: Money | None = Field(
        None, description="line total in the sale's currency; required when that is not USD"
    )
    original_currency: CurrencyCode | None = Field(
        None, description="currency of the sale, e.g. EUR (defaults to the order's)"
    )
    campaign: dict[str, Any] | None = Field(None, description="campaign details; fields [unknown]")


class CreateOrder(BaseModel):
    """An order sent to HG (``POST /v1/orders``)."""

    model_config = _OPEN

    order_number: NonEmptyStr = Field(description="the marketplace's order number, a string")
    marketplace: StrictStr | None = Field(None, description="marketplace code, e.g. hepsiglobal")
    order_date: DateTimeWithOffset = Field(description="when the order was placed, with offset")
    shipping_type: StrictInt | None = Field(None, description="shipping type code, e.g. 1")
    delivery_point_code: StrictStr | None = Field(None, description="pick-up point code, if any")
    order_amount: Money = Field(description="order total, USD")
    currency: Usd = Field(description="currency of every amount: USD [doc]")
    merchant_campaign_amount: Money | None = Field(None, description="seller-funded discount, USD")
    marketplace_campaign_amount: Money | None = Field(None, description="marketplace-funded discount, USD")
    total_discount_amount: Money | None = Field(None, description="all discounts of the order, USD")
    original_order_amount: Money | None = Field(
        None, description="order total in the sale's currency; required when that is not USD"
    )
    original_currency: CurrencyCode | None = Field(
        None, description="currency the customer paid in, e.g. EUR"
    )
    currency_rate: PositiveNumber | None = Field(
        None,
        description="original / USD rate, e.g. 1.05; required (or exchange_rate) when the sale "
        "was not in USD; null lets HG apply its default rate",
    )
    exchange_rate: PositiveNumber | None = Field(
        None, description="the same rate under the name the HG docs' text uses"
    )
    customer: Customer | None = Field(None, description="the buyer: name, phone, email")
    shipping_address: Address | None = Field(None, description="where the parcel goes")
    billing_address: Address | None = Field(None, description="invoice address")
    items: list[OrderItem] = Field(min_length=1, description="the order lines, at least one")

    @model_validator(mode="after")
    def _documented_rules(self) -> CreateOrder:
        problems: list[InitErrorDetails] = []
        foreign = self.original_currency not in (None, "USD")
        if foreign:
            if self.original_order_amount is None:
                problems.append(
                    problem(
                        ("original_order_amount",),
                        f"required when original_currency is {self.original_currency} (not USD)",
                    )
                )
            if not any(name in self.model_fields_set for name in RATE_FIELDS):
                problems.append(
                    problem(
                        ("currency_rate",),
                        f"required when original_currency is {self.original_currency}: a number "
                        "above 0, or null to let HG apply its default rate (exchange_rate is "
                        "accepted as well)",
                    )
                )
        rates = (self.currency_rate, self.exchange_rate)
        if None not in rates and rates[0] != rates[1]:
            problems.append(problem(("exchange_rate",), "differs from currency_rate; give one rate"))
        first: dict[str, int] = {}
        for index, item in enumerate(self.items):
            earlier = first.setdefault(item.item_number, index)
            if earlier != index:
                problems.append(
                    problem(
                        ("items", index, "item_number"),
                        f"'{item.item_number}' is already the number of items[{earlier}]; each line "
                        "of an order needs its own (merge the lines, or number them apart)",
                        item.item_number,
                    )
                )
            item_currency = item.original_currency or self.original_currency
            if item_currency not in (None, "USD") and item.original_total_amount is None:
                problems.append(
                    problem(
                        ("items", index, "original_total_amount"),
                        f"required when the sale's currency is {item_currency} (not USD)",
                    )
                )
        raise_problems("CreateOrder", problems)
        return self
