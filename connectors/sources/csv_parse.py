"""The bytes of one CSV file as records with their line numbers, and text fields as typed values.

A helper of :mod:`connectors.sources.csv_drop`, kept apart so that each module holds one idea.

:func:`records` streams a file a physical line at a time and decodes each line by itself,
so a badly encoded line spoils only the record it belongs to, never the whole file. The
``csv`` module (in strict mode) splits the decoded lines into fields; a quoted field may span
lines, and each record carries the line it *starts* on. Malformed records (an unclosed quote,
text after a closing quote, a NUL byte, a line past :data:`MAX_LINE`) come back as a
:class:`Record` with ``error`` set, and reading goes on with the next record.

:func:`convert` turns one field into the declared type: ``integer`` → int, ``decimal`` →
Decimal, ``datetime`` → datetime (naive unless the text gives an offset), ``text`` → str. An
empty field is None whatever the type. :func:`header_problem` says why a header cannot be used.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any, Literal

ColumnType = Literal["text", "integer", "decimal", "datetime"]
COLUMN_TYPES: tuple[str, ...] = ("text", "integer", "decimal", "datetime")
MAX_LINE = 8 * 1024 * 1024  # bytes; a longer physical line is a row error, not a memory spike

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ASCII_PROBE = "\n\r,;\t|\"' abcXYZ019"


def check_encoding(name: str) -> str:
    """The codec's canonical name; ValueError if unknown, or if lines cannot be split on bytes
    (UTF-16 and UTF-32 spread a newline over several bytes)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (e.g. utf-8-sig, utf-8, latin-1, cp1254)") from None
    try:
        same = _ASCII_PROBE.encode(info.name) == _ASCII_PROBE.encode("ascii")
    except (UnicodeError, LookupError):
        same = False
    if not same:
        raise ValueError(f"encoding {name!r} is not supported: CSV drops must use an ASCII-based encoding")
    return info.name


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: its fields, or why it could not be read; ``line`` is where it starts."""

    line: int
    fields: list[str] | None
    error: str | None = None


def _physical_lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Each line's bytes, newline included; None for a line longer than MAX_LINE (skipped)."""
    while raw := stream.readline(MAX_LINE):
        if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
            while (more := stream.readline(MAX_LINE)) and not more.endswith(b"\n"):
                pass
            yield None
        else:
            yield raw


def records(stream: IO[bytes], *, encoding: str, delimiter: str, quotechar: str) -> Iterator[Record]:
    """Every record of ``stream`` (a binary file), blank lines included as empty records."""
    name = codecs.lookup(encoding).name
    label = "UTF-8" if name.startswith("utf-8") else name
    later = "utf-8" if name == "utf-8-sig" else name  # a BOM can only start the file
    bad: dict[int, str] = {}  # physical line → what is wrong with it
    pulled = 0  # physical lines handed to the csv reader so far

    def lines() -> Iterator[str]:
        nonlocal pulled
        codec = name
        for raw in _physical_lines(stream):
            pulled += 1
            if raw is None:
                bad[pulled] = f"line {pulled} is longer than {MAX_LINE // 2**20} MiB"
                yield "\n"
                continue
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as exc:
                hint = "; set the source's encoding if the file is not UTF-8" if label == "UTF-8" else ""
                where = f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}"
                bad[pulled] = f"line {pulled} is not valid {label} ({where}){hint}"
                text = raw.decode(codec, errors="replace")
            if pulled == 1:
                text = text.removeprefix("\ufeff")
                codec = later
            yield text

    reader = csv.reader(lines(), delimiter=delimiter, quotechar=quotechar, strict=True)
    while True:
        start = pulled + 1
        try:
            fields: list[str] | None = next(reader)
            error = None
        except StopIteration:
            return
        except csv.Error as exc:
            fields, error = None, _csv_message(str(exc), start, pulled)
        found = [bad.pop(n) for n in sorted(bad) if n <= pulled]
        if fields is not None and any("\x00" in f for f in fields):
            found.append(f"a field holds a NUL byte (line {start}); NUL is not text")
        if found:
            yield Record(start, None, "; ".join(found))
        else:
            yield Record(start, fields, error)


def header_problem(fields: list[str], declared: list[str] | None) -> str | None:
    """Why a header cannot be used: a column without a name, a name given twice, or (when
    columns are declared) other names than the declared ones, in any order."""
    names = [f.strip() for f in fields]
    if "" in names:
        return f"the header has no name for column {names.index('') + 1}"
    counts = Counter(names)  # linear: a partner's header may hold a million names
    twice = sorted(n for n, count in counts.items() if count > 1)
    if twice:
        return f"the header names {listed(twice)} more than once"
    if not declared:
        return None
    missing = [n for n in declared if n not in counts]
    wanted = set(declared)
    extra = [n for n in names if n not in wanted]
    if not (missing or extra):
        return None
    parts = [f"missing {listed(missing)}"] if missing else []
    parts += [f"not declared {listed(extra)}"] if extra else []
    listing = ", ".join(declared)
    return f"the header does not match the declared columns: {'; '.join(parts)} (declared: {listing})"


def listed(names: list[str], most: int = 10, *, quoted: bool = True) -> str:
    """``'a', 'b' and 3 more``: a few names, each shortened, so that a message stays readable
    (and a row error stays small) whatever a header holds."""
    short = [_shown(n) if quoted else n if len(n) <= 40 else n[:37] + "..." for n in names[:most]]
    return ", ".join(short) + (f" and {len(names) - most} more" if len(names) > most else "")


def _csv_message(text: str, start: int, end: int) -> str:
    span = f" (lines {start} to {end})" if end > start else ""
    if "unexpected end of data" in text:
        return f"unclosed quote: the quoted field starting here runs to the end of the file{span}"
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit()} characters (an unclosed quote?){span}"
    return f"malformed CSV: {text}{span}"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def convert(text: str, kind: str, *, datetime_format: str | None = None, decimal_separator: str = ".") -> Any:
    """``text`` as a value of type ``kind``; None when blank. ValueError says why it does not fit."""
    if not text.strip():
        return None
    if kind == "text":
        return text
    value = text.strip()
    if kind == "integer":
        if not _INTEGER.fullmatch(value):
            raise ValueError(f"{_shown(text)} is not an integer")
        return int(value)
    if kind == "decimal":
        plain = value
        if decimal_separator != ".":
            plain = "!" if "." in value else value.replace(decimal_separator, ".")
        if not _DECIMAL.fullmatch(plain):
            example = "12.50" if decimal_separator == "." else f"12{decimal_separator}50"
            raise ValueError(f"{_shown(text)} is not a decimal number (like {example})")
        try:
            return Decimal(plain)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
            raise ValueError(f"{_shown(text)} is not a decimal number") from None
    if kind == "datetime":
        try:
            if datetime_format:
                return datetime.strptime(value, datetime_format)
            return datetime.fromisoformat(value)
        except ValueError:
            if datetime_format:
                raise ValueError(
                    f"{_shown(text)} is not a date-time of the form {datetime_format!r} (datetime_format)"
                ) from None
            raise ValueError(
                f"{_shown(text)} is not a date-time (expected ISO 8601, like 2024-07-13 16:01:26 or "
                "2024-07-13T16:01:26+03:00; another form needs `datetime_format:` in the source, "
                "e.g. '%d.%m.%Y %H:%M')"
            ) from None
    raise ValueError(f"unknown column type {kind!r}")  # pragma: no cover - the config allows no other
