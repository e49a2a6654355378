"""Rows into requests: one sandboxed Jinja environment, strict about undefined names.

A mapping (the pipeline's ``request`` block, its ``key`` and its ``when``) is compiled once
per pipeline into :class:`Compiled` leaves. A leaf that is exactly one expression,
``"{{ row.quantity }}"``, is evaluated as an expression and keeps its type; a leaf with text
around its expressions renders to a string; a number, boolean or plain text leaf is taken as
written. Row values are data handed to templates, never templates themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from engine.mapping import limits
from engine.mapping.filters import FILTERS

ROW = "row"
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|\{#).)*)\}\}\s*$", re.S)


class RowValues(dict):
    """The ``row`` seen by templates: a dict whose missing columns fail with their name."""


class ItemValues(dict):
    """An element of a ``$each`` list seen by templates; missing fields fail with their name."""


class _Undefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        if isinstance(self._undefined_obj, RowValues):
            columns = ", ".join(sorted(self._undefined_obj)) or "none"
            return f"row has no column {self._undefined_name!r} (columns: {columns})"
        if isinstance(self._undefined_obj, ItemValues):
            fields = ", ".join(sorted(self._undefined_obj)) or "none"
            return f"the element has no field {self._undefined_name!r} (fields: {fields})"
        return super()._undefined_message


class _Environment(ImmutableSandboxedEnvironment):
    """Reads ``row.items`` as the column ``items``, not as the dict method of that name; keeps
    every template within :mod:`engine.mapping.limits` (lists, sets and dicts cannot be
    changed in place, so a loop cannot double a list either)."""

    code_generator_class = limits.BoundedCode
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, RowValues | ItemValues):
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.binop(operator, left, right)
        return limits.check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        args = limits.check_call(__obj, args, kwargs)
        return limits.check_result(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` with their widths checked, nested ones included."""
        if super().wrap_str_format(value) is None:
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"

        def run(*args: Any, **kwargs: Any) -> str:
            limits.step()
            limits.check_format_string(text)
            limits.check_container((args, kwargs))
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            return limits.check_result(str(limits.BoundedFormatter(self).vformat(text, args, kwargs)))

        return run

    @staticmethod
    def bounded_concat(parts: tuple[Any, ...]) -> str:
        return limits.concat(parts)


def _no_null(value: Any) -> Any:
    """Text templates refuse a NULL: ``"{{ row.order_number }}_{{ row.sku }}"`` with no sku would
    otherwise become ``1001_None``, a wrong key or item number that looks plausible."""
    if value is None:
        raise RenderError("a value in this text is NULL; write `{{ row.x or '' }}` if empty text is right")
    return limits.check_container(value)


def make_environment() -> SandboxedEnvironment:
    env = _Environment(undefined=_Undefined, autoescape=False, keep_trailing_newline=False, finalize=_no_null)
    env.filters.update(FILTERS)
    env.filters = {name: limits.guard_filter(name, func) for name, func in env.filters.items()}
    env.filters[limits.LOOP_FILTER] = limits.loop
    del env.globals["lipsum"]  # lipsum(n=10**9) would write a billion words
    return env


ENV = make_environment()


class RenderError(ValueError):
    """A template failed for one row; the message says why, in an operator's words, and
    ``where`` the body path of the leaf that failed (``items[0].sku``), when known."""

    where: str | None = None


MAX_DEPTH = 64  # levels of lists and objects in one value (a deeply nested from_json stops here)
_JSON_LIMIT = Decimal("1.7976931348623157e308")  # the largest number a JSON reader can hold as a double


