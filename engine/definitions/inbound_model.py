"""The model of an inbound ``pipelines/*.yaml`` file: a webhook HG sends, applied to the
marketplace (``receive:``), or a question HG asks, answered from its tables (``answer:``).

An outbound pipeline has ``source:`` and ``operation:``; an inbound one has ``receive:`` or
``answer:`` instead; the loader tells them apart by those keys.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ApplySpec(BaseModel):
    """Rows written to the marketplace by a sink: one per event (or answer), or one per element
    of a list in it (``each:``), in one transaction."""

    model_config = ConfigDict(extra="forbid")

    each: str | None = Field(
        None,
        description="a list in the event, e.g. items or product.variants: one row per element, seen "
        "by templates as `item`; absent: one row per event",
    )
    when: str | None = Field(
        None, description="a Jinja expression; rows for which it is false are skipped, e.g. item.stock >= 0"
    )
    into: dict[str, Any] = Field(
        description="where rows go: one sink, e.g. {table: {connection: marketplace, table: stock, "
        "mode: upsert, key: [sku]}} or {csv: {path: received/stock.csv}}"
    )
    columns: dict[str, Any] = Field(
        description="column name → template of its value; templates see `event` (the body), `item` "
        "(the element, with each:) and `meta` (event_id, operation, received_at)"
    )

    @field_validator("each")
    @classmethod
    def _each(cls, value: str | None) -> str | None:
        if value is not None and not _PATH.match(value):
            raise ValueError(f"each: {value!r} is not a field path like items or product.variants")
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("name at least one column")
        return value


class InboundSpec(ApplySpec):
    """A webhook applied to the marketplace: each event (or each element of a list in it)
    becomes a row written by a sink, in one transaction per event."""

    description: str = Field("", description="what the pipeline is for, for people")
    enabled: bool = Field(True, description="false: events are kept in the inbox but not applied")
    receive: str = Field(description="the webhook HG sends, e.g. stock_update (`hgsync ops` lists them)")


class ResponseSpec(ApplySpec):
    """HG's answers to an outbound pipeline's delivered requests, written back to the
    marketplace (a refund's request id, a shipment's tracking events)."""

    each: str | None = Field(
        None,
        description="a list in HG's answer, e.g. delivery_info: one row per element, seen by templates "
        "as `item`; absent: one row per answer",
    )
    columns: dict[str, Any] = Field(
        description="column name → template of its value; templates see `response` (HG's answer, its "
        "data), `item` (the element, with each:), `key` (the row's key) and `request` (method, path, "
        "params, body of the delivered request)"
    )


class QuerySource(BaseModel):
    """The rows a query answers from: a SQL query whose columns are named as the answer's
    fields (for variant_listing_status: company_id, sku, mp_sku, mp_status, report_date)."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(description="a connection of config/hgsync.yaml")
    sql: str = Field(description="a SELECT; HG's filters and pagination are applied around it")


class AnswerSpec(BaseModel):
    """A question HG asks the marketplace (variant listing status or count), answered from SQL."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", description="what the pipeline is for, for people")
    answer: str = Field(description="the query HG sends: variant_listing_status or variant_listing_count")
    query: QuerySource = Field(description="where the answer comes from")
    max_page_size: int = Field(1000, ge=1, le=10000, description="the most results one page carries")
