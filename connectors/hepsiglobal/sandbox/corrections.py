"""Config's corrections of the catalog, served by the sandbox as the client applies them.

``targets.<name>.operations`` in ``config/hgsync.yaml`` may move an operation (method, path)
and correct its body's fields (``rename``, ``required``, ``optional``, ``types``, ``choices``:
see :class:`engine.definitions.targets.OperationOverride`). ``hgsync sandbox --target NAME``
loads them, so that a corrected request is served where the client sends it and checked as
the client checks it. The checks here are the sandbox's own, apart from the client's derived
models (``engine/definitions/fields.py``), like the rest of :mod:`.rules`: the body is put
back under the catalog's names and checked by the operation's rules, then what config decides
(added and retyped fields, relaxed requirements, accepted values) is checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from connectors.hepsiglobal.sandbox.operations import OPERATIONS, Operation
from connectors.hepsiglobal.sandbox.rules import (
    Check,
    Errors,
    _datetime,
    _got,
    _integer,
    _is_number,
    _number,
    _string,
    not_an_object,
)
from engine.definitions.targets import OperationOverride

# the bodies the spec leaves [inferred] or [unknown], whose fields config may rename, retype or
# make optional: field → required, as the sandbox's rules check them
OPEN_BODIES: dict[str, dict[str, bool]] = {
    "product_status": {"sku": True, "status": True},
    "order_item_delivery": {"delivered_at": True},
    "shipment_status": {"status": True, "status_date": False},
}


def _present(errs: Errors, obj: dict, key: str, at: str) -> None:
    value = obj.get(key)
    if isinstance(value, str) and not value.strip():
        errs.append(f"{at}{key}: must not be empty, {_got(value)}")


def _json_number(errs: Errors, obj: dict, key: str, at: str) -> None:
    value = obj.get(key)
    if value is not None and (not _is_number(value) or value != value or abs(value) == float("inf")):
        errs.append(f"{at}{key}: must be a JSON number, {_got(value)}")


def _boolean(errs: Errors, obj: dict, key: str, at: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        errs.append(f"{at}{key}: must be true or false, {_got(value)}")


KINDS: dict[str, Callable[[Errors, dict, str, str], None]] = {
    "text": lambda errs, obj, key, at: _string(errs, obj, key, at),
    "integer": _integer,
    "number": _json_number,
    "money": lambda errs, obj, key, at: _number(errs, obj, key, at),
    "datetime": lambda errs, obj, key, at: _datetime(errs, obj, key, at),
    "boolean": _boolean,
    "any": _present,
}


def corrected_operations(
    corrections: Mapping[str, OperationOverride | Mapping[str, Any]],
) -> tuple[Operation, ...]:
    """The sandbox's operations with ``corrections`` applied; an operation the sandbox does not
    serve, or a correction it cannot apply, is a ValueError."""
    fixes = {name: OperationOverride.model_validate(fix) for name, fix in corrections.items()}
    unknown = sorted(set(fixes) - {op.name for op in OPERATIONS})
    if unknown:
        raise ValueError(f"the sandbox serves no operation {', '.join(unknown)}")
    table = []
    for op in OPERATIONS:
        fix = fixes.get(op.name)
        if fix is None:
            table.append(op)
            continue
        check = _corrected_check(op.name, op.check, fix) if _touches_fields(fix) else op.check
        table.append(replace(op, method=fix.method or op.method, path=fix.path or op.path, check=check))
    return tuple(table)


def _touches_fields(fix: OperationOverride) -> bool:
    return bool(fix.rename or fix.required or fix.optional or fix.types or fix.choices)


def _corrected_check(name: str, check: Check, fix: OperationOverride) -> Check:
    fields = OPEN_BODIES.get(name)
    rename, types = fix.rename or {}, fix.types or {}
    if fields is None and (rename or fix.optional):
        raise ValueError(f"{name}'s fields are documented: the sandbox cannot rename them or drop one")
    back = {new: old for old, new in rename.items()}
    optional, required = set(fix.optional or ()), set(fix.required or ())
    # fields whose rule is config's, under the catalog's names: left out of the catalog's rules
    added = {f for f in required if back.get(f, f) not in fields} if fields is not None else set()
    decided = {back.get(f, f) for f in set(types) | added}
    needed = required | {
        rename.get(f, f) for f, need in (fields or {}).items() if need and rename.get(f, f) in types
    }

    def run(params: dict[str, str], body: Any) -> Errors:
        if not isinstance(body, dict):
            return [not_an_object(body)]
        inner = {back.get(k, k): v for k, v in body.items() if k in back or k not in rename}
        for field in decided:
            inner.pop(field, None)
        absent = {back.get(f, f) for f in optional if body.get(f) is None}
        errs = []
        for error in check(params, inner):
            field, _, rest = error.partition(":")
            if field not in decided | absent:
                errs.append(rename.get(field, field) + ":" + rest)
        said = {e.partition(":")[0] for e in errs}
        for field in sorted(needed - optional - said):
            if body.get(field) is None:
                errs.append(f"{field}: required (config's correction of {name})")
        for field, kind in types.items():
            KINDS[kind](errs, body, field, "")
        for field in sorted(required - set(types)):
            _present(errs, body, field, "")
        for field, values in (fix.choices or {}).items():
            _choices(errs, body, field, values)
        return errs

    return run


def _choices(errs: Errors, body: dict, field: str, values: list[Any]) -> None:
    head, _, rest = field.partition(".")
    if rest:
        items = body.get(head)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                before = len(errs)
                _choices(errs, item, rest, values)
                errs[before:] = [f"{head}[{index}].{e}" for e in errs[before:]]
        return
    value = body.get(field)
    if value is not None and not any(value == v and type(value) is type(v) for v in values):
        listing = ", ".join(str(v) for v in values)
        errs.append(f"{field}: must be one of the accepted values ({listing}), {_got(value)}")
