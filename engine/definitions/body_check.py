"""A request body template checked against its operation's model without reading a row.

``hgsync validate --offline`` (and ``validate``, before it renders rows) finds what makes every
row fail whatever the data: a required field the template lacks, a literal of the wrong type
(``currency: EUR``, ``quantity: "two"``), a text template where HG wants a number. A leaf that
is one expression (``"{{ row.quantity }}"``) depends on the data and is left to the rows.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from engine.definitions.fields import choices_of
from engine.definitions.pipeline import Pipeline
from engine.definitions.problems import suggest
from engine.definitions.yamldoc import Loc
from engine.errors import Problem
from engine.mapping.render import Each, Leaf

# texts a text template might render; a field that refuses them all can never take its output
_TEXTS = ("x", "1", "2024-07-13T16:01:26+00:00", "USD", "https://example.com/a.pdf", "JVBERi0xLjQK")


def body_problems(pipeline: Pipeline) -> list[Problem]:
    """Problems of ``pipeline``'s request body that no row can avoid."""
    model = pipeline.operation.model
    if model is None or pipeline.body is None:
        return []
    return [
        pipeline.doc.problem(
            ("request", "body", *loc), message, key=message.startswith(_NEAR), severity=_severity(message)
        )
        for loc, message in _object(model, pipeline.body.shape, ())
    ]


_NEAR = "not a field of"  # an extra field named like a known one: a likely misspelling


def _severity(message: str) -> str:
    return "warning" if message.startswith(_NEAR) else "error"


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _object(model: type[BaseModel], shape: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if not isinstance(shape, dict):
        if isinstance(shape, Leaf):
            yield from _leaf(model, None, shape, loc)
        return
    fields = _fields(model)
    unknown = [name for name in shape if name not in fields]
    for name, info in fields.items():
        if info.is_required() and name not in shape:
            close = suggest(name, unknown).replace("did you mean", f"is {name!r} the one written as")
            yield (
                loc,
                f"{name!r} is required and the template has no {name}: add it ({info.description}){close}",
            )
    for name, inner in shape.items():
        if name in fields:
            yield from _value(_annotation(fields[name]), inner, (*loc, name))
        elif model.model_config.get("extra") == "forbid":
            yield (*loc, name), f"unknown field {name!r} (fields: {', '.join(fields)}){suggest(name, fields)}"
        else:  # open models pass extras on; one named like an unwritten optional field is a slip
            optional = [f for f, info in fields.items() if f not in shape and not info.is_required()]
            close = suggest(name, optional)
            if close:
                yield (*loc, name), f"{_NEAR} {model.__name__}, sent as an extra field HG may ignore{close}"


def _annotation(info: FieldInfo) -> Any:
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _members(arg)]
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    return [annotation]


def _value(annotation: Any, shape: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    members = _members(annotation)
    if isinstance(shape, Leaf):
        yield from _leaf(None, annotation, shape, loc)
    elif isinstance(shape, dict):
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if models:
            yield from _object(models[0], shape, loc)
    elif isinstance(shape, list | Each):
        lists = [m for m in members if typing.get_origin(m) is list]
        if not lists:
            return
        (element,) = typing.get_args(lists[0]) or (Any,)
        if isinstance(shape, Each):
            yield from _value(element, shape.template, (*loc, "$map"))
        else:
            for index, inner in enumerate(shape):
                yield from _value(element, inner, (*loc, index))


def _leaf(model: type[BaseModel] | None, annotation: Any, leaf: Leaf, loc: Loc) -> Iterator[tuple[Loc, str]]:
    adapter = TypeAdapter(model if model is not None else annotation)
    if leaf.kind == "literal":
        try:
            adapter.validate_python(leaf.source)
        except ValidationError as exc:
            reasons = "; ".join(_reason(error) for error in exc.errors()[:3])
            yield loc, f"the value {leaf.source!r} written here does not fit: {reasons}"
    elif leaf.kind == "text" and not any(_fits(adapter, text) for text in (*_TEXTS, *choices_of(annotation))):
        yield (
            loc,
            (
                "text around {{ }} always makes a string, and this field takes no string; write the "
                'leaf as one expression, e.g. "{{ row.amount | money }}"'
            ),
        )


def _fits(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _reason(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
