"""Config and pipeline files into checked, compiled objects, with every problem at once.

``load_project(home)`` reads ``config/hgsync.yaml`` and ``pipelines/*.yaml`` below ``home``
and returns a :class:`Project` holding what loaded and a list of problems
(``file:line:col path: message``) for what did not. Nothing here touches the network;
:func:`~engine.definitions.pipeline.check_columns` (used by ``validate``, ``plan`` and
``run``) asks the source for its columns, which may open a database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from engine.definitions.fields import changes_fields, override_problems
from engine.definitions.inbound_pipeline import (
    AnswerPipeline,
    InboundPipeline,
    compile_apply,
    is_inbound,
    load_inbound,
)
from engine.definitions.pipeline import Pipeline, check_columns, source_columns
from engine.definitions.pipeline_file import load_pipeline, without_unset
from engine.definitions.plugins import known_operations
from engine.definitions.problems import suggest, validation_problems
from engine.definitions.settings import Settings
from engine.definitions.target_kinds import MarketplaceTarget, refusal, takes
from engine.definitions.yamldoc import YamlDoc, display_path, load_yaml
from engine.errors import ConfigError, Problem

CONFIG_FILE = Path("config") / "hgsync.yaml"
PIPELINES_DIR = Path("pipelines")


@dataclass
class Project:
    """An installation: its settings, its pipelines, and what is wrong with its files."""

    home: Path
    settings: Settings | None
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # outbound pipeline name → file, loaded or not
    inbound_files: dict[str, str] = field(default_factory=dict)  # the same, of inbound pipelines
    inbound: dict[str, InboundPipeline] = field(default_factory=dict)  # webhooks applied, by name
    answers: dict[str, AnswerPipeline] = field(default_factory=dict)  # queries answered, by name

    def receiving(self, operation: str) -> InboundPipeline | AnswerPipeline | None:
        """The inbound pipeline that handles ``operation``, if any."""
        for pipeline in [*self.inbound.values(), *self.answers.values()]:
            if pipeline.operation.name == operation:
                return pipeline
        return None

    @property
    def errors(self) -> list[Problem]:
        return sorted(p for p in self.problems if p.severity == "error")

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ConfigError(self.errors)

    def pipeline(self, name: str) -> Pipeline:
        """The pipeline called ``name`` (a file stem, or a path to its file)."""
        stem = Path(name).stem if name.endswith((".yaml", ".yml")) else name
        if stem in self.pipelines:
            return self.pipelines[stem]
        if stem in self.inbound_files:
            raise ConfigError(
                f"{stem!r} is an inbound pipeline: it applies webhooks HG sends, under `hgsync serve` "
                "(or the daemon), not with run or plan"
            )
        if stem in self.files:
            broken = [p for p in self.errors if p.file == self.files[stem]]
            raise ConfigError(broken or f"pipeline {stem!r} did not load")
        known = ", ".join(sorted(self.files)) or "none"
        raise ConfigError(
            f"no pipeline named {stem!r} in {PIPELINES_DIR}/ (pipelines: {known}){suggest(stem, self.files)}",
            remedy=f"name a pipeline by its file in {PIPELINES_DIR}/, without .yaml",
        )


def load_settings(home: Path) -> tuple[Settings | None, YamlDoc]:
    path = home / CONFIG_FILE
    display = display_path(path, home)
    if not path.exists():
        doc = YamlDoc(display, None)
        doc.problems.append(
            Problem(
                display, 1, 1, "", f"no settings file; create {CONFIG_FILE} (see README.md) or pass --home"
            )
        )
        return None, doc
    doc = load_yaml(path, display=display)
    if doc.data is None and doc.problems:  # not YAML at all: nothing more to check
        return None, doc
    if not isinstance(doc.data, dict):
        doc.problems.append(doc.problem((), "the settings file must be a mapping of keys to values"))
        return None, doc
    try:
        settings = Settings.model_validate(doc.data)
    except ValidationError as exc:
        doc.problems.extend(without_unset(doc, validation_problems(doc, exc, Settings)))
        return None, doc
    catalog = known_operations()
    for name, target in settings.targets.items():
        usable = [n for n, op in catalog.items() if takes(target, op)]
        for operation in target.operations:
            if operation in usable:
                continue
            found = catalog.get(operation)
            if (
                found is not None
                and found.direction == "inbound"
                and not isinstance(target, MarketplaceTarget)
            ):
                message = (
                    f"{operation} is a webhook HG sends, not a call to an HG target; correct it under "
                    f"receiver.operations.{operation} (or under a target of kind: marketplace, to push it)"
                )
            elif found is not None and found.pipeline:
                message = refusal(name, target, found)
            else:
                message = (
                    f"no operation {operation!r} to correct (operations: {', '.join(usable)})"
                    f"{suggest(operation, usable)}"
                )
            doc.problems.append(doc.problem(("targets", name, "operations", operation), message, key=True))
        for operation, override in target.operations.items():
            if operation in usable:
                op = catalog[operation]
                method = override.method or op.method
                at = ("targets", name, "operations", operation)
                for loc, message, severity in override_problems(
                    operation, op.model, method, op.fields_certainty, override, op.field_types
                ):
                    doc.problems.append(
                        doc.problem(
                            (*at, *loc),
                            message,
                            key=len(loc) == 2 and isinstance(loc[1], str),
                            severity=severity,
                        )
                    )
    for operation, override in (settings.receiver.operations if settings.receiver else {}).items():
        if changes_fields(override):
            message = "field corrections apply to calls to HG (targets.<name>.operations), not to webhooks"
            doc.problems.append(doc.problem(("receiver", "operations", operation), message, key=True))
    errors = [p for p in doc.problems if p.severity == "error"]
    return (None if errors else settings), doc


def load_project(
    home: Path | str = ".", *, columns: bool = False, fallback: Settings | None = None
) -> Project:
    """Load settings and every pipeline; with ``columns=True`` also check template columns
    against each source (this may open databases, never the HG API).

    ``fallback``: settings to load the pipelines with when the config file is broken (the
    daemon's last good ones); ``Project.settings`` stays None all the same."""
    home = Path(home).resolve()
    loaded, settings_doc = load_settings(home)
    project = Project(home=home, settings=loaded, problems=list(settings_doc.problems))
    settings = loaded if loaded is not None else fallback
    folder = home / PIPELINES_DIR
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    for path in files:
        if path.stem in project.files or path.stem in project.inbound_files:
            project.problems.append(
                Problem(
                    display_path(path, home), 1, 1, "", f"another file already defines pipeline {path.stem!r}"
                )
            )
            continue
        doc = load_yaml(path, display=display_path(path, home))
        if is_inbound(doc.data):
            project.inbound_files[path.stem] = doc.file
            _add_inbound(project, path, doc, settings)
            continue
        project.files[path.stem] = doc.file
        pipeline, problems = load_pipeline(path, settings, home, doc)
        if pipeline is not None and pipeline.spec.response is not None:
            pipeline = _with_response(pipeline, doc, settings, home, problems)
        project.problems.extend(problems)
        if pipeline is not None:
            project.pipelines[pipeline.name] = pipeline
    if columns and settings is not None:
        for pipeline in list(project.pipelines.values()):
            found, problems = source_columns(pipeline, settings, home)
            if found is not None:
                problems += check_columns(pipeline, found)
            project.problems.extend(problems)
            if any(p.severity == "error" for p in problems):
                del project.pipelines[pipeline.name]
    return project


def _with_response(
    pipeline: Pipeline, doc: YamlDoc, settings: Settings | None, home: Path, problems: list[Problem]
) -> Pipeline | None:
    """The pipeline with its ``response:`` block compiled; None when the block has problems."""
    spec = pipeline.spec.response
    assert spec is not None
    names = frozenset({"response", "key", "request", "meta"})
    compiled = compile_apply(doc, ("response",), spec, settings, home, pipeline.name, problems, names)
    if compiled is None:
        return None
    block = InboundPipeline(
        pipeline.name, doc.file, spec, pipeline.operation, *compiled, pipeline.digest, root="response"
    )
    return replace(pipeline, response=block)


def _add_inbound(project: Project, path: Path, doc: YamlDoc, settings: Settings | None) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    pipeline, problems = load_inbound(doc, path.stem, digest, settings, project.home)
    project.problems.extend(problems)
    if pipeline is None:
        return
    other = project.receiving(pipeline.operation.name)
    if other is not None:
        field = "answer" if isinstance(pipeline, AnswerPipeline) else "receive"
        project.problems.append(
            doc.problem(
                (field,),
                f"{other.file} already handles {pipeline.operation.name}: each webhook is handled by one "
                "pipeline, so that its events apply in the order they arrived",
            )
        )
        return
    if isinstance(pipeline, AnswerPipeline):
        project.answers[pipeline.name] = pipeline
    else:
        project.inbound[pipeline.name] = pipeline
