"""Bounds on what one row's templates may cost, so that no template can exhaust CPU or memory.

The Jinja sandbox stops templates from reaching Python internals but not from asking for a
billion-character string or 10¹⁰ loop turns. Here is what stops those:

- a **budget per row** (:func:`begin` and :func:`end`, a context variable): every loop turn, call, filter and
  intercepted operator is a step (at most :data:`MAX_STEPS`), and every character a text
  template writes counts towards :data:`MAX_OUTPUT`;
- **operators** ``**``, ``*``, ``+`` and ``%`` are checked *before* they run
  (:func:`binop`): integers stay below :data:`MAX_INT_BITS` bits, strings below
  :data:`MAX_TEXT` characters, lists below :data:`MAX_ITEMS` elements, format widths below
  :data:`MAX_WIDTH`. The sandbox does not fold intercepted operators at compile time, so
  ``{{ 7 ** 999999999 }}`` is a row error, not a frozen ``validate``;
- **filters and method calls** that multiply their input (``center``, ``indent``,
  ``replace``, ``join``, ``format``, ``ljust``...) are estimated before they run
  (:func:`guard_filter`, :func:`check_call`), and every result is measured after.

A limit that is reached raises :class:`LimitError` (a ``ValueError``), which the renderer
reports as a row error naming the row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from string import Formatter
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedFormatter

MAX_STEPS = 200_000  # loop turns, calls, filters and operators per row
MAX_OUTPUT = 1_000_000  # characters written by one row's text templates
MAX_TEXT = 1_000_000  # characters of any one string a template makes
MAX_ITEMS = 100_000  # elements of any one list a template makes
MAX_INT_BITS = 10_000  # size of any one integer a template makes (about 3000 digits)
MAX_WIDTH = 10_000  # a width, padding, indent or count given to a filter or format


class LimitError(ValueError):
    """A template asked for more than one row may cost."""


@dataclass
class _Budget:
    steps: int = 0
    output: int = 0


_CURRENT: ContextVar[_Budget | None] = ContextVar("hgsync_template_budget", default=None)


def begin() -> Token[_Budget | None] | None:
    """Start one row's budget for the templates rendered until :func:`end`; None (and nothing
    to end) when a budget is already running, which the inner renders then share."""
    return _CURRENT.set(_Budget()) if _CURRENT.get() is None else None


def end(token: Token[_Budget | None] | None) -> None:
    if token is not None:
        _CURRENT.reset(token)


def step(count: int = 1) -> None:
    current = _CURRENT.get()
    if current is not None:
        current.steps += count
        if current.steps > MAX_STEPS:
            raise LimitError(
                f"the templates took more than {MAX_STEPS} steps (loop turns, calls, filters) for this row"
            )


def wrote(characters: int) -> None:
    """Count text a template wrote for the current row."""
    current = _CURRENT.get()
    if current is not None:
        current.output += characters
        if current.output > MAX_OUTPUT:
            raise LimitError(f"the templates wrote more than {MAX_OUTPUT} characters for this row")


def _fits(size: int, what: str) -> None:
    limit = MAX_TEXT if what == "text" else MAX_ITEMS
    if size > limit:
        unit = "characters" if what == "text" else "elements"
        raise LimitError(f"the template would make {what} of more than {limit} {unit}")


def check_result(value: Any) -> Any:
    """``value`` when it is within the size limits."""
    if isinstance(value, str):
        _fits(len(value), "text")
    elif isinstance(value, list | tuple):
        _fits(len(value), "a list")
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise LimitError(f"the template would make an integer of more than {MAX_INT_BITS} bits")
    elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        # also keeps Jinja from folding it into the compiled code as an undefined name `nan`
        raise LimitError(f"the template made {value}, which is not a finite number")
    return value


_CONTAINERS = (list, tuple, dict, set, frozenset)


def check_container(value: Any) -> Any:
    """``value`` when, counting each element every time it appears, it holds at most MAX_ITEMS
    elements. A list that holds itself twice, nested 80 times (``[s, s]`` in a loop), costs
    little memory but 2⁸⁰ steps to print or serialise; this walk stops at the limit first."""
    if not isinstance(value, _CONTAINERS):
        return value
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_ITEMS:
            raise LimitError(
                f"a list or mapping of more than {MAX_ITEMS} elements (shared ones counted each time)"
            )
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            stack.extend(item)
    step(seen // 10)
    return value


def _width(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
        raise LimitError(f"{what} {value} is above the limit of {MAX_WIDTH}")


# -- formats ---------------------------------------------------------------------------------

_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def check_percent_format(text: str) -> None:
    """``'%10d'``-style formats: no ``*`` widths, no width or precision above MAX_WIDTH."""
    for match in _PERCENT.finditer(text):
        for part in match.groups():
            if part == "*":
                raise LimitError("a '*' width or precision in a format is not allowed; write the number")
            if part is not None:
                _width(int(part[:12]) if len(part) <= 12 else MAX_WIDTH + 1, "a format width")


def check_format_spec(spec: str) -> None:
    """``'{:>10}'``-style specs: no width or precision above MAX_WIDTH."""
    for digits in _DIGITS.findall(spec):
        _width(int(digits[:12]) if len(digits) <= 12 else MAX_WIDTH + 1, "a format width")


def check_format_string(text: str) -> None:
    """Every field of a ``str.format`` string, nested specs included."""
    try:
        for _, _, spec, _ in Formatter().parse(text):
            if spec:
                check_format_spec(spec)
    except ValueError:
        return  # malformed; str.format will say so itself


# -- operators -------------------------------------------------------------------------------

_SEQUENCE = (str, list, tuple)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, _SEQUENCE) else 0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left operator right`` when its result would be beyond the limits."""
    step()
    if operator == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if left.bit_length() * min(right, MAX_INT_BITS + 1) > MAX_INT_BITS:
            raise LimitError(f"{left} ** {right} is a larger number than a template may make")
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitError("the product is a larger number than a template may make")
        elif isinstance(left, _SEQUENCE) and _is_int(right):
            _fits(len(left) * max(right, 0), "text" if isinstance(left, str) else "a list")
        elif isinstance(right, _SEQUENCE) and _is_int(left):
            _fits(len(right) * max(left, 0), "text" if isinstance(right, str) else "a list")
    elif operator == "+" and isinstance(left, _SEQUENCE) and isinstance(right, _SEQUENCE):
        _fits(_size(left) + _size(right), "text" if isinstance(left, str) else "a list")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left)
        check_container(right)


