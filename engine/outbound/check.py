"""``hgsync validate`` on real rows: render a sample of each pipeline's source rows and check
each request against its operation's model, blaming the template leaf (``file:line:col``).

A mistake in a template (a date that is not ISO 8601, text where HG wants an integer, an
amount with float noise) makes every row fail at run time; here it shows before a run, at
the YAML leaf that produced it, with the row it was seen on and the fix when one is known.
Nothing is sent and nothing is written to the state store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from connectors.sources.base import Row
from engine.definitions.loader import Project
from engine.definitions.pipeline import Pipeline
from engine.definitions.yamldoc import Loc, format_loc
from engine.errors import Problem, SourceError
from engine.mapping.render import Each, Leaf, RenderError, RowValues
from engine.outbound.plan import blank_columns, key_blank

DEFAULT_SAMPLE = 20
_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


@dataclass
class _Finding:
    """One kind of problem at one leaf, with the rows it was seen on."""

    loc: Loc
    message: str
    severity: str
    rows: list[str] = field(default_factory=list)


def sample_problems(project: Project, pipeline: Pipeline, rows: int = DEFAULT_SAMPLE) -> list[Problem]:
    """Problems found rendering the first ``rows`` rows of ``pipeline``'s source."""
    assert project.settings is not None
    source = pipeline.make_source(project.settings, project.home)
    where = ("source", pipeline.source_type)
    try:
        sample = list(islice(source.read(None), rows))
    except SourceError as exc:
        return [pipeline.doc.problem(where, f"rows not checked: {exc}", severity="warning")]
    finally:
        source.close()
    findings: dict[tuple[Loc, str], _Finding] = {}
    seen: dict[tuple[str | None, str], str] = {}  # (batch, key) → the first row with it
    for row in sample:
        for loc, label, message, severity in row_issues(pipeline, row):
            found = findings.setdefault((loc, label), _Finding(loc, message, severity))
            if not found.rows or found.rows[-1] != str(row.origin):
                found.rows.append(str(row.origin))
        key = _row_key(pipeline, row)
        if key is not None and seen.setdefault((row.origin.batch, key), str(row.origin)) != str(row.origin):
            message = (
                f"the key {key!r} is also the key of {seen[(row.origin.batch, key)]}: rows sharing a key "
                "are all held back as errors; make the key name one request (add the column that tells "
                "the rows apart)"
            )
            found = findings.setdefault((("key",), "duplicate"), _Finding(("key",), message, "error"))
            found.rows.append(str(row.origin))
    problems = []
    for found in findings.values():
        first, more = found.rows[0], len(found.rows) - 1
        also = f"; also {more} more of the {len(sample)} rows read" if more else ""
        problems.append(
            pipeline.doc.problem(
                found.loc, f"{found.message} (seen on {first}{also})", severity=found.severity
            )
        )
    return problems


