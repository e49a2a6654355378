"""CSV drop folders: files that a partner (a carrier, a warehouse) leaves in a folder.

``source: {csv: {folder: drops/carrier, columns: {order_number: text, qty: integer}}}``

**Which files.** Files in the folder (not below it) whose name matches ``pattern``
(case-insensitive), oldest first (modification time, then name). Names ending ``.tmp`` or
``.part`` and hidden files are never read; a file modified less than ``settle_seconds`` ago
is still being written and is left for a later run.

**Each file once.** The state store remembers each archived file by name and content hash.
The same file dropped again is not read again: it goes straight to the archive (logged as
``csv_file_skipped``). A rejected file dropped again is read again: its delivered rows are
unchanged and not sent twice, and HG's rejections are resent only with ``--retry-failed``.

**After the run.** Reading has no side effects (``hgsync plan`` reads too); files move only
once a run has recorded every outcome. A file whose rows all ended well (delivered,
unchanged, filtered out, superseded) moves to ``archive/``; a file with a row that cannot be
delivered (a row error, or a request HG rejected) moves to ``rejected/`` with a report beside
it, ``<file>.errors.csv`` (file, line, column, reason); a file with a row still to send
(failed after every retry, or not sent because the run stopped) stays for the next run.

**Malformed input is a row error, never a crash or a silent loss.** A wrong number of fields,
an unclosed quote, a badly encoded line, a value that does not fit its column's type: each is
a row error naming the file and the line its record starts on (``carrier.csv:17``). A file
that cannot be read at all (empty, or a header that does not match the declared columns) is
one row error at its line 1, and is rejected whole. Blank lines are skipped.

**Keys across files.** When two files hold the same key, the row of the newer file (later
modification time, then name) is sent and the older one is superseded; two rows with one key
in the same file are both row errors.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.sources import csv_archive
from connectors.sources.base import CursorRead, Origin, Row, SourceConnector, SourceContext
from connectors.sources.csv_archive import DropFile
from connectors.sources.csv_parse import ColumnType, check_encoding, convert, header_problem, listed, records
from engine.errors import SourceConfigError, SourceError
from engine.logging import get_logger

log = get_logger("hgsync.csv")

IGNORED_SUFFIXES = (".tmp", ".part")
NEWER_WINS = (
    "when two files hold the same key, the row of the newer file (later modification time,"
    " then name) is sent and the older one is superseded"
)


class CsvColumn(BaseModel):
    """One declared column: its name and the type its values reach templates as."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, description="the column's name, as in the header; templates read row.<name>"
    )
    type: ColumnType = Field(
        "text",
        description="text, integer, decimal or datetime (also: date-time); an empty field is null",
    )

    @field_validator("type", mode="before")
    @classmethod
    def _type_alias(cls, value: Any) -> Any:
        return "datetime" if isinstance(value, str) and value.strip().lower() == "date-time" else value


def _columns_as_mapping(schema: dict[str, Any]) -> None:
    """The schema of ``columns`` also allows the mapping form {name: type} the validator takes."""
    columns = schema.get("properties", {}).get("columns", {})
    mapping = {"type": "object", "additionalProperties": {"enum": list(get_args(ColumnType))}}
    columns.setdefault("anyOf", []).insert(1, mapping)


