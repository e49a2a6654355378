"""Inbound pipelines, checked and compiled: a webhook applied to the marketplace
(:class:`InboundPipeline`) or a question HG asks, answered from SQL (:class:`AnswerPipeline`).

Same loader, same ``file:line:col`` problems, same sandboxed Jinja as outbound pipelines;
templates see ``event`` (the body), ``item`` (an element of the ``each:`` list) and
``meta`` (``event_id``, ``operation``, ``received_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.definitions.inbound_model import AnswerSpec, ApplySpec, InboundSpec
from engine.definitions.operations import Operation
from engine.definitions.pipeline_file import _compile, _compile_structure, without_unset
from engine.definitions.plugins import SourceContext, known_operations, known_sinks
from engine.definitions.problems import suggest, validation_problems
from engine.definitions.settings import Settings
from engine.definitions.yamldoc import YamlDoc
from engine.errors import Problem
from engine.mapping.render import ItemValues, Leaf, RenderError, Structure

INBOUND_KEYS = ("receive", "answer")


@dataclass
class InboundPipeline:
    """A webhook applied to the marketplace through a sink; or, with ``root`` ``response``, an
    outbound pipeline's ``response:`` block, applying HG's answers the same way."""

    name: str
    file: str
    spec: ApplySpec
    operation: Operation
    sink_type: str
    sink_config: BaseModel
    when: Leaf | None
    columns: Structure
    digest: str
    root: str = "event"  # the name templates know the body by

    def make_sink(self, settings: Settings, home: Path) -> Any:
        """A new sink connector (a ``connectors.sinks.base.SinkConnector``)."""
        context = SourceContext(home=home, connections=settings.connections, pipeline=self.name)
        return known_sinks()[self.sink_type](self.sink_config, context)

    def rows(
        self, body: Any, meta: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The rows an event (or answer) becomes; ``extra``: more names for the templates.
        Raises RenderError naming the element that failed."""
        event = ItemValues(body) if isinstance(body, dict) else body
        context: dict[str, Any] = {self.root: event, "meta": meta, **(extra or {})}
        elements: list[tuple[str, Any]] = [("", None)]
        if self.spec.each is not None:
            found: Any = body
            for part in self.spec.each.split("."):
                found = found.get(part) if isinstance(found, dict) else None
            if found is None:
                return []
            if not isinstance(found, list):
                raise RenderError(f"{self.spec.each} is a {type(found).__name__}, not a list")
            elements = [(f"{self.spec.each}[{i}]", e) for i, e in enumerate(found)]
        rows = []
        for where, element in elements:
            if self.spec.each is not None:
                context["item"] = ItemValues(element) if isinstance(element, dict) else element
            try:
                if self.when is not None and not self.when.render(context):
                    continue
                rows.append(self.columns.render(context))
            except RenderError as exc:
                raise RenderError(f"{where}: {exc}" if where else str(exc)) from None
        return rows


@dataclass
class AnswerPipeline:
    """A query HG sends, answered from the marketplace's tables."""

    name: str
    file: str
    spec: AnswerSpec
    operation: Operation
    digest: str


def is_inbound(data: Any) -> bool:
    return isinstance(data, dict) and any(key in data for key in INBOUND_KEYS)


def load_inbound(
    doc: YamlDoc, name: str, digest: str, settings: Settings | None, home: Path
) -> tuple[InboundPipeline | AnswerPipeline | None, list[Problem]]:
    """Check and compile an inbound pipeline file (one with ``receive:`` or ``answer:``)."""
    problems = list(doc.problems)
    if "answer" in doc.data:
        return _load_answer(doc, name, digest, settings, problems)
    try:
        spec = InboundSpec.model_validate(doc.data)
    except ValidationError as exc:
        return None, without_unset(doc, [*problems, *validation_problems(doc, exc, InboundSpec)])
    operation = _operation(doc, "receive", spec.receive, settings, problems, query=False)
    compiled = compile_apply(doc, (), spec, settings, home, name, problems, frozenset({"event", "meta"}))
    if operation is None or compiled is None or any(p.severity == "error" for p in problems):
        return None, problems
    return InboundPipeline(name, doc.file, spec, operation, *compiled, digest), problems