def concat(parts: Iterable[Any]) -> str:
    """The ``~`` operator, measured before it joins."""
    step()
    texts = [str(check_container(part)) for part in parts]
    _fits(sum(map(len, texts)), "text")
    return "".join(texts)


def loop(iterable: Any) -> Iterator[Any]:
    """What a ``{% for %}`` loop iterates over, one step per turn."""
    for item in iterable:
        step()
        yield item


# -- filters and methods ---------------------------------------------------------------------

_WIDTH_ARGS = {
    "center": "width",
    "indent": "width",
    "batch": "linecount",
    "slice": "slices",
    "tojson": "indent",
}


def _estimate_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Refuse a filter call whose result would be beyond the limits; returns ``value``, or
    a list of it when it had to be read (an iterator) to be measured."""
    if name in _WIDTH_ARGS:
        width = args[0] if args else kwargs.get(_WIDTH_ARGS[name])
        _width(width, f"{name} {_WIDTH_ARGS[name]}")
    if name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else (width if _is_int(width) else 0)
        _fits(len(value) + pad * (value.count("\n") + 1), "text")
    elif name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        times = value.count(old) if old else len(value) + 1
        _fits(len(value) + times * max(len(new) - len(old), 0), "text")
    elif name == "join" and not isinstance(value, str | dict):
        value = list(value) if not isinstance(value, list | tuple) else value
        _fits(len(value), "a list")
        separator = str(args[0]) if args else str(kwargs.get("d", ""))
        _fits(sum(len(str(v)) for v in value) + len(separator) * len(value), "text")
    elif name == "format" and isinstance(value, str):
        check_percent_format(value)
    elif name == "from_json" and isinstance(value, str | bytes):
        _fits(len(value), "text")
    return value


def guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` counted as a step, estimated before it runs and measured after."""
    passes_context = hasattr(func, "jinja_pass_arg")

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        step()
        first = 1 if passes_context else 0
        for arg in (*args, *kwargs.values()):
            check_container(arg)
        if len(args) > first:
            value = _estimate_filter(name, args[first], args[first + 1 :], kwargs)
            args = (*args[:first], value, *args[first + 1 :])
        return check_result(func(*args, **kwargs))

    return run


_PADDING = {"ljust", "rjust", "center", "zfill"}


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a method call of a string whose result would be beyond the limits; returns the
    arguments to call it with (an iterator given to ``join`` is read into a list to be measured)."""
    step()
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return args
    if name in _PADDING and args:
        _width(args[0], f"{name} width")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _width(size, "expandtabs tabsize")
        if _is_int(size):
            _fits(len(owner) + owner.count("\t") * size, "text")
    elif name == "replace" and len(args) >= 2:
        _estimate_filter("replace", owner, args, {})
    elif name == "join" and args:
        args = (_estimate_filter("join", args[0], (owner,), {}), *args[1:])
    return args


# -- compiled templates ----------------------------------------------------------------------

LOOP_FILTER = "_hgsync_loop"  # the filter every {% for %} iterates through, one budget step a turn


class BoundedCode(CodeGenerator):
    """Compiles every ``{% for %}`` to iterate through :func:`loop` and every ``~`` to
    :func:`concat`, so that loops and concatenation are counted and measured."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedFormatter(SandboxedFormatter):
    def format_field(self, value: Any, format_spec: str) -> Any:
        check_format_spec(format_spec)
        return check_result(super().format_field(value, format_spec))
