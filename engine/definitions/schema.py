"""JSON Schema of the files operators write, for editors (`hgsync schema pipeline|inbound|config`).

The pydantic models give the skeleton. For pipeline files the schema also knows, from the
registered plugins, the operation names (an ``enum``), the source kinds and each one's
settings, and, per operation, its path parameters and body fields (``allOf`` of
``if: {operation: NAME}`` / ``then: {request: ...}``), so that an editor completes
``request.body`` for the operation written above it. Body leaves are Jinja templates, so
they are not typed nor required (models fill some in): each keeps its description, and its
allowed values as ``examples``; a
list may be written as a ``$each`` block.

Wherever a value may be written as ``${env:NAME}`` or ``${env:NAME:-default}`` (any scalar
of either file), a number or a boolean also accepts such a string.

With the schema saved (``hgsync schema pipeline > .hgsync/pipeline.schema.json``), the YAML
language server picks it up from the first line of a file::

    # yaml-language-server: $schema=../.hgsync/pipeline.schema.json
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from engine.definitions.operations import Operation
from engine.definitions.pipeline_model import PipelineSpec
from engine.definitions.plugins import known_sources
from engine.definitions.settings import Settings
from engine.definitions.target_kinds import takes

SCHEMAS = {"pipeline": PipelineSpec, "config": Settings}
ENV_PATTERN = r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*(:-.*)?\}$"
_ENV = {"type": "string", "pattern": ENV_PATTERN, "description": "${env:NAME} or ${env:NAME:-default}"}
SCHEMA_LINE = "# yaml-language-server: $schema={path}"


def json_schema(
    what: Literal["pipeline", "inbound", "config"], operations: Mapping[str, Operation] | None = None
) -> dict[str, Any]:
    """The JSON Schema of (outbound) pipeline files, inbound pipeline files or config/hgsync.yaml;
    ``operations``: the catalog as config corrects it (default: as built in)."""
    if what == "inbound":
        return _with_env(_inbound())
    schema = SCHEMAS[what].model_json_schema()
    if what == "pipeline":
        _pipeline_parts(schema, operations)
    else:  # a target's kinds exclude each other (kind is required but for HG's): anyOf says the same
        targets = schema["properties"]["targets"]["additionalProperties"]
        targets["anyOf"] = targets.pop("oneOf")
    return _with_env(schema)


def _inbound() -> dict[str, Any]:
    """Inbound pipeline files: one that applies a webhook (``receive:``) or one that answers
    a query of HG's (``answer:``), as ``anyOf`` with shared ``$defs``."""
    from engine.definitions.inbound_model import AnswerSpec, InboundSpec

    defs: dict[str, Any] = {}
    return {
        "title": "hgsync inbound pipeline",
        "description": "applies a webhook HG sends (receive: WEBHOOK, into: ...) or answers one of "
        "HG's queries from SQL (answer: QUERY); hgsync ops lists both",
        "type": "object",
        "anyOf": [_inline(model.model_json_schema(), defs) for model in (InboundSpec, AnswerSpec)],
        "$defs": defs,
    }


def _pipeline_parts(schema: dict[str, Any], catalog: Mapping[str, Operation] | None) -> None:
    from engine.definitions.plugins import known_operations

    defs = schema.setdefault("$defs", {})
    catalog = known_operations() if catalog is None else catalog
    # MP → HG operations (hepsiglobal targets) and the webhooks a marketplace target is pushed
    operations = {n: op for n, op in catalog.items() if takes(None, op)}
    props = schema["properties"]
    props["operation"]["enum"] = list(operations)
    sources: dict[str, Any] = {}
    for name, connector in known_sources().items():
        model = getattr(connector, "Config", None)
        sources[name] = _inline(model.model_json_schema(), defs) if model is not None else {"type": "object"}
    props["source"] = {
        **{k: v for k, v in props["source"].items() if k not in ("additionalProperties", "type")},
        "type": "object",
        "properties": sources,
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
    }
    branches = []
    for name, op in operations.items():
        request: dict[str, Any] = {
            "path": {
                "type": "object",
                "properties": {p: {"description": f"path parameter {{{p}}}"} for p in op.path_params},
                "required": list(op.path_params),
                "additionalProperties": False,
            }
        }
        if op.model is not None:
            body = op.model.model_json_schema()
            request["body"] = _untyped(body, body.get("$defs", {}))
        branches.append(
            {
                "if": {"properties": {"operation": {"const": name}}, "required": ["operation"]},
                "then": {"properties": {"request": {"properties": request}}},
            }
        )
    schema["allOf"] = branches


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A model's schema without its own ``$defs`` (moved into the pipeline schema's)."""
    schema = copy.deepcopy(schema)
    defs.update(schema.pop("$defs", {}))
    return schema


def _untyped(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A body's schema for templates: objects and arrays kept, leaves described, not typed."""
    if "$ref" in schema:
        return _untyped(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        shapes = [o for o in schema["anyOf"] if o.get("type") != "null"]
        if len(shapes) == 1:
            return {**_untyped(shapes[0], defs), **_described(schema)}
        return _described(schema)
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        out: dict[str, Any] = {
            "type": "object",
            "properties": {k: _untyped(v, defs) for k, v in schema["properties"].items()},
            **_described(schema),
        }
        # not "required": models fill some fields in themselves (totals from items...)
        if schema.get("additionalProperties") is False:
            out["additionalProperties"] = False
        return out
    if kind == "array" and "items" in schema:
        item = _untyped(schema["items"], defs)
        each = {
            "type": "object",
            "description": "one element per element of a list: {$each: '{{ row.items | from_json }}', "
            "$as: item, $map: {...}}",
            "properties": {
                "$each": {"description": "a template giving the list"},
                "$as": {"description": "the element's name in $map's templates (item by default)"},
                "$map": {**item, "description": "one element, its templates reading the $as name"},
            },
            "required": ["$each", "$map"],
            "additionalProperties": False,
        }
        return {"anyOf": [{"type": "array", "items": item}, each, {"type": "string"}], **_described(schema)}
    leaf = _described(schema)
    if "enum" in schema or "const" in schema:
        leaf["examples"] = list(schema.get("enum") or [schema.get("const")])
    return leaf


def _described(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: schema[k] for k in ("description", "title") if k in schema}


def _with_env(node: Any) -> Any:
    """Let every number or boolean also be written as ``${env:...}``."""
    if isinstance(node, list):
        return [_with_env(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("examples", "enum", "const", "default") else _with_env(v)) for k, v in node.items()}
    if out.get("type") in ("integer", "number", "boolean"):
        typed = {k: v for k, v in out.items() if k not in ("description", "title", "default")}
        rest = {k: v for k, v in out.items() if k in ("description", "title", "default")}
        return {"anyOf": [typed, _ENV], **rest}
    return out