def compile_apply(
    doc: YamlDoc,
    at: tuple[str, ...],
    spec: ApplySpec,
    settings: Settings | None,
    home: Path,
    name: str,
    problems: list[Problem],
    names: frozenset[str],
) -> tuple[str, BaseModel, Leaf | None, Structure] | None:
    """An apply block's sink, ``when`` and ``columns``, compiled (problems placed under ``at``);
    None when one has problems. ``names``: what templates see besides ``item`` (with each:)."""
    sink = _check_sink(doc, at, spec, settings, home, name, problems)
    scope = names | ({"item"} if spec.each else set())
    when = None
    if spec.when is not None:
        when = _compile(doc, (*at, "when"), spec.when, problems, expression=True, scope=scope, row=False)
    columns = _compile_structure(doc, (*at, "columns"), spec.columns, problems, scope, row=False)
    if sink is None or columns is None:
        return None
    return sink[0], sink[1], when, columns


def _load_answer(
    doc: YamlDoc, name: str, digest: str, settings: Settings | None, problems: list[Problem]
) -> tuple[AnswerPipeline | None, list[Problem]]:
    try:
        spec = AnswerSpec.model_validate(doc.data)
    except ValidationError as exc:
        return None, without_unset(doc, [*problems, *validation_problems(doc, exc, AnswerSpec)])
    operation = _operation(doc, "answer", spec.answer, settings, problems, query=True)
    if settings is not None and spec.query.connection not in settings.connections:
        known = ", ".join(sorted(settings.connections)) or "none"
        problems.append(
            doc.problem(
                ("query", "connection"),
                f"no connection named {spec.query.connection!r} in config (connections: {known})",
            )
        )
    if operation is None or any(p.severity == "error" for p in problems):
        return None, problems
    return AnswerPipeline(name, doc.file, spec, operation, digest), problems


def _operation(
    doc: YamlDoc, field: str, name: str, settings: Settings | None, problems: list[Problem], *, query: bool
) -> Operation | None:
    catalog = known_operations()
    wanted = {n: op for n, op in catalog.items() if op.direction == "inbound" and op.query == query}
    if name not in wanted:
        if name in catalog and catalog[name].direction == "outbound":
            why = f"{name!r} is a request hgsync sends to HG; send it with an outbound pipeline (operation: {name})"
        elif name in catalog:
            other = "answer" if catalog[name].query else "receive"
            why = (
                f"{name!r} is {'a query HG asks' if catalog[name].query else 'an event'}; use {other}: {name}"
            )
        else:
            why = f"unknown webhook {name!r}{suggest(name, wanted)}"
        problems.append(
            doc.problem((field,), f"{why} (these can be {field}d: {', '.join(wanted) or 'none'})")
        )
        return None
    operation = wanted[name]
    if settings is not None and settings.receiver is not None:
        operation = operation.with_override(settings.receiver.operations.get(name))
    return operation


def _check_sink(
    doc: YamlDoc,
    at: tuple[str, ...],
    spec: ApplySpec,
    settings: Settings | None,
    home: Path,
    name: str,
    problems: list[Problem],
) -> tuple[str, BaseModel] | None:
    sinks = known_sinks()
    names = ", ".join(sorted(sinks))
    if len(spec.into) != 1:
        problems.append(
            doc.problem(
                (*at, "into"), f"give exactly one sink (one of: {names}), e.g. into: {{table: {{...}}}}"
            )
        )
        return None
    ((kind, block),) = spec.into.items()
    if kind not in sinks:
        problems.append(
            doc.problem(
                (*at, "into", kind), f"unknown sink {kind!r} (known: {names}){suggest(kind, sinks)}", key=True
            )
        )
        return None
    model = sinks[kind].Config
    try:
        config = model.model_validate(block if block is not None else {})
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc, model, prefix=(*at, "into", kind)))
        return None
    if settings is not None:
        context = SourceContext(home=home, connections=settings.connections, pipeline=name)
        found = [
            doc.problem((*at, "into", kind, *loc), message)
            for loc, message in sinks[kind](config, context).check()
        ]
        problems.extend(found)
        if found:
            return None
    return kind, config