def row_issues(pipeline: Pipeline, row: Row) -> Iterator[tuple[Loc, str, str, str]]:
    """(template location, what kind of problem, message, severity) of each problem ``row``
    shows; a row that renders and fits the model yields nothing, or warnings."""
    if row.error is not None:
        yield (
            ("source", pipeline.source_type),
            "source",
            f"the source could not read it: {row.error}",
            "error",
        )
        return
    context = {"row": RowValues(row.values)}
    try:
        if pipeline.when is not None and not pipeline.when.render(context):
            return
    except RenderError as exc:
        yield ("when",), "when", str(exc), "error"
        return
    key = _key(pipeline, context, row)
    if isinstance(key, tuple):
        yield key
    params: dict[str, Any] = {}
    for name, leaf in pipeline.path.shape.items():
        try:
            value = leaf.render(context)
            error = None if value is not None and str(value).strip() else "it renders empty text"
        except RenderError as exc:
            value, error = None, str(exc)
        if error is None:
            params[name] = value
            continue
        blank = blank_columns(leaf, row.values)
        if blank and isinstance(key, tuple):
            continue  # the key's problem names the column already
        message = f"path parameter {name!r} is empty: {blank}" if blank else error
        yield ("request", "path", name), "path", message, "error"
    if pipeline.body is None:
        return
    try:
        body = pipeline.body.render(context)
    except RenderError as exc:
        where = exc.where if exc.where is not None else str(exc).partition(": ")[0]  # `$each` errors
        at, node, complete = _resolve(pipeline.body.shape, parse_where(where))
        if complete and isinstance(node, Each):  # the list itself failed: its `$each` leaf
            at = (*at, "$each")
        yield ("request", "body", *at), "render", str(exc), "error"
        return
    operation = pipeline.operation
    for issue in operation.issues(body):
        if issue.kind == "missing" and _written_without(pipeline.body.shape, issue.loc):
            continue  # a field the template itself lacks: body_problems reports it once
        at, node, complete = _resolve(pipeline.body.shape, issue.loc)
        if complete and isinstance(node, Leaf) and node.kind == "literal" and issue.kind != "rule":
            continue  # a value written in the file: body_problems reports it once
        message = str(issue)
        if complete and format_loc(at) == issue.where:  # the path printed already says it
            message = message[len(issue.where) + 2 :]
        yield ("request", "body", *at), issue.kind, message, "error"
    for advice in operation.advice({k: str(v) for k, v in params.items()}, body):
        path, _, text = advice.partition(": ")
        if path.startswith("path."):
            yield ("request", "path", path[5:]), "advice", text, "warning"
            continue
        at, _, complete = _resolve(pipeline.body.shape, parse_where(path))
        yield (
            ("request", "body", *at),
            "advice",
            text if complete and format_loc(at) == path else advice,
            "warning",
        )


def _row_key(pipeline: Pipeline, row: Row) -> str | None:
    """The key of a row a run would send (not filtered out, key renders), else None."""
    if row.error is not None:
        return None
    context = {"row": RowValues(row.values)}
    try:
        if pipeline.when is not None and not pipeline.when.render(context):
            return None
    except RenderError:
        return None
    key = _key(pipeline, context, row)
    return key.strip() if isinstance(key, str) else None


def _key(pipeline: Pipeline, context: dict[str, Any], row: Row) -> tuple[Loc, str, str, str] | str:
    try:
        value = pipeline.key.render(context)
    except RenderError as exc:
        return ("key",), "key", key_blank(pipeline.key, row.values, str(exc)) or str(exc), "error"
    if value is None or not str(value).strip():
        message = key_blank(pipeline.key, row.values) or "the key is empty: it renders empty text"
        return ("key",), "key", message, "error"
    return str(value)


def parse_where(where: str) -> tuple[str | int, ...]:
    """``items[0].sku`` → ``("items", 0, "sku")``."""
    return tuple(int(m[1]) if m[1] is not None else m[2] for m in _PART.finditer(where))


def template_loc(shape: Any, loc: tuple[str | int, ...]) -> Loc:
    """Where in the template a body location comes from: ``items[3].sku`` of a ``$each`` list is
    ``items.$map.sku``; a field the template lacks is placed at its parent mapping; a place
    inside a value one leaf made (``{{ row.items | from_json }}``) at that leaf."""
    return _resolve(shape, loc)[0]


def _resolve(shape: Any, loc: tuple[str | int, ...]) -> tuple[Loc, Any, bool]:
    """(template location, the template node there, whether all of ``loc`` was found)."""
    out: list[str | int] = []
    node = shape
    for part in loc:
        if isinstance(node, Each):
            out.append("$map")
            node = node.template
            if isinstance(part, int):
                continue
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not found:
            return tuple(out), node, False
        node = node[part]
        out.append(part)
    return tuple(out), node, True


def _written_without(shape: Any, loc: tuple[str | int, ...]) -> bool:
    """Whether the template writes the mapping that holds ``loc`` and leaves its field out."""
    _, node, complete = _resolve(shape, loc[:-1])
    if isinstance(node, Each):
        node = node.template
    return complete and isinstance(node, dict) and loc[-1] not in node
