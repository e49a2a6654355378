"""The send loop's writes, many keys per transaction: ``sending`` marks and outcomes.

A run marks a key ``sending`` before its request goes out and records the outcome when the
answer comes (see :mod:`engine.outbound.deliver`). Done one key per transaction, the state
store's commits cost more than the HTTP request; :meth:`Sending.write_batch` writes any
number of marks and outcomes in one transaction, with statements built once per database
(``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL, run with executemany), so
that no statement is built or compiled per key.

Outcomes are written before marks, and only the marks are fenced by the pipeline's lock: a
process that was taken over still records what became of the requests it sent, and sends
nothing more (LockLost is raised after the outcomes are committed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.errors import LockLost
from engine.logging import redact_text
from engine.store.base import utcnow
from engine.store.deliveries import Deliveries
from engine.store.locks import check_held
from engine.store.schema import deliveries

_KEY = ("pipeline", "key")
_MARK = (
    "status",
    "attempted_fingerprint",
    "idempotency_key",
    "origin",
    "run_id",
    "updated_at",
    "source_digest",
)
_SETTLED = ("status", "attempted_fingerprint", "last_status", "origin", "run_id", "updated_at", "last_error")
_DELIVERED = (
    *_SETTLED,
    "fingerprint",
    "request",
    "delivered_at",
    "attempts",
    "source_digest",
    "response",
    "reference",
    "response_state",
)
MAX_RESPONSE = 65536  # characters of HG's answer kept with a delivery
_OTHER = (*_SETTLED, "attempts")


@dataclass(frozen=True, slots=True)
class Mark:
    """A key whose request is about to go out."""

    key: str
    fingerprint: str
    origin: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of one request: ``delivered``, ``rejected``, ``failed`` or ``in_doubt``.
    ``message`` of a delivered request is a note kept with it (``duplicate refused by HG``);
    ``source_digest`` (delivered only) lets later runs skip the row while it stays the same;
    ``response`` is HG's answer (JSON text) and ``reference`` the id in it a later webhook names."""

    key: str
    kind: str
    fingerprint: str
    request: str
    http_status: int | None
    message: str | None
    attempts: int
    origin: str
    source_digest: str | None = None
    response: str | None = None
    reference: str | None = None
    apply_response: bool = False  # the pipeline's response: block is to write the answer back


def _attempts(excluded: Any) -> sa.ColumnElement[Any]:
    """Tries of the request, over runs: added to the earlier ones while the same request
    keeps failing, counted afresh otherwise (the values on the right are the stored row's)."""
    same = (deliveries.c.status != "delivered") & (
        deliveries.c.attempted_fingerprint == excluded.attempted_fingerprint
    )
    return sa.case(
        (same, sa.func.coalesce(deliveries.c.attempts, 0) + excluded.attempts), else_=excluded.attempts
    )


_MARK_ROW = (*_KEY, *_MARK, "attempts")
_DELIVERED_ROW = (*_KEY, *_DELIVERED, "last_error")
_OTHER_ROW = (*_KEY, *_OTHER, "last_error")


@dataclass(frozen=True)
class _Upsert:
    """An ``INSERT ... ON CONFLICT DO UPDATE`` compiled once for a database's driver, run with
    the driver's executemany: no statement building, parameter processing or caching per key."""

    sql: str
    order: tuple[str, ...] | None  # bind names in order, for drivers taking tuples (SQLite)
    constants: dict[str, Any]  # the statement's own literals (CASE ... 'delivered', COALESCE ... 0)

    def params(self, rows: list[dict[str, Any]]) -> list[Any]:
        if self.order is None:
            return [{**self.constants, **row} for row in rows]
        values = self.constants
        return [tuple(row[n] if n in row else values[n] for n in self.order) for row in rows]


def _upserts(dialect: sa.Dialect) -> tuple[_Upsert, _Upsert, _Upsert] | None:
    """(mark, delivered, other outcome) statements for a database with ON CONFLICT, else None."""
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect.name)
    if module is None:
        return None
    built = []
    for columns, row, attempts in (
        (_MARK, _MARK_ROW, False),
        (_DELIVERED, _DELIVERED_ROW, False),
        (_OTHER, _OTHER_ROW, True),
    ):
        insert = module.insert(deliveries)
        excluded = insert.excluded
        update = {name: excluded[name] for name in columns if name != "attempts"}
        if "attempts" in columns:
            update["attempts"] = _attempts(excluded) if attempts else excluded.attempts
        statement = insert.on_conflict_do_update(index_elements=list(_KEY), set_=update)
        compiled = statement.compile(dialect=dialect, column_keys=list(row))
        constants = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if name not in row and name.isidentifier()
        }
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        built.append(_Upsert(compiled.string, order, constants))
    return built[0], built[1], built[2]


def _moment(dialect: sa.Dialect, now: datetime) -> Any:
    """``now`` as the driver takes it for the store's date-time columns (SQLite: text)."""
    process = deliveries.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    return process(now) if process is not None else now