def json_value(value: Any, where: str = "", depth: int = 0) -> Any:
    """``value`` as something JSON can carry: Decimals become numbers (whole ones ints),
    date-times ISO text; containers are converted all the way down. What no JSON reader
    could take back (NaN, infinities, numbers beyond a double's range, NUL characters,
    nesting past MAX_DEPTH) is a RenderError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise RenderError(f"{where or 'value'} contains a NUL character")
        return value
    if isinstance(value, int):
        if value.bit_length() > 1023:
            raise RenderError(f"{where or 'value'} is a number beyond the range JSON can carry")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RenderError(f"{where or 'value'} is not a finite number")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RenderError(f"{where or 'value'} is not a finite number")
        if value and not (Decimal("1e-307") <= abs(value) <= _JSON_LIMIT):
            raise RenderError(f"{where or 'value'} ({value:.3e}) is a number beyond the range JSON can carry")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        raise RenderError(f"{where[:40] or 'value'}... is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        return {
            str(k): json_value(v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, StrictUndefined):
        value._fail_with_undefined_error()
    raise RenderError(f"{where or 'value'}: a {type(value).__name__} cannot be sent as JSON")


@dataclass(frozen=True)
class Leaf:
    """One compiled template leaf."""

    source: Any  # the leaf as written
    kind: str  # "expression" | "text" | "literal"
    run: Callable[[dict[str, Any]], Any] | None
    ast: nodes.Template | None

    def render(self, context: dict[str, Any]) -> Any:
        if self.run is None:
            return self.source
        budget = limits.begin()
        try:
            try:
                value = self.run(context)
            finally:
                limits.end(budget)
            if isinstance(value, StrictUndefined):
                value._fail_with_undefined_error()
            return value
        except RenderError:
            raise
        except RecursionError:
            raise RenderError("the template recurses too deeply (a macro or loop calling itself?)") from None
        except MemoryError:
            raise RenderError("the template needs more memory than a row may use") from None
        except UndefinedError as exc:
            raise RenderError(str(exc)) from None
        except SecurityError as exc:
            raise RenderError(f"not allowed in templates: {exc}") from None
        except Exception as exc:  # whatever a template raises fails its row, never the run
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            raise RenderError(reason[:500]) from None


def compile_leaf(value: Any, *, expression: bool = False) -> Leaf:
    """Compile one leaf. ``expression=True`` reads bare text as an expression (``when``).
    Raises TemplateSyntaxError."""
    if not isinstance(value, str):
        return Leaf(value, "literal", None, None)
    match = _ONE_EXPRESSION.match(value)
    if expression and not match:
        source = value
    elif match:
        source = match.group("expr")
    else:
        source = None
    if source is not None:
        ast = ENV.parse("{{ " + source.strip() + " }}")
        compiled = ENV.compile_expression(source.strip(), undefined_to_none=False)
        return Leaf(value, "expression", lambda ctx: compiled(**ctx), ast)
    if "{{" in value or "{%" in value or "{#" in value:
        ast = ENV.parse(value)
        template = ENV.from_string(value)
        return Leaf(value, "text", lambda ctx: _write(template.generate(**ctx)), ast)
    return Leaf(value, "literal", None, None)


def _write(parts: Iterator[str]) -> str:
    """A text template's output, counted against the row's budget as it is written."""
    out = []
    for part in parts:
        limits.wrote(len(part))
        out.append(part)
    return "".join(out)


def columns_used(ast: nodes.Template) -> tuple[set[str], set[str]]:
    """(columns read as ``row.x`` or ``row['x']``, other free names) of a parsed template."""
    columns: set[str] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name == ROW:
            if isinstance(node, nodes.Getattr):
                columns.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                columns.add(node.arg.value)
    names = meta.find_undeclared_variables(ast) - {ROW}
    return columns, names


EACH, AS, MAP = "$each", "$as", "$map"
DEFAULT_AS = "item"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Each:
    """A list built from a list: ``{$each: "{{ row.items | from_json }}", $as: item, $map: {...}}``
    renders ``$map`` once per element, with the element as ``item`` (or the ``$as`` name)."""

    items: Leaf
    name: str
    template: Any


def _is_each(value: Any) -> bool:
    return isinstance(value, dict) and EACH in value


def each_problems(value: Any, loc: Loc = ()) -> list[tuple[Loc, str]]:
    """What is wrong with the ``$each`` blocks in a YAML structure."""
    found: list[tuple[Loc, str]] = []
    if _is_each(value):
        unknown = sorted(set(value) - {EACH, AS, MAP})
        for key in unknown:
            found.append(((*loc, key), f"unknown key {key!r} in a $each block (known: $each, $as, $map)"))
        name = value.get(AS, DEFAULT_AS)
        if not isinstance(name, str) or not _NAME.match(name) or name == ROW:
            found.append(((*loc, AS), f"$as must be a plain name other than {ROW!r}, e.g. item"))
        if MAP not in value:
            found.append((loc, "a $each block needs $map: the shape of each element"))
        found.extend(each_problems(value.get(MAP), (*loc, MAP)))
    elif isinstance(value, dict):
        for k, v in value.items():
            found.extend(each_problems(v, (*loc, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(each_problems(v, (*loc, i)))
    return found


def walk(
    value: Any, loc: Loc = (), scope: frozenset[str] = frozenset()
) -> Iterator[tuple[Loc, Any, frozenset[str]]]:
    """Every leaf of a YAML structure (raw or compiled) with its location and the loop names
    visible there."""
    if isinstance(value, Each):
        yield (*loc, EACH), value.items, scope
        yield from walk(value.template, (*loc, MAP), scope | {value.name})
    elif _is_each(value):
        yield (*loc, EACH), value[EACH], scope
        yield from walk(value.get(MAP), (*loc, MAP), scope | {str(value.get(AS, DEFAULT_AS))})
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, (*loc, k), scope)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*loc, i), scope)
    else:
        yield loc, value, scope


@dataclass(frozen=True)
class Structure:
    """A compiled YAML structure (dicts, lists, ``$each`` blocks) whose leaves are :class:`Leaf`."""

    shape: Any

    @classmethod
    def compile(cls, value: Any) -> Structure:
        def build(v: Any) -> Any:
            if _is_each(v):
                return Each(compile_leaf(v[EACH]), str(v.get(AS, DEFAULT_AS)), build(v.get(MAP)))
            if isinstance(v, dict):
                return {k: build(x) for k, x in v.items()}
            if isinstance(v, list):
                return [build(x) for x in v]
            return compile_leaf(v)

        return cls(build(value))

    def render(self, context: dict[str, Any]) -> Any:
        budget = limits.begin()  # one budget for all the leaves of a row
        try:
            return _fill(self.shape, context, "")
        finally:
            limits.end(budget)


def _fill(shape: Any, context: dict[str, Any], where: str) -> Any:
    if isinstance(shape, dict):
        return {k: _fill(x, context, f"{where}.{k}" if where else k) for k, x in shape.items()}
    if isinstance(shape, list):
        return [_fill(x, context, f"{where}[{i}]") for i, x in enumerate(shape)]
    if isinstance(shape, Each):
        elements = _render_leaf(shape.items, context, where)
        if elements is None:
            return []
        if not isinstance(elements, list | tuple):
            raise RenderError(f"{where}: $each needs a list, got {type(elements).__name__}")
        return [
            _fill(
                shape.template,
                {**context, shape.name: ItemValues(e) if isinstance(e, dict) else e},
                f"{where}[{i}]",
            )
            for i, e in enumerate(elements)
        ]
    return json_value(_render_leaf(shape, context, where), where)


def _render_leaf(leaf: Leaf, context: dict[str, Any], where: str) -> Any:
    try:
        return limits.check_container(leaf.render(context))  # before anything walks it
    except (RenderError, limits.LimitError) as exc:
        error = RenderError(f"{where}: {exc}" if where else str(exc))
        error.where = where
        raise error from None


__all__ = [
    "ENV",
    "Leaf",
    "RenderError",
    "RowValues",
    "Each",
    "ItemValues",
    "Structure",
    "each_problems",
    "TemplateSyntaxError",
    "columns_used",
    "compile_leaf",
    "json_value",
    "walk",
]
