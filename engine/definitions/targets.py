"""The `targets:` block of config/hgsync.yaml: an HTTP API that pipelines send to, and how to talk to it.

:class:`HttpTarget` holds what every target shares (base URL, rate limit, concurrency,
retries, the idempotency header, corrections to the catalog); :class:`TargetSettings` is a
HepsiGlobal API (``kind: hepsiglobal``, the default), reached with OAuth client credentials.
The other kind, a marketplace's webhook endpoints, is in
:mod:`engine.definitions.target_kinds`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, WithJsonSchema, field_validator

from engine.definitions.values import parse_rate


class DuplicateAnswer(BaseModel):
    """An answer by which the API says it already has a request ("already exists")."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=400, le=499, description="the HTTP status of the answer, e.g. 409")
    message: str | None = Field(
        None, description="a regular expression the answer's message must match (any message if absent)"
    )

    @field_validator("message")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def matches(self, status: int | None, message: str | None) -> bool:
        if status != self.status:
            return False
        return self.message is None or re.search(self.message, message or "") is not None


FieldType = Literal["text", "integer", "number", "money", "datetime", "boolean", "any"]


class OperationOverride(BaseModel):
    """A correction to the built-in operation catalog, for what the HG docs leave unknown."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = Field(
        None, description="HTTP method to use instead of the catalog's"
    )
    path: str | None = Field(
        None, description="path template to use instead of the catalog's, e.g. /v1/x/{order_number}"
    )

    duplicate_answers: list[DuplicateAnswer] | None = Field(
        None,
        description="answers meaning 'already have it': a resend of a request whose first answer was "
        "lost that gets one of these counts as delivered (replaces the catalog's list)",
    )
    reference: str | None = Field(
        None,
        description="the field of HG's answer that names an asynchronous request, which a result "
        "webhook reports on later (create_refund: request_id)",
        max_length=100,
    )

    # corrections of the body's fields (engine/definitions/fields.py applies and checks them)
    rename: dict[str, str] | None = Field(
        None,
        description="catalog field → the name HG uses for it, e.g. {delivered_at: delivery_date}; "
        "the field keeps its type and rules (bodies the HG docs leave unknown only)",
    )
    required: list[str] | None = Field(
        None,
        description="fields every body must carry (not null): catalog fields made required, or new "
        "ones (typed by `types`, else any non-empty value)",
    )
    optional: list[str] | None = Field(
        None,
        description="required catalog fields HG does not need (bodies the HG docs leave unknown only)",
    )
    types: dict[str, FieldType] | None = Field(
        None,
        description="the type of an added field, or a new type for a catalog field of a body the HG "
        "docs leave unknown: text, integer, number, money, datetime (ISO 8601 with offset), boolean, any",
    )
    choices: dict[str, list[str | int]] | None = Field(
        None,
        description="the only values a field may take, e.g. {reason: [customer_demand, out_of_stock]} "
        "(cancel_order_item's reasons); `items.reason` for a field of each element of a list",
    )

    @field_validator("required", "optional")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a field is listed twice")
        return value

    @field_validator("choices")
    @classmethod
    def _some_choices(cls, value: dict[str, list[str | int]] | None) -> dict[str, list[str | int]] | None:
        for name, values in (value or {}).items():
            if not values:
                raise ValueError(f"{name}: list at least one value (leave the field out for any value)")
        return value

    @field_validator("path")
    @classmethod
    def _path_starts_with_slash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("a path must start with '/'")
        return value


class Backoff(BaseModel):
    """Exponential backoff with full jitter between attempts of one request."""

    model_config = ConfigDict(extra="forbid")

    base: float = Field(0.5, gt=0, description="seconds before the second attempt (doubles each time)")
    max: float = Field(30.0, gt=0, description="the longest wait between two attempts, in seconds")


class HttpTarget(BaseModel):
    """What every target shares: where it is, and how hard and how often to call it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="e.g. https://api-qa.hepsiglobal.com or http://127.0.0.1:8765")
    rate_limit: Annotated[
        float | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string"},
                    {"type": "number", "exclusiveMinimum": 0},
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(20.0, description="requests a second at most, as '20/s', '600/m' or '1000/h'; null: no limit")
    concurrency: int = Field(8, ge=1, le=256, description="requests in flight at once")
    timeout: float = Field(30.0, gt=0, description="seconds to wait for one response")
    max_attempts: int = Field(
        5, ge=1, le=50, description="attempts of one request (429, 5xx, network errors) before giving up"
    )
    backoff: Backoff = Field(default_factory=Backoff, description="waits between attempts")
    idempotency_header: str | None = Field(
        "Idempotency-Key",
        pattern=r"^[A-Za-z0-9-]+$",
        description="header carrying each request's idempotency key (the same on every resend of "
        "one request); null: send none",
    )

    operations: dict[str, OperationOverride] = Field(
        default_factory=dict, description="per-operation method or path corrections, by operation name"
    )

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _parse_rate(cls, value: object) -> float | None:
        return parse_rate(value)  # type: ignore[arg-type]

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"base_url {value!r} must start with http:// or https:// and a host")
        return value.rstrip("/")


class TargetSettings(HttpTarget):
    """One HepsiGlobal API (the real one, its QA host, or the built-in sandbox): ``kind: hepsiglobal``."""

    kind: Literal["hepsiglobal"] = Field(
        "hepsiglobal",
        description="hepsiglobal (the default): an HG API, called with OAuth client credentials",
    )
    client_id: str = Field(description="OAuth client id; use ${env:HG_CLIENT_ID}")
    client_secret: SecretStr = Field(description="OAuth client secret; use ${env:HG_CLIENT_SECRET}")
    token_path: str = Field("/v1/auth/token", description="where tokens are issued")
    token_refresh_margin: float = Field(
        60.0, ge=0, description="seconds before a token expires when a new one is fetched"
    )
