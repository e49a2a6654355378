"""What `hgsync ops` prints: the catalog grouped by direction, and one operation in full."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from engine.definitions.operations import Operation

GROUPS = (
    ("outbound", "MP → HG (hgsync sends)"),
    ("inbound", "HG → MP webhooks (hgsync receives)"),
)


def listing(operations: Iterable[Operation]) -> str:
    """``hgsync ops``: one line per operation (name, method, path, path certainty, batch limit,
    title), under a heading for each direction."""
    ops = list(operations)
    if not ops:
        return ""
    width = {
        "name": max(len(o.name) for o in ops),
        "path": max(len(o.path) for o in ops),
        "certainty": max(len(o.certainty) for o in ops),
    }
    lines = [
        f"  {'name':<{width['name']}}  {'method':<6}  {'path':<{width['path']}}  "
        f"{'path certainty':<{width['certainty']}}  {'batch':<6} title"
    ]
    for direction, heading in GROUPS:
        group = [o for o in ops if o.direction == direction]
        if not group:
            continue
        if len(lines) > 1:
            lines.append("")
        lines.append(heading)
        for op in group:
            batch = f"≤{op.batch_limit}" if op.batch_limit else "-"
            note = ""
            if not op.pipeline:
                note = "  (used by hgsync itself)"
            elif op.query:
                note = "  (a query: the marketplace answers)"
            lines.append(
                f"  {op.name:<{width['name']}}  {op.method:<6}  {op.path:<{width['path']}}  "
                f"{op.certainty:<{width['certainty']}}  {batch:<6} {op.title}{note}"
            )
    return "\n".join(lines)


def describe(op: Operation, origin: str | None = None) -> str:
    """Multi-line text for ``hgsync ops NAME``: route, path parameters, body fields, example;
    ``origin`` is where config corrects it (``targets.hepsiglobal.operations.NAME``), if it does."""
    lines = [
        f"{op.name}: {op.title}",
        f"  {op.method} {op.path}    (path: {op.certainty})",
    ]
    if origin is not None:
        lines.append(f"  as corrected by {origin} in config/hgsync.yaml{_corrections(op)}")
    if op.description:
        lines.append(f"  {op.description}")
    inbound = op.direction == "inbound"
    if op.query:
        lines.append("  HG → MP query: HG asks, hgsync answers from the marketplace's tables")
    elif inbound:
        lines.append(f"  HG → MP webhook: HG sends it, hgsync receives it (`receive: {op.name}`)")
        lines.append("  or pushes it, from a pipeline whose target is a marketplace (kind: marketplace)")
    if op.list_field:
        limit = f", at most {op.batch_limit} a call" if op.batch_limit else ""
        lines.append(f"  entities: each element of `{op.list_field}`{limit}")
    if op.event_id_field:
        lines.append(f"  event id: the body's `{op.event_id_field}`")
    if not op.idempotent:
        verb = "applying" if inbound else "sending"
        lines.append(f"  not idempotent: {verb} it twice may create two records")
    lines.append(f"path parameters: {', '.join(op.path_params) or 'none'}")
    where = "query parameters" if inbound and op.method == "GET" else "body fields"
    if op.model is None:
        lines.append("body: none")
    else:
        lines.extend(_model_fields(where, op.model))
    if op.answer is not None:
        lines.extend(_model_fields("answer fields", op.answer))
    if op.example is not None:
        lines.append("example query parameters:" if where == "query parameters" else "example body:")
        lines.extend("  " + line for line in json.dumps(op.example, indent=2).splitlines())
    return "\n".join(lines)


def _corrections(op: Operation) -> str:
    fix = op.corrected
    if fix is None:
        return ""
    parts = [f"{old} is called {new}" for old, new in (fix.rename or {}).items()]
    if fix.required:
        parts.append("required: " + ", ".join(fix.required))
    if fix.optional:
        parts.append("optional: " + ", ".join(fix.optional))
    parts.extend(f"{name} is {kind}" for name, kind in (fix.types or {}).items())
    parts.extend(
        f"{name} one of " + ", ".join(map(str, values)) for name, values in (fix.choices or {}).items()
    )
    return ": " + "; ".join(parts)


def _model_fields(heading: str, model: type[BaseModel]) -> list[str]:
    schema = model.model_json_schema()
    extras = model.model_config.get("extra") == "allow"
    note = "; unlisted fields are passed through" if extras else ""
    rows = [f"{heading} ({model.__name__}{note}):"]
    rows.extend("  " + field for field in _fields(schema, schema.get("$defs", {}), ""))
    return rows


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
