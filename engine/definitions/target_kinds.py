"""The two kinds of target a pipeline sends to, and which operations each one takes.

- ``kind: hepsiglobal`` (the default, :class:`~engine.definitions.targets.TargetSettings`):
  an HG API, called with OAuth client credentials. It takes the MP → HG operations.
- ``kind: marketplace`` (:class:`MarketplaceTarget`): a marketplace's webhook endpoints (its
  base URL), called as HG calls them, so that stock and price updates from a CSV drop or a
  table can be pushed in HG's format: to backfill, to forward a supplier's feed, to test a
  marketplace's endpoints, or to feed another hgsync receiver. It takes the HG → MP
  webhooks (not the two queries, which HG asks and the marketplace answers), authenticated
  as a receiver checks them: the ``auth`` block is the receiver's own (bearer, basic, or an
  HMAC-SHA256 signature of ``<timestamp>.<raw body>``), and the idempotency key of each
  request goes in ``X-HG-Event-Id`` by default, the header an hgsync receiver deduplicates by.

``targets.<name>`` is one or the other by its ``kind``; :func:`target_kind` tells which a
``kind`` (or its absence) means, for the discriminated union :data:`Target`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from engine.definitions.operations import Operation
from engine.definitions.receiver import ReceiverAuth
from engine.definitions.targets import HttpTarget, TargetSettings

KINDS = ("hepsiglobal", "marketplace")


class MarketplaceTarget(HttpTarget):
    """A marketplace's webhook endpoints, called as HG calls them: ``kind: marketplace``."""

    kind: Literal["marketplace"] = Field(
        description="marketplace: a marketplace's webhook base URL, to push HG → MP webhooks to "
        "(stock_update, price_update...)"
    )
    auth: ReceiverAuth = Field(
        description="how each call proves itself, as a receiver checks it: one of bearer: TOKEN, "
        "basic: {username, password} or hmac: {secret, signature_header, timestamp_header} (the "
        "signature of '<timestamp>.<raw body>'); secrets as ${env:NAME}"
    )
    idempotency_header: str | None = Field(
        "X-HG-Event-Id",
        pattern=r"^[A-Za-z0-9-]+$",
        description="header carrying each request's idempotency key, which a receiver takes as the "
        "event's id (hgsync's receiver acknowledges a repeat without applying it twice); null: none",
    )


# the union's tags are the models' names, as pydantic names a plain union's members in an
# error's location: engine.definitions.problems leaves them out of the path it shows, and
# takes the keys an unknown key is compared with from the model so named
_TAGS = {"hepsiglobal": "TargetSettings", "marketplace": "MarketplaceTarget"}


def target_kind(value: Any) -> str | None:
    """The union tag of a ``targets.<name>`` block: by its ``kind``, HG's when absent."""
    kind = value.get("kind", "hepsiglobal") if isinstance(value, dict) else getattr(value, "kind", None)
    return _TAGS.get(kind) if isinstance(kind, str) else None


Target = Annotated[
    Annotated[TargetSettings, Tag("TargetSettings")] | Annotated[MarketplaceTarget, Tag("MarketplaceTarget")],
    Discriminator(
        target_kind,
        custom_error_type="target_kind",
        custom_error_message=f"kind must be one of: {', '.join(KINDS)} (absent: hepsiglobal)",
    ),
]
"""One ``targets.<name>`` block, of either kind."""


def takes(target: HttpTarget | None, operation: Operation) -> bool:
    """Whether a pipeline may send ``operation`` to ``target`` (None: the target is unknown,
    so any operation a pipeline can send)."""
    if not operation.pipeline or operation.query:
        return False
    if target is None:
        return True
    wanted = "inbound" if isinstance(target, MarketplaceTarget) else "outbound"
    return operation.direction == wanted


def refusal(target_name: str, target: HttpTarget | None, operation: Operation) -> str:
    """Why ``target`` does not take ``operation``, saying where it belongs."""
    if operation.query:
        return (
            f"{operation.name} is a question HG asks the marketplace, not a call to send; answer it "
            f"with an inbound pipeline (`answer: {operation.name}`)"
        )
    if isinstance(target, MarketplaceTarget):
        return (
            f"{operation.name} is an MP → HG operation; target {target_name!r} is a marketplace "
            "(kind: marketplace), which takes HG → MP webhooks; send it to a hepsiglobal target"
        )
    return (
        f"{operation.name} is a webhook HG sends; receive it with an inbound pipeline "
        f"(`receive: {operation.name}`), or push it to a marketplace target (kind: marketplace)"
    )
