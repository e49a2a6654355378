"""What becomes of a drop folder's files after a run: archived, rejected with a report, or left.

A helper of :mod:`connectors.sources.csv_drop`. A file goes to the archive when every row ended well
(delivered, unchanged, filtered out, superseded by a newer file), to the rejected folder when
a row cannot be delivered (a row error, or a request HG rejected), and stays where it is when
a row is still to be sent (failed after every retry, or not sent because the run stopped).
Nothing ever overwrites an earlier file of the same name: the later one gets a number,
``orders.2.csv``. Each archived or rejected file is recorded in the state store by name and
content hash, so that the same file dropped again is recognised.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from engine.logging import get_logger, redact_text

log = get_logger("hgsync.csv")

DONE = frozenset({"delivered", "unchanged", "filtered", "superseded"})  # rows that ended well
BAD = frozenset({"error", "rejected"})  # rows that cannot be delivered; any other end is retried
KEPT_PROBLEMS = 10_000  # per file, kept in memory for the rejection report
REPORT_HEADER = ("file", "line", "column", "reason")

ReportLine = tuple[str, int | str, str, str]  # file, line ("" if unknown), column, reason


@dataclass
class DropFile:
    """A file one run read (or skipped, as processed before), as it was when read."""

    name: str  # relative to the drop folder: the rows' batch
    path: Path
    size: int
    mtime_ns: int
    sha256: str = ""
    skipped: str | None = None  # why it was not read
    rows: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (line, column, reason)
    more_problems: int = 0  # found past KEPT_PROBLEMS

    def problem(self, line: int, column: str, reason: str) -> None:
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append((line, column, reason))
        else:
            self.more_problems += 1

    def changed(self) -> str | None:
        """Why the file must not be moved now: gone, or changed since it was read."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return "removed during the run"
        if (stat.st_size, stat.st_mtime_ns) != (self.size, self.mtime_ns):
            return "changed during the run; it is read again next run"
        return None


def open_plain(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing a symbolic link put there after the folder was
    listed (``O_NOFOLLOW``): a drop folder never leads outside itself."""
    return os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open_plain(path) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verdict(ends: Mapping[str, int]) -> tuple[str, int]:
    """("archive" | "reject" | "keep", how many rows decided it) from how a file's rows ended."""
    pending = sum(n for end, n in ends.items() if end not in DONE | BAD)
    if pending:
        return "keep", pending
    bad = sum(ends.get(end, 0) for end in BAD)
    return ("reject", bad) if bad else ("archive", 0)


def report_lines(file: DropFile, bad: int, given: list[tuple[str, str]] | None) -> list[ReportLine]:
    """A rejection report, in line order. ``given``: the engine's (origin, reason) of this file's
    rows that cannot be delivered; without it, the problems the source found itself, and a
    pointer to the run history for the others."""
    lines: list[ReportLine] = []
    if given is not None:
        columns = {line: column for line, column, _ in file.problems}
        for origin, reason in given:
            where = origin.removeprefix(f"{file.name}:")
            line = int(where) if where.isdigit() else ""
            column = columns.get(line, "") if isinstance(line, int) else ""
            lines.append((file.name, line, column, redact_text(reason)))
    else:
        lines = [(file.name, line, column, reason) for line, column, reason in file.problems]
        if file.more_problems:
            lines.append((file.name, "", "", f"{file.more_problems} more row error(s) not listed here"))
        rest = bad - len(file.problems) - file.more_problems
        if rest > 0:
            why = (
                f"{rest} row(s) failed to render or were rejected by HG; `hgsync history --errors RUN`"
                " and `hgsync history --failing` give the reasons"
            )
            lines.append((file.name, "", "", why))
    lines.sort(key=lambda item: (0, item[1]) if isinstance(item[1], int) else (1, 0))
    return lines


def _free(folder: Path, name: str, *, report: bool) -> Path:
    """``folder/name``, or ``folder/stem.N.suffix`` with the first N that is free."""
    stem, suffix = os.path.splitext(name)
    number, candidate = 1, folder / name
    while candidate.exists() or (report and Path(f"{candidate}.errors.csv").exists()):
        number += 1
        candidate = folder / f"{stem}.{number}{suffix}"
    return candidate


def move(
    file: DropFile,
    folder: Path,
    *,
    status: str,
    report: list[ReportLine] | None,
    state: Any,
    pipeline: str,
    detail: str | None = None,
) -> Path | None:
    """Move ``file`` into ``folder`` (with its report, if any) and record it as ``status``.
    A file that cannot be moved is logged and left where it is; returns where it went."""
    report_path = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = _free(folder, file.name, report=report is not None)
        if report is not None:
            report_path = Path(f"{target}.errors.csv")
            with report_path.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(REPORT_HEADER)
                writer.writerows(report)
        shutil.move(file.path, target)
    except OSError as exc:
        if report_path is not None:
            report_path.unlink(missing_ok=True)
        log.error("csv_file_move_failed", file=file.name, to=str(folder), reason=exc.strerror or str(exc))
        return None
    if file.skipped is None and state is not None:
        note = f"moved to {target}"
        state.record_file(
            pipeline, file.name, file.sha256, status, file.rows, f"{detail}; {note}" if detail else note
        )
    if status == "rejected":
        log.warning("csv_file_rejected", file=file.name, to=str(target), rows=file.rows, reason=detail)
    else:
        log.info("csv_file_archived", file=file.name, to=str(target), rows=file.rows, reason=file.skipped)
    return target
