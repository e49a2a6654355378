"""The daemon's view of the project files: the last good version of each, and what is wrong now.

Ops edit YAML under a running daemon. :class:`LiveProject` notices a change by polling the
files' sizes and modification times, reloads everything, and keeps, per pipeline, the last
version that loaded without errors: a broken edit is reported (file, line, column) and the
pipeline keeps running its last good version until the file is fixed. A broken config file
keeps the last good settings for every pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.definitions.inbound_pipeline import AnswerPipeline, InboundPipeline
from engine.definitions.loader import CONFIG_FILE, PIPELINES_DIR, Project, load_project
from engine.definitions.pipeline import Pipeline
from engine.definitions.settings import Settings
from engine.errors import Problem
from engine.logging import get_logger

log = get_logger("hgsync.daemon")


def _signature(home: Path) -> tuple[tuple[str, int, int], ...]:
    paths = [home / CONFIG_FILE]
    folder = home / PIPELINES_DIR
    if folder.is_dir():
        paths += sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    found = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


@dataclass
class Changes:
    """What one reload changed, by pipeline name."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    settings_changed: bool = False

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.broken or self.settings_changed)


@dataclass
class LiveProject:
    home: Path
    settings: Settings | None = None
    pipelines: dict[str, Pipeline] = field(default_factory=dict)  # last good versions
    problems: dict[str, list[Problem]] = field(default_factory=dict)  # file → problems now on disk
    files: dict[str, str] = field(default_factory=dict)  # pipeline name → file
    reload_error: str | None = None  # why the last reload (or scheduling) failed, until one succeeds
    inbound: dict[str, InboundPipeline] = field(default_factory=dict)  # last good inbound pipelines
    answers: dict[str, AnswerPipeline] = field(default_factory=dict)
    inbound_files: dict[str, str] = field(default_factory=dict)
    _signature: tuple[tuple[str, int, int], ...] = ()

    def project(self) -> Project:
        """A Project of the last good settings and pipelines, for one run."""
        return Project(
            home=self.home, settings=self.settings, pipelines=dict(self.pipelines), files=dict(self.files)
        )

    @property
    def config_problems(self) -> list[Problem]:
        return self.problems.get(str(CONFIG_FILE), [])

    def pipeline_problems(self, name: str) -> list[Problem]:
        return self.problems.get(self.files.get(name, ""), [])

    def changed_on_disk(self) -> bool:
        return _signature(self.home) != self._signature

    def reload(self) -> Changes:
        """Load every file again and fold what is valid into the last good versions.

        A broken config file keeps the last good settings, and the pipelines are loaded with
        them: a fix to a pipeline applies even while the config file waits for its own."""
        self._signature = _signature(self.home)
        project = load_project(self.home, columns=True, fallback=self.settings)
        problems: dict[str, list[Problem]] = {}
        for problem in project.problems:
            if problem.severity == "error":
                problems.setdefault(problem.file, []).append(problem)
        changes = Changes()
        if project.settings is None:
            for problem in problems.get(str(CONFIG_FILE), []):
                log.error("config_invalid", problem=str(problem), action="keeping the last good settings")
            if self.settings is None:
                self.problems = problems
                return changes
        settings = project.settings or self.settings
        assert settings is not None
        changes.settings_changed = self.settings is not None and settings != self.settings
        # built aside and swapped in whole: the status server reads these from its own threads
        pipelines = dict(self.pipelines)
        for name, pipeline in project.pipelines.items():
            old = pipelines.get(name)
            if old is None:
                changes.added.append(name)
            elif old.digest != pipeline.digest or changes.settings_changed:
                changes.changed.append(name)
            pipelines[name] = pipeline
        for name in list(pipelines):
            if name not in project.files:
                del pipelines[name]
                changes.removed.append(name)
            elif name not in project.pipelines:
                changes.broken.append(name)
        self.settings, self.files, self.problems, self.pipelines = (
            settings,
            dict(project.files),
            problems,
            pipelines,
        )
        self.inbound = _kept(self.inbound, project.inbound, project.inbound_files)
        self.answers = _kept(self.answers, project.answers, project.inbound_files)
        self.inbound_files = dict(project.inbound_files)
        for name in sorted(set(project.files) - set(project.pipelines)):
            if name not in changes.broken:
                changes.broken.append(name)
            keeping = (
                "keeping its last good version" if name in self.pipelines else "not scheduled until fixed"
            )
            for problem in self.pipeline_problems(name):
                log.error("pipeline_invalid", pipeline=name, problem=str(problem), action=keeping)
        return changes


def _kept(old: dict, new: dict, files: dict[str, str]) -> dict:
    """The inbound pipelines that loaded, and the last good version of those now broken."""
    kept = {name: pipeline for name, pipeline in old.items() if name in files and name not in new}
    return {**kept, **new}
