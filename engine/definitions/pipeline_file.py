"""One ``pipelines/*.yaml`` file into a checked, compiled :class:`Pipeline`, with every problem at once.

Each block is checked on its own, so that one broken block does not hide the problems of
the others: the source against its kind's model (and, without I/O, its connection or
folder), the target and operation against config and the registered catalogs, every
template leaf for syntax and unknown names, the request's shape against the operation.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from pydantic import BaseModel, ValidationError

from engine.definitions.operations import Operation
from engine.definitions.pipeline import Pipeline
from engine.definitions.pipeline_model import PipelineSpec
from engine.definitions.plugins import SourceContext, known_operations, known_sources
from engine.definitions.problems import suggest, validation_problems
from engine.definitions.settings import Settings
from engine.definitions.target_kinds import refusal, takes
from engine.definitions.yamldoc import Loc, YamlDoc, display_path, format_loc, load_yaml
from engine.errors import Problem
from engine.mapping.filters import FILTERS
from engine.mapping.render import ENV, ROW, Leaf, Structure, columns_used, compile_leaf, each_problems, walk

_NO_FILTER = re.compile(r"^No filter named '([^']*)'")  # jinja's message for a misspelt filter


def _compile(
    doc: YamlDoc,
    loc: Loc,
    value: Any,
    problems: list[Problem],
    *,
    expression: bool = False,
    scope: frozenset[str] = frozenset(),
    row: bool = True,
) -> Leaf | None:
    try:
        leaf = compile_leaf(value, expression=expression)
    except TemplateSyntaxError as exc:
        offset = (exc.lineno or 1) - 1
        if loc in doc.blocks:  # a literal block: its lines are the template's lines
            line, col = doc.blocks[loc]
            line += offset
        else:
            line, col = doc.where(loc)
            line, col = (line + offset, 1) if offset else (line, col)
        message = exc.message or "invalid template"
        unknown_filter = _NO_FILTER.match(message)
        if unknown_filter:
            message = (
                f"{message.rstrip('.')} (hgsync's filters: {', '.join(sorted(FILTERS))}; Jinja's built-in "
                f"ones work too){suggest(unknown_filter.group(1), ENV.filters)}"
            )
        problems.append(Problem(doc.file, line, col, format_loc(loc), f"template syntax: {message}"))
        return None
    if leaf.ast is not None:
        columns, names = columns_used(leaf.ast)
        seen = {ROW, *scope} if row else set(scope)
        if not row and (columns or ROW in meta.find_undeclared_variables(leaf.ast)):
            names = {*names, ROW}
        for name in sorted(names - seen):
            example = "{{ row.column }}" if row else "{{ " + sorted(seen)[0] + ".field }}"
            problems.append(
                doc.problem(
                    loc,
                    f"unknown name {name!r} in template; templates see {', '.join(sorted(seen))}, e.g. {example}",
                )
            )
    return leaf


def _compile_structure(
    doc: YamlDoc,
    prefix: Loc,
    value: Any,
    problems: list[Problem],
    scope: frozenset[str] = frozenset(),
    row: bool = True,
) -> Structure | None:
    before = len(problems)
    problems.extend(doc.problem((*prefix, *loc), message) for loc, message in each_problems(value))
    for loc, leaf_value, names in walk(value, (), scope):
        _compile(doc, (*prefix, *loc), leaf_value, problems, scope=names, row=row)
    return Structure.compile(value) if len(problems) == before else None


def load_pipeline(
    path: Path, settings: Settings | None, home: Path, doc: YamlDoc | None = None
) -> tuple[Pipeline | None, list[Problem]]:
    """Check and compile one pipeline file; (None, problems) when it has errors.

    Every problem is reported at once: a block that does not fit the model does not stop the
    checks of the blocks that do.
    """
    if doc is None:
        doc = load_yaml(path, display=display_path(path, home))
    problems = list(doc.problems)
    if doc.data is None and problems:  # not YAML at all: nothing more to check
        return None, problems
    if not isinstance(doc.data, dict):
        return None, [
            *problems,
            doc.problem((), "a pipeline file must be a mapping (source:, key:, operation:, request: ...)"),
        ]
    broken: set[str] = set()
    try:
        spec = PipelineSpec.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc, PipelineSpec))
        broken = {str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()}
        salvaged = _salvage(doc.data, broken)
        if salvaged is None:
            return None, without_unset(doc, problems)
        spec = salvaged

    source = _check_source(doc, spec, settings, home, path.stem, problems) if "source" not in broken else None
    wanted = known_operations().get(spec.operation) if "operation" not in broken else None
    target = _check_target(doc, spec, settings, problems, wanted) if "target" not in broken else None
    operation = None
    if "operation" not in broken:
        operation = _check_operation(doc, spec, settings, target, problems)
    if operation is not None and "batch" not in broken:
        _check_batch(doc, spec, operation, problems)

    key = _compile(doc, ("key",), spec.key, problems) if "key" not in broken else None
    if key is not None and key.kind == "literal":
        problems.append(doc.problem(("key",), "the key must use the row, e.g. '{{ row.item_number }}'"))
    when = _compile(doc, ("when",), spec.when, problems, expression=True) if spec.when is not None else None
    path_structure = body = None
    if "request" not in broken:
        path_structure = _compile_structure(doc, ("request", "path"), spec.request.path, problems)
        if spec.request.body is not None:
            body = _compile_structure(doc, ("request", "body"), spec.request.body, problems)
        if operation is not None:
            _check_request_shape(doc, spec, operation, problems)

    for loc, name in doc.secret_refs.items():
        if loc[:1] in (("request",), ("key",), ("when",)):
            problems.append(
                doc.problem(
                    loc,
                    f"uses the secret {name}: it would be sent to HG; it is shown as *** in plan, "
                    "logs and the state store, but is it meant to leave this machine?",
                    severity="warning",
                )
            )
    problems = without_unset(doc, problems)
    if (
        any(p.severity == "error" for p in problems)
        or source is None
        or operation is None
        or target is None
        or key is None
        or path_structure is None
    ):
        return None, problems
    source_type, source_config = source
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    pipeline = Pipeline(
        name=path.stem,
        file=doc.file,
        spec=spec,
        doc=doc,
        source_type=source_type,
        source_config=source_config,
        operation=operation,
        target=target,
        key=key,
        when=when,
        path=path_structure,
        body=body,
        digest=digest,
    )
    return pipeline, problems


# stand-ins for required fields that did not validate, so the other fields can be checked;
# no check reads a field that is broken
_PLACEHOLDERS: dict[str, Any] = {"source": {}, "key": "", "operation": ""}


def _salvage(data: dict[str, Any], broken: set[str]) -> PipelineSpec | None:
    """The pipeline without its broken top-level fields (``broken``), or None."""
    if "" in broken:
        return None
    kept = {name: value for name, value in data.items() if name not in broken}
    kept.update({name: value for name, value in _PLACEHOLDERS.items() if name in broken})
    try:
        return PipelineSpec.model_validate(kept)
    except ValidationError:
        return None


def without_unset(doc: YamlDoc, problems: list[Problem]) -> list[Problem]:
    """``problems`` less those about a value left empty by an unset environment variable
    (the unset variable is already reported there)."""
    unset = {format_loc(loc) for loc in doc.unset}
    return [p for p in problems if p in doc.problems or p.path not in unset]


def _check_source(
    doc: YamlDoc,
    spec: PipelineSpec,
    settings: Settings | None,
    home: Path,
    name: str,
    problems: list[Problem],
) -> tuple[str, BaseModel] | None:
    sources = known_sources()
    names = ", ".join(sorted(sources))
    if len(spec.source) != 1:
        problems.append(
            doc.problem(
                ("source",), f"give exactly one source type (one of: {names}), e.g. source: {{sql: {{...}}}}"
            )
        )
        return None
    ((kind, block),) = spec.source.items()
    if kind not in sources:
        problems.append(
            doc.problem(
                ("source", kind),
                f"unknown source type {kind!r} (known: {names}){suggest(kind, sources)}",
                key=True,
            )
        )
        return None
    model = sources[kind].Config
    try:
        config = model.model_validate(block if block is not None else {})
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc, model, prefix=("source", kind)))
        return None
    if settings is not None:
        context = SourceContext(home=home, connections=settings.connections, pipeline=name)
        found = [
            doc.problem(("source", kind, *loc), message)
            for loc, message in sources[kind](config, context).check()
        ]
        problems.extend(found)
        if found:
            return None
    return kind, config


def _check_target(
    doc: YamlDoc,
    spec: PipelineSpec,
    settings: Settings | None,
    problems: list[Problem],
    operation: Operation | None = None,
) -> str | None:
    """The target's name. Left out, it is the one target that takes the operation (of the
    kind its direction needs), or the only target."""
    if settings is None:
        return spec.target or "?"
    names = sorted(settings.targets)
    if spec.target is None:
        fitting = names
        if operation is not None and operation.pipeline:
            fitting = [n for n in names if takes(settings.targets[n], operation)] or names
        if len(fitting) == 1:
            return fitting[0]
        what = "no targets are configured" if not names else f"there are several ({', '.join(fitting)})"
        problems.append(doc.problem((), f"name a target: {what} in config/hgsync.yaml"))
        return None
    if spec.target not in settings.targets:
        problems.append(
            doc.problem(
                ("target",),
                f"no target named {spec.target!r} in config (targets: {', '.join(names) or 'none'})",
            )
        )
        return None
    return spec.target


def _check_operation(
    doc: YamlDoc, spec: PipelineSpec, settings: Settings | None, target: str | None, problems: list[Problem]
) -> Operation | None:
    catalog = known_operations()
    chosen = settings.targets.get(target) if settings is not None and target is not None else None
    usable = {name: op for name, op in catalog.items() if takes(chosen, op)}
    if spec.operation not in usable:
        found = catalog.get(spec.operation)
        if found is not None and found.pipeline and (found.query or chosen is not None):
            message = refusal(target or "?", chosen, found)
        else:
            why = "is used by hgsync itself, not by pipelines" if found is not None else "is unknown"
            message = f"operation {spec.operation!r} {why}; known: {', '.join(usable)}{suggest(spec.operation, usable)}"
        problems.append(doc.problem(("operation",), message))
        return None
    operation = usable[spec.operation]
    if chosen is not None:
        operation = operation.with_override(chosen.operations.get(spec.operation))
    return operation


def _check_batch(doc: YamlDoc, spec: PipelineSpec, operation: Operation, problems: list[Problem]) -> None:
    if spec.batch is None:
        return
    if operation.batch_limit is None or operation.list_field is None:
        problems.append(
            doc.problem(
                ("batch",),
                f"{operation.name} is not a bulk operation: each row is one request; remove batch",
            )
        )
    elif spec.batch.size > operation.batch_limit:
        problems.append(
            doc.problem(
                ("batch", "size"),
                f"{operation.name} carries at most {operation.batch_limit} {operation.list_field} a "
                f"request; batch.size {spec.batch.size} is over it",
            )
        )


def _check_request_shape(
    doc: YamlDoc, spec: PipelineSpec, operation: Operation, problems: list[Problem]
) -> None:
    if spec.in_doubt is not None and operation.idempotent:
        problems.append(
            doc.problem(
                ("in_doubt",),
                f"{operation.name} is idempotent: a request whose answer was lost is always sent again, "
                "so in_doubt changes nothing here; remove it",
                severity="warning",
            )
        )
    wanted = set(operation.path_params)
    given = set(spec.request.path)
    for name in sorted(wanted - given):
        problems.append(
            doc.problem(
                ("request", "path") if given else ("request",),
                f"path parameter {name!r} is missing; {operation.name} is {operation.method} {operation.path}",
            )
        )
    for name in sorted(given - wanted):
        have = ", ".join(operation.path_params) or "none"
        problems.append(
            doc.problem(
                ("request", "path", name),
                f"{operation.method} {operation.path} has no parameter {name!r} (its parameters: {have}){suggest(name, wanted)}",
                key=True,
            )
        )
    if operation.model is None and spec.request.body is not None:
        problems.append(
            doc.problem(
                ("request", "body"),
                f"{operation.name} is a {operation.method} without a body; remove request.body",
            )
        )
    if operation.model is not None and spec.request.body is None:
        problems.append(
            doc.problem(
                ("request",),
                f"{operation.name} needs request.body (`hgsync ops {operation.name}` shows its fields)",
            )
        )
