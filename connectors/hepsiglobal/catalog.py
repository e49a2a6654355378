"""The catalog of MP→HG operations, as data: name, method, path template, payload model.

Much of HG's API is [inferred] or [unknown] (``spec/hepsiglobal-api.md``), so each
operation records how sure we are of its path (``certainty``), and an operator can correct
a method or path in ``config/hgsync.yaml`` (``targets.<name>.operations``) without a code
change: :func:`resolve` applies those :class:`OperationOverride` corrections.

The examples live in :mod:`connectors.hepsiglobal.examples`; a test checks each one passes
its model.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from connectors.hepsiglobal import examples, models
from connectors.hepsiglobal.settings import OperationOverride

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Operation:
    """One MP→HG operation; ``describe(op)`` renders it for ``hgsync ops NAME``."""

    name: str
    title: str
    method: str
    path: str
    model: type[BaseModel] | None
    certainty: str
    idempotent: bool
    pipeline: bool = True
    description: str = ""
    example: dict[str, Any] | None = None

    @property
    def path_params(self) -> tuple[str, ...]:
        """The ``{names}`` in the path template, in order, each once."""
        return tuple(dict.fromkeys(_PARAM.findall(self.path)))

    def render_path(self, params: Mapping[str, object]) -> str:
        """The path with each ``{name}`` replaced by ``str(params[name])``, URL-quoted (``/`` too)."""
        wanted = self.path_params
        missing = [name for name in wanted if name not in params]
        extra = sorted(str(name) for name in params if name not in wanted)
        empty = [n for n in wanted if n in params and (params[n] is None or str(params[n]) == "")]
        issues = []
        if missing:
            issues.append(f"missing path parameter(s): {', '.join(missing)}")
        if extra:
            issues.append(f"unexpected path parameter(s): {', '.join(extra)}")
        if empty:
            issues.append(f"empty path parameter(s): {', '.join(empty)}")
        if issues:
            expected = ", ".join(wanted) or "none"
            raise ValueError(f"{self.name} {self.path}: {'; '.join(issues)} (expected: {expected})")
        return _PARAM.sub(lambda m: quote(str(params[m.group(1)]), safe=""), self.path)

    def with_override(self, override: OperationOverride | None) -> Operation:
        """This operation with the method and/or path an operator configured."""
        if override is None or (override.method is None and override.path is None):
            return self
        return replace(
            self,
            method=override.method or self.method,
            path=override.path or self.path,
            certainty="config" if override.path else self.certainty,
        )

    def validate(self, body: object) -> list[str]:
        """Problems with ``body``, one ``field.path: what is wrong`` line each; [] when valid."""
        if self.model is None:
            if body in (None, {}):
                return []
            return [f"body: {self.name} ({self.method}) takes no body"]
        try:
            self.model.model_validate(body)
        except ValidationError as exc:
            return [f"{_loc(err['loc'])}: {_message(err)}" for err in exc.errors()]
        return []


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "missing":
        return "required"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"])


CATALOG: dict[str, Operation] = {
    op.name: op
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
            description="Refund items. Asynchronous and final: it cannot be cancelled; the result "
            "arrives later through the 'Refund create result' webhook.",
            example=examples.CREATE_REFUND,
        ),
    ]
}


class UnknownOperationError(KeyError, ValueError):
    """An operation name that is not in the catalog; the message names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def resolve(name: str, overrides: Mapping[str, OperationOverride] | None = None) -> Operation:
    """The catalog's operation ``name`` with the operator's corrections applied."""
    op = CATALOG.get(name)
    if op is None:
        known = sorted(CATALOG)
        message = f"unknown operation {name!r}; known: {', '.join(known)}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        raise UnknownOperationError(message)
    return op.with_override((overrides or {}).get(name))


def describe(op: Operation) -> str:
    """Multi-line text for ``hgsync ops NAME``: route, path parameters, body fields, example."""
    lines = [
        f"{op.name}: {op.title}",
        f"  {op.method} {op.path}    (path: {op.certainty})",
    ]
    if op.description:
        lines.append(f"  {op.description}")
    if not op.idempotent:
        lines.append("  not idempotent: sending it twice may create two records")
    lines.append(f"path parameters: {', '.join(op.path_params) or 'none'}")
    if op.model is None:
        lines.append("body: none")
    else:
        schema = op.model.model_json_schema()
        extras = op.model.model_config.get("extra") == "allow"
        note = "; unlisted fields are passed through" if extras else ""
        lines.append(f"body fields ({op.model.__name__}{note}):")
        for field in _fields(schema, schema.get("$defs", {}), ""):
            lines.append("  " + field)
    if op.example is not None:
        lines.append("example body:")
        lines.extend("  " + line for line in json.dumps(op.example, indent=2).splitlines())
    return "\n".join(lines)


def _fields(schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> list[str]:
    rows: list[str] = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        kind, nested = _type_of(prop, defs)
        need = "required" if name in required else "optional"
        rows.append(f"{prefix}{name}  {kind}  {need}  {prop.get('description', '')}".rstrip())
        if nested is not None:
            suffix = "[]." if kind.startswith("array") else "."
            rows.extend(_fields(nested, defs, f"{prefix}{name}{suffix}"))
    return rows


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """A short type name for a JSON-schema property, and the object schema to list below it."""
    if "$ref" in prop:
        return "object", defs[prop["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in prop:
        parts = [_type_of(p, defs) for p in prop["anyOf"]]
        nested = next((n for _, n in parts if n is not None), None)
        return " | ".join(k for k, _ in parts), nested
    if "const" in prop:
        return json.dumps(prop["const"]), None
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"]), None
    kind = prop.get("type", "any")
    if kind == "array":
        inner, nested = _type_of(prop.get("items", {}), defs)
        return f"array of {inner}", nested
    if kind == "string" and prop.get("format") == "date-time":
        return "date-time", None
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">")):
        if key in prop:
            return f"{kind} {sign} {prop[key]}", None
    return str(kind), None
