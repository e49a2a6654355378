"""The plan of one run, on disk: every row read, what it rendered to, and what to do with it.

A run first reads the whole source into the spool (a temporary SQLite file) and only then
sends. That keeps memory flat however large the source, lets duplicate keys be found before
anything is sent (so *every* row sharing a key is held back, not just the later ones), lets
a newer CSV file win over an older one, and makes ``plan`` exactly the first half of ``run``.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.sources.base import origins

_SCHEMA = """
CREATE TABLE rows (
    seq INTEGER PRIMARY KEY,
    key TEXT,
    rank INTEGER NOT NULL DEFAULT 0,
    batch TEXT,
    origin TEXT NOT NULL,
    verdict TEXT NOT NULL,      -- new changed unchanged retry rejected held filtered error superseded
    fingerprint TEXT,
    request TEXT,               -- JSON: {"method", "path", "params", "body"}
    previous TEXT,              -- JSON of the last delivered request, for changed keys
    reason TEXT,
    state TEXT,                 -- the key's status in the state store before this run (NULL: none)
    cursor TEXT,                -- the row's cursor value (engine.outbound.cursor.encode), incremental reads only
    digest TEXT,                -- of the source row and the pipeline's definition (engine.outbound.digest)
    refresh INTEGER,            -- 1: rendered unchanged, its digest to be saved with the key
    outcome TEXT                -- delivered rejected failed, once sent
);
CREATE TABLE skipped (          -- rows found unchanged by their digest, not in rows: one chunk a row
    first INTEGER PRIMARY KEY,  -- the seq of its first row
    data BLOB NOT NULL          -- pickle of (first seq, positions, digests, origins: RowChunk.aside)
)
"""


@dataclass(frozen=True)
class SpoolRow:
    seq: int
    key: str | None
    origin: str
    batch: str | None
    verdict: str
    fingerprint: str | None
    request: dict[str, Any] | None
    previous: dict[str, Any] | None
    reason: str | None
    state: str | None = None  # the key's status in the state store before this run
    request_json: str | None = None  # ``request`` as stored: canonical JSON
    digest: str | None = None  # of the source row and the pipeline's definition


class Spool:
    """A temporary SQLite file holding one run's rows; deleted on close."""

    def __init__(self, folder: Path | None = None):
        self._dir = tempfile.TemporaryDirectory(prefix="hgsync-spool-", dir=folder)
        # planned in a worker thread, sent from the event loop: one user at a time, never both
        self.db = sqlite3.connect(
            Path(self._dir.name) / "spool.db", isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.executescript(_SCHEMA)
        self._indexed = False
        self._skipped: Counter[str | None] = Counter()  # rows in ``skipped`` not promoted, by batch
        self._next = 1  # the seq of the next row added

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def add(
        self,
        size: int,
        rows: list[tuple[int, tuple[Any, ...]]],
        aside: tuple[list[int], list[bytes], Any] | None = None,
    ) -> None:
        """The next ``size`` rows read. ``rows``: (position among them, record) with a record
        (key, rank, batch, origin, verdict, fingerprint, request, previous, reason, state,
        cursor, digest, refresh), or (key, rank, batch, origin, cursor) for a row found
        unchanged by its digest (delivered, nothing else to keep). ``aside``: (positions,
        digests, origins as :meth:`RowChunk.aside` describes them) of rows found unchanged by
        their digest whose keys are not known: kept aside, counted unchanged, and put in the
        rows if :meth:`promote` names their digest."""
        first = self._next
        full = [(first + at, *row) for at, row in rows if len(row) != 5]
        same = [(first + at, *row) for at, row in rows if len(row) == 5]
        self.db.execute("BEGIN")
        if full:
            self.db.executemany(
                "INSERT INTO rows (seq, key, rank, batch, origin, verdict, fingerprint, request, previous, reason,"
                " state, cursor, digest, refresh) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                full,
            )
        if same:
            self.db.executemany(
                "INSERT INTO rows (seq, key, rank, batch, origin, cursor, verdict, state)"
                " VALUES (?, ?, ?, ?, ?, ?, 'unchanged', 'delivered')",
                same,
            )
        if aside is not None and aside[0]:
            positions, digests, described = aside
            data = pickle.dumps((first, positions, digests, described), protocol=pickle.HIGHEST_PROTOCOL)
            self.db.execute("INSERT INTO skipped VALUES (?, ?)", (first + positions[0], data))
            if isinstance(described, list):  # origins spelled out: they may have batches
                self._skipped.update(batch for _label, batch, _rank in described)
            else:
                self._skipped[None] += len(positions)
        self.db.execute("COMMIT")
        self._next += size

    def promote(self, keys: dict[bytes, str]) -> int:
        """Put the rows kept aside whose digest ``keys`` names in the rows, unchanged, with
        that key (so that :meth:`settle_duplicates` sees them). Returns how many."""
        promoted = []
        if keys:
            for (data,) in self.db.execute("SELECT data FROM skipped ORDER BY first"):  # a chunk at a time
                first, positions, digests, described = pickle.loads(data)  # noqa: S301 (our own file)
                if not any(digest in keys for digest in digests):
                    continue
                for at, digest, (origin, batch, rank) in zip(
                    positions, digests, origins(described), strict=True
                ):
                    if digest in keys:
                        promoted.append((first + at, keys[digest], rank, batch, origin))
                        self._skipped[batch] -= 1
        if promoted:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO rows (seq, key, rank, batch, origin, verdict, state)"
                " VALUES (?, ?, ?, ?, ?, 'unchanged', 'delivered')",
                promoted,
            )
            self.db.execute("COMMIT")
        return len(promoted)

    def settle_duplicates(self) -> int:
        """Rows sharing a key: those from an older batch than the newest holding the key are
        ``superseded``; two or more in that newest batch are all errors. Returns the errors."""
        if not self._indexed:
            self.db.execute("CREATE INDEX rows_key ON rows (key, rank)")
            self._indexed = True
        self.db.execute("BEGIN")
        self.db.execute(
            "CREATE TEMP TABLE dup AS SELECT key, MAX(rank) AS top FROM rows"
            " WHERE key IS NOT NULL GROUP BY key HAVING COUNT(*) > 1"
        )
        self.db.execute(
            "UPDATE rows SET verdict = 'superseded', reason = 'a newer batch has the same key'"
            " WHERE seq IN (SELECT r.seq FROM rows r JOIN dup d ON r.key = d.key AND r.rank < d.top)"
        )
        # grouped, not a count per row: every row of a source may share one key (a key
        # template that names a constant column), and this must stay linear in them
        clashing = self.db.execute(
            "WITH top AS (SELECT r.key FROM rows r JOIN dup d ON r.key = d.key AND r.rank = d.top"
            " GROUP BY r.key HAVING COUNT(*) > 1)"
            " SELECT r.seq, r.key, r.origin FROM rows r JOIN dup d ON r.key = d.key AND r.rank = d.top"
            " WHERE r.key IN (SELECT key FROM top) ORDER BY r.key, r.seq"
        ).fetchall()
        by_key: dict[str, list[tuple[int, str]]] = {}
        for seq, key, origin in clashing:
            by_key.setdefault(key, []).append((seq, origin))
        updates = []
        for key, members in by_key.items():
            first = members[:4]  # the first three others of any member are among these
            for seq, _origin in members:
                others = [o for s, o in first if s != seq][:3]
                more = len(members) - 1 - len(others)
                shown = ", ".join(others) + (f" and {more} more" if more > 0 else "")
                updates.append((f"duplicate key {key!r}: also at {shown}", seq))
        self.db.executemany("UPDATE rows SET verdict = 'error', reason = ? WHERE seq = ?", updates)
        self.db.execute("DROP TABLE dup")
        self.db.execute("COMMIT")
        return len(updates)

    def counts(self) -> Counter[str]:
        counts = Counter(
            dict(self.db.execute("SELECT verdict, COUNT(*) FROM rows GROUP BY verdict").fetchall())
        )
        counts["unchanged"] += sum(self._skipped.values())
        return +counts

    def _rows(self, where: str, params: tuple[Any, ...] = (), limit: int | None = None) -> list[SpoolRow]:
        sql = (
            "SELECT seq, key, origin, batch, verdict, fingerprint, request, previous, reason, state, digest FROM rows"
            f" WHERE {where} ORDER BY seq"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            SpoolRow(
                seq,
                key,
                origin,
                batch,
                verdict,
                fp,
                _load(request),
                _load(previous),
                reason,
                state,
                request,
                digest,
            )
            for seq, key, origin, batch, verdict, fp, request, previous, reason, state, digest in self.db.execute(
                sql, params
            )
        ]

    def to_send(self, page: int = 500) -> Iterator[SpoolRow]:
        """Rows to send, in the order they were read, a page at a time."""
        last = 0
        while True:
            rows = self._rows("seq > ? AND verdict IN ('new', 'changed', 'retry')", (last,), page)
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def sample(self, verdicts: tuple[str, ...], limit: int) -> list[SpoolRow]:
        marks = ", ".join("?" for _ in verdicts)
        return self._rows(f"verdict IN ({marks})", verdicts, limit)

    def errors(self) -> Iterator[SpoolRow]:
        yield from self._rows("verdict = 'error'")

    def set_outcomes(self, outcomes: list[tuple[str, str | None, int]]) -> None:
        """(outcome, reason, seq) of many rows at once."""
        self.db.execute("BEGIN")
        self.db.executemany(
            "UPDATE rows SET outcome = ?, reason = COALESCE(?, reason) WHERE seq = ?", outcomes
        )
        self.db.execute("COMMIT")

    def refreshed_digests(self, page: int = 2000) -> Iterator[list[tuple[str, str]]]:
        """(key, digest) of rows that rendered unchanged while their digest was not saved with
        the key, a page at a time."""
        cursor = self.db.execute(
            "SELECT key, digest FROM rows WHERE refresh = 1 AND verdict = 'unchanged' ORDER BY seq"
        )
        while rows := cursor.fetchmany(page):
            yield rows

    def undeliverable(self) -> Iterator[tuple[str, str, str]]:
        """(batch, origin, reason) of batch rows that cannot be delivered: row errors, and
        requests HG rejected in this run or before."""
        query = (
            "SELECT batch, origin, COALESCE(reason, '') FROM rows WHERE batch IS NOT NULL"
            " AND COALESCE(outcome, verdict) IN ('error', 'rejected') ORDER BY seq"
        )
        yield from self.db.execute(query)

    def unfinished_cursors(self) -> Iterator[str]:
        """Cursor values of rows whose request failed for a reason worth retrying, or was not sent."""
        query = (
            "SELECT cursor FROM rows WHERE cursor IS NOT NULL AND (outcome = 'failed'"
            " OR (outcome IS NULL AND verdict IN ('new', 'changed', 'retry')))"
        )
        for (value,) in self.db.execute(query):
            yield value

    def batches(self) -> dict[str, Counter[str]]:
        """Per batch (CSV file): how its rows ended, by verdict or outcome."""
        result: dict[str, Counter[str]] = {}
        query = "SELECT batch, COALESCE(outcome, verdict), COUNT(*) FROM rows WHERE batch IS NOT NULL GROUP BY 1, 2"
        for batch, state, count in self.db.execute(query):
            result.setdefault(batch, Counter())[state] = count
        for batch, count in self._skipped.items():
            if batch is not None and count:
                result.setdefault(batch, Counter())["unchanged"] += count
        return result


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
