"""Config's corrections of an operation's body fields, and the body model they make.

Where the HG docs leave a body [unknown] (product status, order item delivery, shipment
status), ``targets.<name>.operations.<op>`` can rename a field, make one required or
optional, add one, or give it a type; on any operation with a body it can add a required
field and restrict a field to a list of values (``choices``: cancel_order_item's reasons).
:func:`derive_model` turns the catalog's pydantic model and those corrections into the
*effective* model (``pydantic.create_model``), which :meth:`Operation.with_override` puts in
place of the catalog's, so that a run, ``validate`` (offline and on rows), ``hgsync test``
and ``hgsync ops`` all check the same fields. :func:`override_problems` is what ``validate``
says about the corrections themselves.
"""

from __future__ import annotations

import types as pytypes
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from engine.definitions.problems import suggest
from engine.definitions.targets import OperationOverride
from engine.definitions.yamldoc import Loc

FIELD_CHANGES = ("rename", "required", "optional", "types", "choices")
# what HG's docs must leave open before config may rename a field, drop a requirement or retype one
OPEN_BODIES = ("inferred", "unknown")
_PLACEHOLDERS = {"text": "text", "integer": 1, "number": 1.5, "money": 10.0, "boolean": True, "any": "value"}

Found = tuple[Loc, str, str]  # (location below the override, message, severity)


def changes_fields(override: OperationOverride | None) -> bool:
    """Whether ``override`` corrects the body's fields (not only the method or path)."""
    return override is not None and any(getattr(override, name) for name in FIELD_CHANGES)


