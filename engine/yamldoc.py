"""YAML files loaded with the position of every node, so that errors can say ``file:line:col``.

``yaml.compose`` keeps a ``start_mark`` on each node; :func:`load_yaml` builds plain Python
data from the node tree and a map from each value's path (a tuple of keys and indexes) to
its line and column. ``${env:NAME}`` and ``${env:NAME:-default}`` in string values are
replaced from the environment as the data is built; a variable that is not set is a
:class:`Problem` at the place that asked for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Problem
from engine.logging import register_secret

Loc = tuple[str | int, ...]
_ENV = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
_SECRET_NAME = re.compile(r"(secret|password|token)", re.I)


def format_loc(loc: Iterable[str | int]) -> str:
    """``("request", "body", "items", 0, "sku")`` → ``request.body.items[0].sku``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class YamlDoc:
    """One loaded YAML file: its data, and where each value and each key stands in it."""

    file: str
    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value (or key) at ``loc``, or of its nearest known parent."""
        loc = tuple(loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc:
            if loc in self.values:
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get((), (1, 1))

    def problem(self, loc: Loc, message: str, *, key: bool = False, severity: str = "error") -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.file, line, col, format_loc(loc), message, severity)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, doc: YamlDoc, environ: Mapping[str, str]):
        self.doc = doc
        self.environ = environ
        self.scalar_loader = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.doc.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            self.scalar_loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar_loader.construct_object(key_node)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.doc.problems.append(
                        Problem(self.doc.file, *_mark(key_node), format_loc(loc), "keys must be plain text")
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*loc, key)
                self.doc.keys[child] = _mark(key_node)
                if key in out:
                    self.doc.problems.append(
                        Problem(self.doc.file, *_mark(key_node), format_loc(child), "key given twice")
                    )
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        value = self.scalar_loader.construct_object(node)
        if isinstance(value, str) and "${env:" in value:
            value = self._interpolate(value, node, loc)
        return value

    def _interpolate(self, text: str, node: yaml.Node, loc: Loc) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                value = self.environ[name]
            elif default is not None:
                value = default
            else:
                self.doc.problems.append(
                    Problem(
                        self.doc.file,
                        *_mark(node),
                        format_loc(loc),
                        f"environment variable {name} is not set; set it, "
                        f"or give a default as ${{env:{name}:-value}}",
                    )
                )
                return ""
            if _SECRET_NAME.search(name) or (loc and _SECRET_NAME.search(str(loc[-1]))):
                register_secret(value)
            return value

        return _ENV.sub(replace, text)


def load_yaml(
    path: str | Path, *, environ: Mapping[str, str] | None = None, display: str | None = None
) -> YamlDoc:
    """Load one YAML file; syntax errors and unset variables land in ``doc.problems``."""
    path = Path(path)
    doc = YamlDoc(file=display or str(path), data=None)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "", f"cannot read the file: {exc}"))
        return doc
    return parse_yaml(text, doc, environ=environ)


def parse_yaml(text: str, doc: YamlDoc, *, environ: Mapping[str, str] | None = None) -> YamlDoc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or str(exc)
        doc.problems.append(Problem(doc.file, line, col, "", f"YAML syntax: {reason}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "", f"YAML syntax: {exc}"))
        return doc
    if node is None:
        doc.data = {}
        doc.values[()] = (1, 1)
        return doc
    try:
        doc.data = _Builder(doc, os.environ if environ is None else environ).build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        doc.problems.append(Problem(doc.file, line, col, "", f"YAML: {exc.problem}"))
    return doc
