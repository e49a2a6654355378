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
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from engine.filters import FILTERS

ROW = "row"
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|\{#).)*)\}\}\s*$", re.S)


class RowValues(dict):
    """The ``row`` seen by templates: a dict whose missing columns fail with their name."""


class _Undefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        if isinstance(self._undefined_obj, RowValues):
            columns = ", ".join(sorted(self._undefined_obj)) or "none"
            return f"row has no column {self._undefined_name!r} (columns: {columns})"
        return super()._undefined_message


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=_Undefined, autoescape=False, keep_trailing_newline=False)
    env.filters.update(FILTERS)
    return env


ENV = make_environment()


class RenderError(ValueError):
    """A template failed for one row; the message says why, in an operator's words."""


def json_value(value: Any, where: str = "") -> Any:
    """``value`` as something JSON can carry: Decimals become numbers (whole ones ints),
    date-times ISO text; containers are converted all the way down."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RenderError(f"{where or 'value'} is not a finite number")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RenderError(f"{where or 'value'} is not a finite number")
        return int(value) if value.as_tuple().exponent >= 0 else float(value)  # type: ignore[operator]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
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
        try:
            value = self.run(context)
            if isinstance(value, StrictUndefined):
                value._fail_with_undefined_error()
            return value
        except RenderError:
            raise
        except UndefinedError as exc:
            raise RenderError(str(exc)) from None
        except SecurityError as exc:
            raise RenderError(f"not allowed in templates: {exc}") from None
        except (TemplateError, ValueError, TypeError, ArithmeticError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            raise RenderError(reason) from None


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
        return Leaf(value, "text", lambda ctx: template.render(**ctx), ast)
    return Leaf(value, "literal", None, None)


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


def walk(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every leaf of a YAML structure with its location."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*loc, i))
    else:
        yield loc, value


@dataclass(frozen=True)
class Structure:
    """A compiled YAML structure (dicts and lists) whose leaves are :class:`Leaf`."""

    shape: Any

    @classmethod
    def compile(cls, value: Any) -> Structure:
        def build(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: build(x) for k, x in v.items()}
            if isinstance(v, list):
                return [build(x) for x in v]
            return compile_leaf(v)

        return cls(build(value))

    def render(self, context: dict[str, Any]) -> Any:
        def fill(v: Any, where: str) -> Any:
            if isinstance(v, dict):
                return {k: fill(x, f"{where}.{k}" if where else k) for k, x in v.items()}
            if isinstance(v, list):
                return [fill(x, f"{where}[{i}]") for i, x in enumerate(v)]
            try:
                return json_value(v.render(context), where)
            except RenderError as exc:
                raise RenderError(f"{where}: {exc}" if where else str(exc)) from None

        return fill(self.shape, "")


__all__ = [
    "ENV",
    "Leaf",
    "RenderError",
    "RowValues",
    "Structure",
    "TemplateSyntaxError",
    "columns_used",
    "compile_leaf",
    "json_value",
    "walk",
]
