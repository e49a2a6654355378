"""YAML files loaded with the position of every node, so that errors can say ``file:line:col``.

``yaml.compose`` keeps a ``start_mark`` on each node; :func:`load_yaml` builds plain Python
data from the node tree and a map from each value's path (a tuple of keys and indexes) to
its line and column. ``${env:NAME}`` and ``${env:NAME:-default}`` in string values are
replaced from the environment as the data is built (a value that is one variable and comes out
as the text ``null`` is the YAML null); a variable that is not set is a
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
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML's marks count as lines
_MERGE = "tag:yaml.org,2002:merge"
_SECRET_NAME = re.compile(r"(secret|password|token)", re.I)


def display_path(path: Path, home: Path) -> str:
    """How problems name a file: relative to the project folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(home.resolve()))
    except ValueError:
        return str(path)


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
    # literal block scalars (``|``): line and column of their text's first line, so that a
    # position inside the text (line n of a template) maps onto the file
    blocks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    collections: set[Loc] = field(default_factory=set)  # values that are mappings or lists
    unset: set[Loc] = field(default_factory=set)  # values that name an environment variable not set
    problems: list[Problem] = field(default_factory=list)

    def where(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value (or key) at ``loc``, or of its nearest known parent.

        A mapping or list under a key is placed at its key (``body:``), not at its first item.
        """
        loc = tuple(loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc:
            if loc in self.values:
                if loc in self.collections and loc in self.keys:
                    return self.keys[loc]
                return self.values[loc]
            loc = loc[:-1]
        return self.values.get((), (1, 1))

    def problem(self, loc: Loc, message: str, *, key: bool = False, severity: str = "error") -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.file, line, col, format_loc(loc), message, severity)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, doc: YamlDoc, environ: Mapping[str, str], lines: list[str]):
        self.doc = doc
        self.environ = environ
        self.lines = lines
        self.scalar_loader = yaml.SafeLoader("")
        self.merged: dict[int, int] = {}  # mapping node → how many of its pairs came from `<<`

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.doc.values[loc] = _mark(node)
        if isinstance(node, yaml.CollectionNode):
            self.doc.collections.add(loc)
        if isinstance(node, yaml.MappingNode):
            if id(node) not in self.merged:  # `<<: *anchor` pairs go first; written keys override them
                own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE)
                self.scalar_loader.flatten_mapping(node)
                self.merged[id(node)] = len(node.value) - own
            out: dict[Any, Any] = {}
            written: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.scalar_loader.construct_object(key_node)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.doc.problems.append(
                        Problem(self.doc.file, *_mark(key_node), format_loc(loc), "keys must be plain text")
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*loc, key)
                self.doc.keys[child] = _mark(key_node)
                if key in written:
                    self.doc.problems.append(
                        Problem(self.doc.file, *_mark(key_node), format_loc(child), "key given twice")
                    )
                if index >= self.merged[id(node)]:
                    written.add(key)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        value = self.scalar_loader.construct_object(node)
        if isinstance(node, yaml.ScalarNode) and node.style == "|":
            self._block(node, loc)
        if isinstance(value, str) and "${env:" in value:
            whole = _ENV.fullmatch(value) is not None
            value = self._interpolate(value, node, loc)
            if whole and value == "null":  # `${env:RATE_LIMIT:-null}`: the YAML null, not the text
                return None
        return value

    def _block(self, node: yaml.ScalarNode, loc: Loc) -> None:
        """Where the text of a literal block scalar starts: the line after its ``|`` header,
        at the indentation of its first non-blank line."""
        first = node.start_mark.line + 1  # 0-based index of the line after the header
        col = 1
        for text in self.lines[first : node.end_mark.line + 1]:
            if text.strip():
                col = len(text) - len(text.lstrip(" ")) + 1
                break
        self.doc.blocks[loc] = (first + 1, col)

    def _interpolate(self, text: str, node: yaml.Node, loc: Loc) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                value = self.environ[name]
            elif default is not None:
                value = default
            else:
                self.doc.unset.add(loc)
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
        if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            start = exc.context_mark
            reason += f" ({exc.context} that starts at {start.line + 1}:{start.column + 1})"
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
        doc.data = _Builder(doc, os.environ if environ is None else environ, _LINE_BREAK.split(text)).build(
            node, ()
        )
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        doc.problems.append(Problem(doc.file, line, col, "", f"YAML: {exc.problem}"))
    return doc