def _any_value(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("null", "is null: a value is required (a NULL in the source?)")
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


ANY = Annotated[Any, AfterValidator(_any_value)]
"""A field config added without a type: any JSON value but null and empty text."""


@dataclass(frozen=True)
class Choices:
    """The values config accepts for a field; used as a pydantic ``AfterValidator``."""

    operation: str
    field: str
    values: tuple[Any, ...]

    def __call__(self, value: Any) -> Any:
        if value is not None and not any(value == v and type(value) is type(v) for v in self.values):
            listing = ", ".join(str(v) for v in self.values)
            raise PydanticCustomError(
                "choice",
                "{value} is not an accepted {name} (config's choices.{field} of {operation}: {listing})",
                {
                    "value": repr(value)[:60],
                    "name": self.field.rpartition(".")[2],
                    "field": self.field,
                    "operation": self.operation,
                    "listing": listing,
                },
            )
        return value


def choices_of(annotation: Any) -> tuple[Any, ...]:
    """The values a ``choices`` correction accepts for a field of this annotation (() if none)."""
    if typing.get_origin(annotation) is Annotated:
        for meta in typing.get_args(annotation)[1:]:
            func = getattr(meta, "func", None)
            if isinstance(func, Choices):
                return func.values
        return choices_of(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, pytypes.UnionType):
        return tuple(v for arg in typing.get_args(annotation) for v in choices_of(arg))
    return ()


def field_type(name: str, vocabulary: Mapping[str, Any]) -> Any:
    """The annotation of a ``types:`` name: the catalog's type of that name, ``any`` built in."""
    return ANY if name == "any" else vocabulary[name]


def annotation_of(info: FieldInfo) -> Any:
    """A field's annotation with its constraints (``min_length``, validators) attached."""
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _without_none(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *meta = typing.get_args(annotation)
        return Annotated[(_without_none(inner), *meta)]
    if origin in (typing.Union, pytypes.UnionType):
        kept = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kept[0] if len(kept) == 1 else typing.Union[tuple(kept)]  # noqa: UP007
    return annotation


def _with_choices(annotation: Any, choices: Choices | None) -> Any:
    if choices is None:
        return annotation
    return Annotated[
        annotation, AfterValidator(choices), Field(json_schema_extra={"enum": list(choices.values)})
    ]


def _map_models(annotation: Any, change: Callable[[type[BaseModel]], type[BaseModel]]) -> Any:
    """``annotation`` with each model in it (``list[RefundItem]``...) replaced by ``change(model)``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return change(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return Annotated[(_map_models(args[0], change), *args[1:])]
    if origin is list:
        return list[_map_models(args[0], change)]  # type: ignore[misc]
    if origin in (typing.Union, pytypes.UnionType):
        return typing.Union[tuple(_map_models(a, change) for a in args)]  # noqa: UP007
    return annotation


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's annotation holds (``list[RefundItem]`` → ``[RefundItem]``)."""
    found: list[type[BaseModel]] = []
    _map_models(annotation, lambda model: found.append(model) or model)
    return found


def _info(info: FieldInfo | None, required: bool, description: str) -> Any:
    text = info.description if info is not None and info.description else description
    if required:
        return Field(description=text)
    default = None if info is None or info.is_required() else info.default
    return Field(default, description=text)


def derive_model(
    operation: str,
    model: type[BaseModel],
    override: OperationOverride,
    vocabulary: Mapping[str, Any],
    prefix: str = "",
) -> type[BaseModel]:
    """The body model ``override`` makes of the catalog's ``model`` (checked first by
    :func:`override_problems`: names here are known to exist)."""
    rename = override.rename or {}
    required, optional = set(override.required or ()), set(override.optional or ())
    retyped = override.types or {}
    choices: dict[str, list[Any]] = {}
    nested: dict[str, dict[str, list[Any]]] = {}
    for name, values in (override.choices or {}).items():
        head, _, rest = name.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = values
        else:
            choices[name] = values
    fields: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        new = rename.get(key, key)
        touched = new != key or new in required | optional | set(retyped) | set(choices) | set(nested)
        if not touched and not rename:
            continue  # the subclass keeps it as it is
        annotation = field_type(retyped[new], vocabulary) if new in retyped else annotation_of(info)
        if new in nested:
            sub = OperationOverride(choices=nested[new])
            annotation = _map_models(
                annotation,
                lambda m, sub=sub, at=new: derive_model(operation, m, sub, vocabulary, f"{prefix}{at}."),
            )
        need = (info.is_required() or new in required) and new not in optional
        annotation = _with_choices(
            annotation, Choices(operation, prefix + new, tuple(choices[new])) if new in choices else None
        )
        fields[new] = (_without_none(annotation) if need else annotation | None, _info(info, need, ""))
    for name in sorted((required | set(retyped) | set(choices)) - set(fields) - set(model.model_fields)):
        annotation = field_type(retyped.get(name, "any"), vocabulary)
        annotation = _with_choices(
            annotation, Choices(operation, prefix + name, tuple(choices[name])) if name in choices else None
        )
        need = name in required
        fields[name] = (annotation if need else annotation | None, _info(None, need, "a field config adds"))
    if rename:  # a field cannot be removed from a subclass: build the model anew
        return create_model(model.__name__, __config__=model.model_config, __doc__=model.__doc__, **fields)
    return create_model(model.__name__, __base__=model, __doc__=model.__doc__, **fields)


def derive_example(
    example: Mapping[str, Any] | None, model: type[BaseModel], override: OperationOverride
) -> Any:
    """The catalog's example under the corrected names, with a fitting value in each field that
    config added as required or whose type or accepted values it changed."""
    if example is None:
        return None
    rename = override.rename or {}
    return _fitted(
        {rename.get(key, key): value for key, value in example.items()}, model, override.types or {}
    )


def _fitted(example: dict[str, Any], model: type[BaseModel], types: Mapping[str, str]) -> dict[str, Any]:
    out = dict(example)
    for name, info in model.model_fields.items():
        annotation = annotation_of(info)
        adapter = TypeAdapter(annotation)
        if name in out and _fits(adapter, out[name]):
            continue
        if name not in out and not info.is_required():
            continue
        inner = models_in(annotation)
        value = out.get(name)
        if inner and isinstance(value, dict):
            out[name] = _fitted(value, inner[0], {})
        elif inner and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            out[name] = [_fitted(v, inner[0], {}) for v in value]
        else:
            found = choices_of(annotation)
            fallback = [_PLACEHOLDERS[types.get(name, "any")]]
            out[name] = found[0] if found else (adapter.json_schema().get("examples") or fallback)[0]
    return out


def _fits(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def override_problems(
    name: str,
    model: type[BaseModel] | None,
    method: str,
    certainty: str,
    override: OperationOverride,
    vocabulary: Mapping[str, Any],
) -> list[Found]:
    """What is wrong with ``override`` of the operation ``name`` (its catalog ``model``, effective
    ``method`` and how sure its body's fields are), each at its key below the override."""
    found = list(_method(name, model, method, override))
    if not changes_fields(override):
        return found
    if model is None:
        return [*found, ((), f"{name} has no body: there are no fields to correct", "error")]
    return found + list(_fields(name, model, certainty, override, vocabulary))


def _method(
    name: str, model: type[BaseModel] | None, method: str, override: OperationOverride
) -> Iterator[Found]:
    if model is None or override.method not in ("GET", "DELETE"):
        return
    fields = ", ".join(model.model_fields) or "fields"
    if override.method == "GET":
        yield (
            ("method",),
            f"{name} sends a body ({fields}) and hgsync sends no body with a GET: every request "
            "would go without it; keep the catalog's method, or correct the path instead",
            "error",
        )
    else:
        yield (
            ("method",),
            f"{name} sends a body ({fields}); hgsync sends it with the DELETE, but servers and "
            "proxies may drop a DELETE's body: make sure HG reads it",
            "warning",
        )


def _fields(
    name: str,
    model: type[BaseModel],
    certainty: str,
    override: OperationOverride,
    vocabulary: Mapping[str, Any],
) -> Iterator[Found]:
    catalog = dict(model.model_fields)
    rename = override.rename or {}
    opened = certainty in OPEN_BODIES
    closed = f"{name}'s fields are [{certainty}] in HG's docs: config may add fields and restrict values, not"
    for old, new in rename.items():
        if not opened:
            yield ("rename", old), f"{closed} rename them", "error"
        elif old not in catalog:
            yield (
                ("rename", old),
                f"{old!r} is not a field of {name} (fields: {', '.join(catalog)}){suggest(old, catalog)}",
                "error",
            )
        elif new in catalog and new not in rename:
            yield ("rename", old), f"{name} has a field {new!r} already", "error"
    if not opened:
        rename = {}  # refused above: the fields keep their names
    renamed = {rename.get(k, k): info for k, info in catalog.items()}
    for old in rename:
        if old in (override.required or []) + (override.optional or []) + list(override.types or {}):
            yield (
                ("rename", old),
                f"{old!r} is renamed {rename[old]!r}: name it so in the rest of the override",
                "error",
            )
    for index, field in enumerate(override.optional or []):
        if not opened:
            yield ("optional", index), f"{closed} make required ones optional", "error"
        elif field in (override.required or []):
            yield ("optional", index), f"{field!r} is listed as required too", "error"
        elif field not in renamed or not renamed[field].is_required():
            listing = ", ".join(k for k, i in renamed.items() if i.is_required()) or "none"
            close = suggest(field, [k for k, i in renamed.items() if i.is_required()])
            yield (
                ("optional", index),
                f"{field!r} is not a required field of {name} (required: {listing}){close}",
                "error",
            )
    for field, kind in (override.types or {}).items():
        if kind != "any" and kind not in vocabulary:
            yield (
                ("types", field),
                f"{name}'s catalog defines no type {kind!r} (types: {', '.join(vocabulary)}, any)",
                "error",
            )
        elif field in renamed and not opened:
            yield ("types", field), f"{closed} change their types (add a field of another name)", "error"
    yield from _choices(name, renamed, override, vocabulary)


def _choices(
    name: str, renamed: Mapping[str, FieldInfo], override: OperationOverride, vocabulary: Mapping[str, Any]
) -> Iterator[Found]:
    added = set(override.required or ()) | set(override.types or {})
    for field, values in (override.choices or {}).items():
        head, _, rest = field.partition(".")
        if field in added:
            annotation = field_type((override.types or {}).get(field, "any"), vocabulary)
        elif head not in renamed:
            known = list(renamed) + sorted(added)
            yield (
                ("choices", field),
                f"{head!r} is not a field of {name} (fields: {', '.join(known)}){suggest(head, known)}",
                "error",
            )
            continue
        elif rest:
            inner = models_in(annotation_of(renamed[head]))
            fields = inner[0].model_fields if inner else {}
            if "." in rest or rest not in fields:
                what = f"fields: {', '.join(fields)}" if fields else f"{head} holds no objects"
                yield (
                    ("choices", field),
                    f"{rest!r} is not a field of {name}'s {head} ({what}){suggest(rest, fields)}",
                    "error",
                )
                continue
            annotation = annotation_of(fields[rest])
        else:
            annotation = annotation_of(renamed[field])
        if field in (override.types or {}):
            annotation = field_type(override.types[field], vocabulary)  # type: ignore[index]
        adapter = TypeAdapter(annotation)
        for index, value in enumerate(values):
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                why = exc.errors()[0]["msg"]
                yield ("choices", field, index), f"{value!r} cannot be a value of {field}: {why}", "error"
