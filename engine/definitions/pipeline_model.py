"""The model of one ``pipelines/*.yaml`` file (its blocks, their rules and their docs)."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from engine.definitions.inbound_model import ResponseSpec
from engine.definitions.values import parse_every

# what YAML may hold; validation turns it into seconds
_EVERY_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+\s*[smhd]\s*$"},
        {"type": "integer", "minimum": 1},
        {"type": "null"},
    ]
}


def _schedule_schema(schema: dict[str, Any]) -> None:
    """A schedule may also be written as its cron expression alone."""
    schema["anyOf"].insert(0, {"type": "string", "description": "a cron expression, e.g. '*/5 * * * *'"})


class Schedule(BaseModel):
    """When the daemon runs the pipeline: a cron expression or a fixed interval."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, description="five-field cron expression, e.g. '*/5 * * * *'")
    every: Annotated[int | None, WithJsonSchema(_EVERY_SCHEMA)] = Field(
        None, description="a fixed interval: 30s, 5m, 1h or 1d (or a number of seconds)"
    )
    timezone: str = Field("UTC", description="the time zone of the cron expression, e.g. Europe/Istanbul")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"cron": value}
        return value

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return None if value is None else parse_every(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use a name like UTC or Europe/Istanbul)"
            ) from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from apscheduler.triggers.cron import CronTrigger

        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} must have five fields: minute hour day month weekday")
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"cron {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give either cron or every, not both and not neither")
        return self

    def describe(self) -> str:
        if self.every is not None:
            return f"every {self.every}s"
        return f"cron '{self.cron}' ({self.timezone})"


class RequestMapping(BaseModel):
    """How a row becomes a request: path parameters and a body whose leaves are Jinja templates.

    A leaf that is one expression, ``"{{ row.quantity }}"``, keeps the value's type (numbers stay
    numbers); a leaf with text around it renders to a string; other leaves are taken as written.
    """

    model_config = ConfigDict(extra="forbid")

    path: dict[str, Any] = Field(default_factory=dict, description="the operation's path parameters")
    body: Any = Field(None, description="the JSON body, as YAML; absent for operations without a body")


class Batch(BaseModel):
    """How a bulk operation's rows are grouped into requests."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(
        ge=1,
        description="the most list elements (each row's items) one request carries; at most the "
        "operation's limit (1000 for price_update and stock_update)",
    )


class PipelineSpec(BaseModel):
    """One pipelines/*.yaml file."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", description="what the pipeline is for, for people")
    enabled: bool = Field(True, description="false: the daemon does not schedule it")
    schedule: Schedule | None = Field(
        None,
        description="when the daemon runs it: a cron expression, {cron: ..., timezone: ...} or "
        "{every: 5m}; absent: by hand only",
        json_schema_extra=_schedule_schema,
    )
    source: dict[str, Any] = Field(
        description="where rows come from: one of the source types, e.g. {sql: {...}}"
    )
    key: str = Field(description="a template giving each row's unique key, e.g. '{{ row.item_number }}'")
    when: str | None = Field(
        None, description="a Jinja expression; rows for which it is false are skipped, e.g. row.status == 'x'"
    )
    target: str | None = Field(
        None, description="which of config's targets; may be left out when there is one"
    )
    operation: str = Field(
        description="the operation each row becomes; `hgsync ops` lists them: an MP → HG operation "
        "for a hepsiglobal target, an HG → MP webhook (stock_update, price_update...) for a "
        "marketplace target"
    )
    mode: Literal["insert", "upsert"] = Field(
        "insert",
        description="insert: send each key once; upsert: send new keys and keys whose request changed",
    )
    request: RequestMapping = Field(default_factory=RequestMapping, description="the request of each row")
    batch: Batch | None = Field(
        None,
        description="bulk operations (stock_update, price_update): rows are grouped into requests of "
        "at most the operation's limit of items; `batch: {size: N}` sets a lower one",
    )
    response: ResponseSpec | None = Field(
        None,
        description="HG's answers to delivered requests written back to the marketplace (a refund's "
        "request id, tracking events): each answer, or each element of a list in it (each:), becomes "
        "a row of a table or a CSV file, like an inbound pipeline's",
    )
    in_doubt: Literal["resend", "hold"] | None = Field(
        None,
        description="for operations that are not idempotent (create_order, shipment_label, create_refund): "
        "what to do with a request whose answer was lost (connection dropped after sending, read timeout) "
        "or that a killed process left on the wire: resend it with the same idempotency key, or hold it "
        "for a person (`hgsync history --in-doubt`, `hgsync resolve`); default: the operation's "
        "(hold for create_refund, resend for the others)",
    )
