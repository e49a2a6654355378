"""What `hgsync ops NAME` prints of an operation: route, path parameters, body fields, example."""

from __future__ import annotations

import json
from typing import Any

from engine.definitions.operations import Operation


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