class CsvSourceConfig(BaseModel):
    """source: {csv: {...}}: CSV files dropped in a folder, each read once, when complete."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_columns_as_mapping)

    folder: str = Field(description="the drop folder; a relative path is relative to the hgsync home")
    pattern: str = Field(
        "*.csv",
        description="names of the files to read, a glob without folders, case-insensitive; names"
        f" ending .tmp or .part and hidden files are never read; {NEWER_WINS}",
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="the field separator, e.g. ';'")
    quotechar: str = Field('"', min_length=1, max_length=1, description="the character that quotes fields")
    encoding: str = Field(
        "utf-8-sig",
        description="the files' encoding: UTF-8 with or without BOM by default; others by name"
        " (latin-1, cp1254...); a badly encoded line is a row error",
    )
    header: bool = Field(
        True, description="the first line names the columns; false: `columns` gives the order"
    )
    columns: list[CsvColumn] | None = Field(
        None,
        description="the columns and their types, as a mapping {name: type} or a list of {name, type}."
        " With a header, a file whose header names other columns is rejected whole; without a header,"
        " the order of the fields. Columns not declared are text",
        json_schema_extra=lambda schema: schema["anyOf"].insert(  # the mapping form, for editors
            0, {"type": "object", "additionalProperties": {"type": "string"}}
        ),
    )
    datetime_format: str | None = Field(
        None,
        description="the strptime format of datetime columns, e.g. '%d.%m.%Y %H:%M'; by default ISO 8601"
        " (2024-07-13T16:01:26+03:00 or 2024-07-13 16:01:26); naive unless the text has an offset",
    )
    decimal_separator: Literal[".", ","] = Field(
        ".", description="the decimal separator of decimal columns: '.' (12.50) or ',' (12,50)"
    )
    settle_seconds: float = Field(
        2.0,
        ge=0,
        le=86400,  # a day: beyond, no file would ever be read, silently
        allow_inf_nan=False,
        description="a file modified less than this many seconds ago is still being written and waits"
        " for a later run (at most 86400: a day)",
    )
    archive_folder: str = Field(
        "archive",
        description="where a file goes once all its rows are delivered (relative to the drop folder)",
    )
    rejected_folder: str = Field(
        "rejected",
        description="where a file with rows that cannot be delivered goes, with <file>.errors.csv beside"
        " it listing file, line, column and reason of each (relative to the drop folder)",
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_mapping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [{"name": name, "type": kind} for name, kind in value.items()]
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        check_encoding(value)
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if not value or "/" in value or "\\" in value:
            raise ValueError("give a file name pattern without folders, e.g. '*.csv'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CsvSourceConfig:
        if self.delimiter in "\r\n" or self.delimiter == self.quotechar:
            raise ValueError("the delimiter must be one character other than a newline and the quotechar")
        names = [c.name for c in self.columns or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"columns: {', '.join(map(repr, twice))} declared more than once")
        if not self.header and not names:
            raise ValueError("without a header, declare the columns (in their order in the file)")
        return self


class CsvDropSource(SourceConnector):
    """Reads the complete CSV files of a drop folder; archives or rejects them after the run."""

    config: CsvSourceConfig

    Config = CsvSourceConfig

    def __init__(self, config: CsvSourceConfig, context: SourceContext):
        super().__init__(config, context)
        self._files: list[DropFile] = []

    # -- where ----------------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        path = Path(self.config.folder).expanduser()
        return path if path.is_absolute() else self.context.home / path

    def _subfolder(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.folder / path

    def check(self) -> list[tuple[tuple[str | int, ...], str]]:
        folder = self.folder
        if not folder.exists():
            where = "" if Path(self.config.folder).is_absolute() else f" (relative to {self.context.home})"
            return [(("folder",), f"the drop folder {str(folder)!r} does not exist{where}")]
        if not folder.is_dir():
            return [(("folder",), f"{str(folder)!r} is not a folder")]
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for key in ("archive_folder", "rejected_folder"):
            path = self._subfolder(getattr(self.config, key))
            if path.exists() and not path.is_dir():
                problems.append(((key,), f"{str(path)!r} exists and is not a folder"))
        return problems

    def _scan(self, *, quiet: bool = False) -> list[tuple[str, Path, os.stat_result]]:
        """The complete files to read, oldest first; files still being written are left."""
        try:
            with os.scandir(self.folder) as listing:
                entries = list(listing)
        except FileNotFoundError:
            raise SourceConfigError(f"the drop folder {str(self.folder)!r} does not exist") from None
        except OSError as exc:
            raise SourceError(f"the drop folder {str(self.folder)!r}: {exc.strerror or exc}") from None
        pattern, now, found = self.config.pattern.lower(), time.time(), []
        for entry in entries:
            lowered = entry.name.lower()
            if entry.name.startswith(".") or lowered.endswith(IGNORED_SUFFIXES):
                continue
            if not fnmatch.fnmatchcase(lowered, pattern):
                continue
            if entry.is_symlink():  # could point anywhere (/etc/passwd); only files in the folder are read
                if not quiet:
                    log.warning(
                        "csv_file_skipped", file=entry.name, reason="a symbolic link; links are not followed"
                    )
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat()
            age = now - stat.st_mtime
            if age < self.config.settle_seconds:
                if not quiet:
                    reason = f"still being written (modified {max(age, 0):.1f}s ago)"
                    log.info("csv_file_skipped", file=entry.name, reason=reason)
                continue
            found.append((entry.name, Path(entry.path), stat))
        found.sort(key=lambda item: (item[2].st_mtime_ns, item[0]))
        return found

    # -- reading --------------------------------------------------------------------------------

    def columns(self) -> list[str] | None:
        """The declared columns; else every name in the headers of the files ready now (so that
        one file with a wrong header is rejected on its own, not the whole run); None if empty."""
        if self.config.columns:
            return [c.name for c in self.config.columns]
        names: dict[str, None] = {}
        for _, path, _ in self._scan(quiet=True):
            for name in self._header_of(path) or []:
                names.setdefault(name)
        return list(names) or None

    def _header_of(self, path: Path) -> list[str] | None:
        try:
            with csv_archive.open_plain(path) as stream:
                for record in records(stream, **self._dialect()):
                    if record.fields is not None and not any(f.strip() for f in record.fields):
                        continue  # a blank line
                    if record.fields is None or header_problem(record.fields, self._declared()):
                        return None
                    return [f.strip() for f in record.fields]
        except OSError:
            return None
        return None

    def _declared(self) -> list[str] | None:
        return [c.name for c in self.config.columns] if self.config.columns else None

    def _dialect(self) -> dict[str, str]:
        c = self.config
        return {"encoding": c.encoding, "delimiter": c.delimiter, "quotechar": c.quotechar}

    def read(self, cursor: CursorRead | None = None) -> Iterator[Row]:
        """Every row of every complete file, oldest file first. Nothing is moved or recorded
        (``cursor`` is never given: this source does not ask for incremental reads)."""
        self._files = []
        state, pipeline = self.context.state, self.context.pipeline
        for rank, (name, path, stat) in enumerate(self._scan(), start=1):
            file = DropFile(name, path, stat.st_size, stat.st_mtime_ns)
            try:
                file.sha256 = csv_archive.sha256_of(path)
            except FileNotFoundError:
                continue  # taken away since the folder was listed
            except OSError as exc:
                self._files.append(file)
                yield self._bad(file, rank, 1, f"the file cannot be read: {exc.strerror or exc}")
                continue
            self._files.append(file)
            done = state.file_record(pipeline, name, file.sha256) if state is not None else None
            if done is not None and done["status"] == "archived":
                file.skipped = (
                    f"already processed: the same file was archived on {done['processed_at']:%Y-%m-%d %H:%M}"
                    f" UTC with {done['rows']} row(s)"
                )
                log.info("csv_file_skipped", file=name, reason=file.skipped)
                continue
            yield from self._rows(file, rank)

    def _rows(self, file: DropFile, rank: int) -> Iterator[Row]:
        types = {c.name: c.type for c in self.config.columns or []}
        names = None if self.config.header else list(types)
        seen = False
        try:
            with csv_archive.open_plain(file.path) as stream:
                for record in records(stream, **self._dialect()):
                    if record.fields is not None and not any(f.strip() for f in record.fields):
                        continue  # a blank line
                    seen = True
                    if names is None:  # the header
                        if record.fields is None:
                            problem: str | None = f"cannot read the header: {record.error}"
                        else:
                            problem = header_problem(record.fields, self._declared())
                        if problem:
                            yield self._bad(file, rank, record.line, problem)
                            return
                        names = [f.strip() for f in record.fields or []]
                    elif record.fields is None:
                        yield self._bad(file, rank, record.line, record.error or "unreadable")
                    elif len(record.fields) != len(names):
                        count = f"{len(record.fields)} field(s), expected {len(names)}"
                        shown = listed(names, 20, quoted=False)
                        yield self._bad(file, rank, record.line, f"{count} ({shown})")
                    else:
                        yield self._typed(
                            file, rank, record.line, zip(names, record.fields, strict=True), types
                        )
        except OSError as exc:
            yield self._bad(file, rank, 1, f"the file cannot be read: {exc.strerror or exc}")
            return
        if not seen:
            yield self._bad(file, rank, 1, "the file is empty")

    def _typed(
        self, file: DropFile, rank: int, line: int, texts: Iterable[tuple[str, str]], types: Mapping[str, str]
    ) -> Row:
        values: dict[str, Any] = {}
        failed: list[tuple[str, str]] = []
        for name, text in texts:
            try:
                values[name] = convert(
                    text,
                    types.get(name, "text"),
                    datetime_format=self.config.datetime_format,
                    decimal_separator=self.config.decimal_separator,
                )
            except ValueError as exc:
                failed.append((name, f"column {name!r}: {exc}"))
        if failed:
            reason = "; ".join(message for _, message in failed)
            column = ", ".join(name for name, _ in failed)
            return self._bad(file, rank, line, reason, column=column, values=values)
        file.rows += 1
        return Row(values, Origin(f"{file.name}:{line}", batch=file.name, rank=rank))

    def _bad(
        self,
        file: DropFile,
        rank: int,
        line: int,
        reason: str,
        *,
        column: str = "",
        values: dict | None = None,
    ) -> Row:
        """A row error; ``values`` are the fields that did convert, so the key may still be known."""
        file.rows += 1
        file.problem(line, column, reason)
        return Row(values or {}, Origin(f"{file.name}:{line}", batch=file.name, rank=rank), error=reason)

    # -- after the run --------------------------------------------------------------------------

    def finish(
        self,
        batches: Mapping[str, Mapping[str, int]],
        *,
        complete: bool,
        errors: Iterable[tuple[str, str, str]] | None = None,
    ) -> None:
        """Archive the files whose rows all ended well, reject those with a row that cannot be
        delivered, leave the others; move nothing when the run stopped before the end.
        ``errors``, when the engine gives it, is (batch, origin, reason) of every row that cannot
        be delivered (row errors and HG's rejections), for the reports."""
        if not complete:
            if self._files:
                log.info("csv_files_kept", files=len(self._files), reason="the run stopped before the end")
            return
        given: dict[str, list[tuple[str, str]]] | None = None
        if errors is not None:
            given = {}
            for batch, origin, reason in errors:
                given.setdefault(batch, []).append((origin, reason))
        where = {"state": self.context.state, "pipeline": self.context.pipeline}
        archive = self._subfolder(self.config.archive_folder)
        for file in self._files:
            if (why := file.changed()) is not None:
                log.warning("csv_file_kept", file=file.name, reason=why)
            elif file.skipped is not None:
                csv_archive.move(file, archive, status="archived", report=None, **where)
            else:
                decision, count = csv_archive.verdict(batches.get(file.name, {}))
                if decision == "keep":
                    log.info("csv_file_kept", file=file.name, reason=f"{count} row(s) still to send")
                elif decision == "reject":
                    report = csv_archive.report_lines(
                        file, count, None if given is None else given.get(file.name, [])
                    )
                    folder = self._subfolder(self.config.rejected_folder)
                    detail = f"{count} row(s) cannot be delivered"
                    csv_archive.move(file, folder, status="rejected", report=report, detail=detail, **where)
                else:
                    csv_archive.move(file, archive, status="archived", report=None, **where)