class Sending(Deliveries):
    """Marks and outcomes of the send loop, in batches (single ones go through the same path)."""

    _statements: dict[str, tuple[_Upsert, _Upsert, _Upsert] | None] = {}

    def write_batch(
        self,
        pipeline: str,
        run_id: str,
        marks: Sequence[Mark] = (),
        outcomes: Sequence[Settled] = (),
        *,
        fence: str | None = None,
    ) -> None:
        """Commit ``outcomes``, then mark ``marks`` ``sending``, in one transaction.

        A mark is written before its request goes out: if the process dies before the outcome
        is committed, the next run finds ``sending`` and treats the request as in doubt.
        ``fence``: a lock this process must still hold to write marks; without it the
        outcomes are still committed, the marks are not, and LockLost is raised."""
        if not marks and not outcomes:
            return
        lost: LockLost | None = None
        with self._begin() as conn:
            upserts = self._upserts_for(conn)
            now = _moment(conn.dialect, utcnow()) if upserts is not None else utcnow()
            if outcomes:
                self._write_outcomes(conn, upserts, pipeline, run_id, outcomes, now)
            if marks:
                try:
                    if fence is not None:
                        check_held(conn, fence)
                except LockLost as exc:
                    lost = exc
                else:
                    rows = [
                        {
                            "pipeline": pipeline,
                            "key": m.key,
                            "status": "sending",
                            "attempted_fingerprint": m.fingerprint,
                            "idempotency_key": m.idempotency_key,
                            "origin": m.origin,
                            "run_id": run_id,
                            "updated_at": now,
                            "source_digest": None,
                            "attempts": 0,
                        }
                        for m in marks
                    ]
                    if upserts is not None:
                        conn.exec_driver_sql(upserts[0].sql, upserts[0].params(rows))
                    else:
                        for row in rows:
                            values = {k: v for k, v in row.items() if k in _MARK}
                            self._upsert(conn, pipeline, row["key"], values)
        if lost is not None:
            raise lost

    def _upserts_for(self, conn: sa.Connection) -> tuple[_Upsert, _Upsert, _Upsert] | None:
        name = f"{conn.dialect.name}+{conn.dialect.driver}"
        if name not in self._statements:
            self._statements[name] = _upserts(conn.dialect)
        return self._statements[name]

    def _write_outcomes(
        self,
        conn: sa.Connection,
        upserts: tuple[_Upsert, _Upsert, _Upsert] | None,
        pipeline: str,
        run_id: str,
        outcomes: Sequence[Settled],
        now: Any,
    ) -> None:
        delivered, other = [], []
        for o in outcomes:
            row: dict[str, Any] = {
                "pipeline": pipeline,
                "key": o.key,
                "status": o.kind,
                "attempted_fingerprint": o.fingerprint,
                "last_status": o.http_status,
                "origin": o.origin,
                "run_id": run_id,
                "updated_at": now,
                "attempts": o.attempts,
            }
            if o.kind == "delivered":
                row.update(
                    fingerprint=o.fingerprint,
                    request=redact_text(o.request),  # a template may have put a secret in it
                    delivered_at=now,
                    last_error=redact_text(o.message)[:2000] if o.message else None,
                    source_digest=o.source_digest,
                    response=redact_text(o.response)[:MAX_RESPONSE] if o.response else None,
                    reference=o.reference,
                    response_state="pending" if o.apply_response else None,
                )
                delivered.append(row)
            else:
                row["last_error"] = redact_text(o.message or "")[:2000]
                other.append(row)
        if upserts is not None:
            if delivered:
                conn.exec_driver_sql(upserts[1].sql, upserts[1].params(delivered))
            if other:
                conn.exec_driver_sql(upserts[2].sql, upserts[2].params(other))
            return
        for row in delivered + other:  # a database without ON CONFLICT: one key at a time
            key = row["key"]
            if row["status"] != "delivered":
                where = (deliveries.c.pipeline == pipeline) & (deliveries.c.key == key)
                before = conn.execute(
                    sa.select(
                        deliveries.c.attempted_fingerprint, deliveries.c.attempts, deliveries.c.status
                    ).where(where)
                ).first()
                same = before is not None and before.attempted_fingerprint == row["attempted_fingerprint"]
                if same and before.status != "delivered":
                    row["attempts"] += before.attempts or 0
            self._upsert(conn, pipeline, key, {k: v for k, v in row.items() if k not in _KEY})

    def mark_sending(
        self,
        pipeline: str,
        key: str,
        fingerprint: str,
        origin: str,
        run_id: str,
        idempotency_key: str | None = None,
        *,
        fence: str | None = None,
    ) -> None:
        """One key's mark (see :meth:`write_batch`)."""
        self.write_batch(pipeline, run_id, [Mark(key, fingerprint, origin, idempotency_key)], fence=fence)

    def record_outcome(
        self,
        pipeline: str,
        key: str,
        *,
        kind: str,
        fingerprint: str,
        request: str,
        http_status: int | None,
        message: str | None,
        attempts: int,
        origin: str,
        run_id: str,
        source_digest: str | None = None,
    ) -> None:
        """One key's outcome (see :meth:`write_batch`)."""
        settled = Settled(
            key, kind, fingerprint, request, http_status, message, attempts, origin, source_digest
        )
        self.write_batch(pipeline, run_id, outcomes=[settled])
