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
# Bounds that keep a hostile file from exhausting memory or the stack: a pipeline or the
# config is a few kilobytes of at most a dozen levels and a few hundred values.
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 64  # levels of mappings and lists
MAX_VALUES = 20_000  # values built, aliases expanded (a "billion laughs" file stops here)


class _TooBig(Exception):
    """A file that cannot be a pipeline: where, and why."""

    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.mark = _mark(node)
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting beyond MAX_DEPTH (instead of overflowing the
    stack) and whose merge keys (``<<``) cannot multiply a mapping beyond MAX_VALUES."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep; a pipeline needs far fewer", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        super().flatten_mapping(node)
        if len(node.value) > MAX_VALUES:
            raise _TooBig(node, f"merge keys (<<) expand this mapping beyond {MAX_VALUES} values")


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
    secret_refs: dict[Loc, str] = field(default_factory=dict)  # values taken from a secret's variable
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
        self.scalar_loader = _Loader("")
        self.merged: dict[int, int] = {}  # mapping node → how many of its pairs came from `<<`
        self.built = 0  # values built so far, each alias counted again where it is used
        self.open: set[int] = set()  # collection nodes being built (an alias to one is a cycle)
        self.seen: set[int] = set()  # collection nodes built before (seen again: through an alias)
        self.repeat: yaml.Node | None = None  # the outermost one being built again, for errors

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.built += 1
        if self.built > MAX_VALUES:
            raise _TooBig(
                self.repeat or node,
                f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?)",
            )
        if id(node) in self.open:
            raise _TooBig(node, "an alias refers to a mapping or list that contains it (a recursive alias)")
        if len(loc) > MAX_DEPTH:
            raise _TooBig(node, f"nested more than {MAX_DEPTH} levels deep once aliases are expanded")
        if isinstance(node, yaml.CollectionNode):
            outermost = self.repeat is None and id(node) in self.seen
            if outermost:
                self.repeat = node
            self.open.add(id(node))
            self.seen.add(id(node))
            try:
                return self._build(node, loc)
            finally:
                self.open.discard(id(node))
                if outermost:
                    self.repeat = None
        return self._build(node, loc)

    def _build(self, node: yaml.Node, loc: Loc) -> Any:
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
                key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
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
        value = self._scalar(node)
        if isinstance(node, yaml.ScalarNode) and node.style == "|":
            self._block(node, loc)
        if isinstance(value, str) and "${env:" in value:
            whole = _ENV.fullmatch(value) is not None
            value = self._interpolate(value, node, loc)
            if whole and value == "null":  # `${env:RATE_LIMIT:-null}`: the YAML null, not the text
                return None
        return value

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self.scalar_loader.construct_object(node)
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise _TooBig(node, f"this value cannot be read ({str(exc).split(';')[0]})") from None

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
                self.doc.secret_refs[loc] = name
            return value

        return _ENV.sub(replace, text)


def load_yaml(
    path: str | Path, *, environ: Mapping[str, str] | None = None, display: str | None = None
) -> YamlDoc:
    """Load one YAML file; syntax errors and unset variables land in ``doc.problems``."""
    path = Path(path)
    doc = YamlDoc(file=display or str(path), data=None)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            doc.problems.append(
                Problem(doc.file, 1, 1, "", f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; not read")
            )
            return doc
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        doc.problems.append(
            Problem(
                doc.file,
                line,
                col,
                "",
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
            )
        )
        return doc
    except OSError as exc:
        doc.problems.append(Problem(doc.file, 1, 1, "", f"cannot read the file: {exc}"))
        return doc
    return parse_yaml(text, doc, environ=environ)


def parse_yaml(text: str, doc: YamlDoc, *, environ: Mapping[str, str] | None = None) -> YamlDoc:
    if len(text) > MAX_FILE_BYTES:
        doc.problems.append(
            Problem(doc.file, 1, 1, "", f"the text is longer than {MAX_FILE_BYTES} characters")
        )
        return doc
    try:
        node = yaml.compose(text, Loader=_Loader)
    except _TooBig as exc:
        doc.problems.append(Problem(doc.file, *exc.mark, "", exc.message))
        return doc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        doc.problems.append(
            Problem(
                doc.file,
                line,
                col,
                "",
                f"YAML: a control character ({what}) cannot be in the file; remove it",
            )
        )
        return doc
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
    except _TooBig as exc:
        doc.data = None
        doc.problems.append(Problem(doc.file, *exc.mark, "", exc.message))
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        doc.problems.append(Problem(doc.file, line, col, "", f"YAML: {exc.problem}"))
    return doc
