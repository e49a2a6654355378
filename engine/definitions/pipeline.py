"""One pipeline, checked and compiled: what a run needs of its file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.definitions.operations import Operation
from engine.definitions.pipeline_model import PipelineSpec
from engine.definitions.plugins import SourceContext, known_sources
from engine.definitions.problems import suggest
from engine.definitions.settings import Settings
from engine.definitions.yamldoc import Loc, YamlDoc
from engine.errors import Problem, SourceConfigError, SourceError
from engine.mapping.render import Leaf, Structure, columns_used, walk


@dataclass
class Pipeline:
    """One pipeline, checked and compiled, ready to run."""

    name: str
    file: str
    spec: PipelineSpec
    doc: YamlDoc
    source_type: str
    source_config: BaseModel
    operation: Operation
    target: str
    key: Leaf
    when: Leaf | None
    path: Structure
    body: Structure | None
    digest: str  # of the file's bytes: tells the daemon when a file changed
    response: Any = None  # the ``response:`` block, compiled: an inbound_pipeline.InboundPipeline

    @property
    def holds_in_doubt(self) -> bool:
        """True when a request whose answer was lost must not be sent again without a person."""
        if self.operation.idempotent:
            return False
        return (self.spec.in_doubt or self.operation.in_doubt) == "hold"

    def make_source(self, settings: Settings, home: Path, state: Any = None) -> Any:
        """A new source connector for this pipeline (a ``connectors.sources.base.SourceConnector``)."""
        cls = known_sources()[self.source_type]
        context = SourceContext(home=home, connections=settings.connections, pipeline=self.name, state=state)
        return cls(self.source_config, context)

    def leaves(self) -> list[tuple[Loc, Leaf]]:
        """Every compiled template with its location in the file."""
        found: list[tuple[Loc, Leaf]] = [(("key",), self.key)]
        if self.when is not None:
            found.append((("when",), self.when))
        for prefix, structure in ((("request", "path"), self.path), (("request", "body"), self.body)):
            if structure is not None:
                found.extend(((*prefix, *loc), leaf) for loc, leaf, _ in walk(structure.shape))
        return found


def check_columns(pipeline: Pipeline, columns: list[str]) -> list[Problem]:
    """Templates that read columns the source does not have."""
    problems = []
    for loc, leaf in pipeline.leaves():
        if leaf.ast is None:
            continue
        used, _ = columns_used(leaf.ast)
        for column in sorted(used - set(columns)):
            listing = ", ".join(columns)
            problems.append(
                pipeline.doc.problem(
                    loc, f"unknown column {column!r} (columns: {listing}){suggest(column, columns)}"
                )
            )
    return problems


def source_columns(
    pipeline: Pipeline, settings: Settings, home: Path
) -> tuple[list[str] | None, list[Problem]]:
    """Ask the source for its columns. A source that names a table or folder that does not exist
    is an error; one that cannot be reached now (a database down) is a warning."""
    source = pipeline.make_source(settings, home)
    try:
        return source.columns(), []
    except SourceConfigError as exc:
        return None, [pipeline.doc.problem(("source", pipeline.source_type), str(exc))]
    except SourceError as exc:
        where = ("source", pipeline.source_type)
        return None, [pipeline.doc.problem(where, f"columns not checked: {exc}", severity="warning")]
    finally:
        source.close()
