"""Mapping tests kept beside the pipelines: the case files' shape, shared by outbound cases
(a row in, a request out: :mod:`engine.outbound.cases`) and inbound ones (an event in, rows
out: :mod:`engine.inbound.cases`). ``pipelines/tests/<pipeline>.yaml`` holds the cases of
``pipelines/<pipeline>.yaml``; a failed case shows a diff of expected and rendered."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

CASES_DIR = "tests"  # under pipelines/
EXPECTATIONS = ("request", "error", "filtered")


@dataclass
class CaseResult:
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)  # what differs, a diff among them


def cases_file(pipelines_dir: Path, name: str) -> Path:
    return pipelines_dir / CASES_DIR / f"{name}.yaml"


def load_cases(
    path: Path, display: str, given: str = "row", expectations: tuple[str, ...] = EXPECTATIONS
) -> list[dict[str, Any]]:
    """The cases of one file, each checked for its shape (``given``: the input's key, ``row``
    or ``event``; one of ``expectations``); ConfigError names file and case."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark else display
        raise ConfigError(f"{where}: not YAML: {getattr(exc, 'problem', exc)}") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not cases:
        wanted = "|".join(expectations)
        raise ConfigError(f"{display}: expected `cases:`, a list of {{name, {given}, {wanted}}}")
    for index, case in enumerate(cases, 1):
        label = f"{display}: case {index}"
        if not isinstance(case, dict) or not isinstance(case.get(given), dict):
            raise ConfigError(f"{label}: needs `{given}:`, a mapping of field → value")
        found = [k for k in expectations if k in case]
        if len(found) != 1:
            raise ConfigError(f"{label} ({case.get('name', '')}): give one of {', '.join(expectations)}")
        known = ["name", given, *(["key"] if given == "row" else []), *expectations]
        unknown = sorted(set(case) - set(known))
        if unknown:
            raise ConfigError(f"{label}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return cases


def diff(expected: Any, actual: Any) -> str:
    want = json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()
    got = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()
    return "\n".join(difflib.unified_diff(want, got, "expected", "rendered", lineterm=""))
