"""Rows into requests: the mapping cases of tests/pipelines/mappings/ (format in its README.md),
and the renderer's own rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import TemplateSyntaxError

from engine.mapping.render import (
    Each,
    RenderError,
    RowValues,
    Structure,
    columns_used,
    compile_leaf,
    each_problems,
    json_value,
    walk,
)

MAPPINGS = Path(__file__).resolve().parent.parent / "pipelines" / "mappings"


class _CaseLoader(yaml.SafeLoader):
    """YAML of mapping cases: ``!decimal "24.97"`` is a Decimal, as a NUMERIC column gives."""


_CaseLoader.add_constructor("!decimal", lambda loader, node: Decimal(loader.construct_scalar(node)))


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.load(path.read_text(encoding="utf-8"), Loader=_CaseLoader)  # noqa: S506 (safe loader)
    assert isinstance(case, dict), f"{path.name}: a mapping case is a mapping"
    unknown = set(case) - {"row", "request", "expect", "expect_error"}
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    assert ("expect" in case) != ("expect_error" in case), f"{path.name}: give expect or expect_error"
    assert set(case["request"]) <= {"path", "body"}, f"{path.name}: request has path and body"
    return case


def render_request(request: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """Compile and render ``request`` as the engine does; raises RenderError or TemplateSyntaxError."""
    problems = [
        f"{part}.{'.'.join(map(str, loc))}: {message}"
        for part in ("path", "body")
        for loc, message in each_problems(request.get(part))
    ]
    if problems:
        raise RenderError("; ".join(problems))
    context = {"row": RowValues(row)}
    path = Structure.compile(request.get("path") or {}).render(context)
    body = Structure.compile(request["body"]).render(context) if "body" in request else None
    return {"path": path, "body": body}


def as_json(value: Any) -> str:
    """Canonical JSON: 3, 3.0, "3" and true all differ."""
    return json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("path", sorted(MAPPINGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_mapping_case(path: Path):
    case = load_case(path)
    row = case.get("row") or {}
    if "expect_error" in case:
        with pytest.raises((RenderError, TemplateSyntaxError)) as caught:
            render_request(case["request"], row)
        message = caught.value.message if isinstance(caught.value, TemplateSyntaxError) else str(caught.value)
        assert case["expect_error"] in message
        assert " object at 0x" not in message  # no Python reprs in an operator's error
    else:
        expected = {"path": case["expect"].get("path") or {}, "body": case["expect"].get("body")}
        assert as_json(render_request(case["request"], row)) == as_json(expected)


def test_there_are_mapping_cases():
    assert len(list(MAPPINGS.glob("*.yaml"))) >= 20


def test_case_loader_reads_decimals_dates_and_datetimes():
    case = yaml.load(
        "a: !decimal '1.50'\nb: 2017-10-02\nc: 2017-10-02 10:56:33\nd: '2017-10-02'\n", Loader=_CaseLoader
    )
    assert case == {
        "a": Decimal("1.50"),
        "b": date(2017, 10, 2),
        "c": datetime(2017, 10, 2, 10, 56, 33),
        "d": "2017-10-02",
    }


# -- compiling leaves -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "kind"),
    [
        ("{{ row.a }}", "expression"),
        ("  {{ row.a | money }}\n", "expression"),
        ("{{ row.a }}{{ row.b }}", "text"),
        ("x {{ row.a }}", "text"),
        ("{% if row.a %}y{% endif %}", "text"),
        ("{# note #}", "text"),
        ("plain", "literal"),
        ("{ not a template }", "literal"),
        (5, "literal"),
        (None, "literal"),
        (True, "literal"),
    ],
)
def test_leaf_kinds(leaf, kind):
    assert compile_leaf(leaf).kind == kind


def test_a_literal_is_taken_as_written():
    leaf = compile_leaf("{ row.a }")
    assert leaf.render({"row": RowValues(a=1)}) == "{ row.a }"
    assert leaf.ast is None


def test_expression_mode_reads_bare_text_as_an_expression():
    when = compile_leaf("row.status == 'shipped' and row.qty > 1", expression=True)
    assert when.kind == "expression"
    assert when.render({"row": RowValues(status="shipped", qty=2)}) is True
    assert when.render({"row": RowValues(status="shipped", qty=1)}) is False
    braced = compile_leaf("{{ row.qty > 1 }}", expression=True)
    assert braced.render({"row": RowValues(qty=2)}) is True


def test_row_values_are_data_never_templates():
    leaf = compile_leaf("{{ row.note }}")
    assert leaf.render({"row": RowValues(note="{{ 7 * 7 }}")}) == "{{ 7 * 7 }}"
    text = compile_leaf("note: {{ row.note }}")
    assert text.render({"row": RowValues(note="{{ 7 * 7 }}")}) == "note: {{ 7 * 7 }}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ row.a }", "unexpected '}'"),
        ("{{ row.a | nope }}", "No filter named 'nope'"),
        ("{% if row.a %}x", "Unexpected end of template"),
    ],
)
def test_syntax_errors_raise_at_compile_time(source, message):
    with pytest.raises(TemplateSyntaxError, match=message):
        compile_leaf(source)


def test_syntax_error_line_is_the_line_inside_the_template():
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_leaf("line one\nline two {{ row.a }\nline three")
    assert caught.value.lineno == 2


def test_columns_used_and_free_names():
    leaf = compile_leaf("{{ row.a }} {{ row['b'] }} {{ row.c.d }} {{ other.x }} {{ row[name] }}")
    columns, names = columns_used(leaf.ast)
    assert columns == {"a", "b", "c"}
    assert names == {"other", "name"}


# -- rendering --------------------------------------------------------------------------------


def test_render_errors_name_where_they_happened():
    structure = Structure.compile({"items": [{"sku": "{{ row.sku }}"}, {"sku": "{{ row.nope }}"}]})
    with pytest.raises(RenderError, match=r"^items\[1\]\.sku: row has no column 'nope' \(columns: sku\)$"):
        structure.render({"row": RowValues(sku="A")})


def test_python_errors_become_render_errors():
    with pytest.raises(RenderError, match=r"^x: ZeroDivisionError: division by zero$"):
        Structure.compile({"x": "{{ row.a / row.b }}"}).render({"row": RowValues(a=1, b=0)})
    with pytest.raises(RenderError, match=r"^y: TypeError: unsupported operand"):
        Structure.compile({"y": "{{ row.a + 'text' }}"}).render({"row": RowValues(a=1)})
    with pytest.raises(RenderError, match=r"^z: expected a number, got 'abc'$"):  # ValueError: as is
        Structure.compile({"z": "{{ row.a | money }}"}).render({"row": RowValues(a="abc")})


def test_values_json_cannot_carry_are_errors():
    with pytest.raises(RenderError, match="x: a set cannot be sent as JSON"):
        Structure.compile({"x": "{{ row.a }}"}).render({"row": RowValues(a={1, 2})})
    with pytest.raises(RenderError, match="x: a type cannot be sent as JSON"):
        Structure.compile({"x": "{{ dict }}"}).render({"row": RowValues()})


def test_json_value_converts_all_the_way_down():
    value = {
        "n": Decimal("1.10"),
        "whole": Decimal("2E+1"),
        "when": datetime(2024, 7, 13, 16, 1, 26, tzinfo=UTC),
        "day": date(2024, 7, 13),
        "at": time(16, 1),
        "pair": (Decimal("1"), [Decimal("0.5")]),
        3: "int key",
    }
    assert json_value(value) == {
        "n": 1.1,
        "whole": 20,
        "when": "2024-07-13T16:01:26+00:00",
        "day": "2024-07-13",
        "at": "16:01:00",
        "pair": [1, [0.5]],
        "3": "int key",
    }
    assert type(json_value(Decimal("3.000"))) is int
    assert type(json_value(Decimal("3.5"))) is float
    assert json_value(True) is True


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_json_value_refuses_numbers_json_has_not(bad):
    with pytest.raises(RenderError, match="price is not a finite number"):
        json_value({"price": bad})


def test_each_problems_and_walk_scopes():
    value = {
        "a": {"$each": "{{ row.x }}", "$as": "line", "$map": {"b": "{{ line.y }}"}},
        "c": ["{{ row.z }}"],
    }
    assert each_problems(value) == []
    leaves = {loc: (leaf, scope) for loc, leaf, scope in walk(value)}
    assert leaves == {
        ("a", "$each"): ("{{ row.x }}", frozenset()),
        ("a", "$map", "b"): ("{{ line.y }}", frozenset({"line"})),
        ("c", 0): ("{{ row.z }}", frozenset()),
    }
    compiled = Structure.compile(value)
    assert isinstance(compiled.shape["a"], Each)
    assert [loc for loc, _, _ in walk(compiled.shape)] == list(leaves)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"$each": "{{ row.x }}"}, "a $each block needs $map"),
        ({"$each": "{{ row.x }}", "$map": 1, "$as": "row"}, "$as must be a plain name other than 'row'"),
        ({"$each": "{{ row.x }}", "$map": 1, "$as": "two words"}, "$as must be a plain name"),
        ({"$each": "{{ row.x }}", "$map": 1, "$as": 3}, "$as must be a plain name"),
        ({"$each": "{{ row.x }}", "$map": 1, "$mapp": 1}, "unknown key '$mapp' in a $each block"),
    ],
)
def test_each_problems(block, message):
    problems = each_problems({"items": [block]})
    assert len(problems) == 1
    loc, text = problems[0]
    assert loc[:2] == ("items", 0)
    assert message in text
