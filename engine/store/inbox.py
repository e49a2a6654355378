"""The inbox: webhook events HG sent, committed before they are acknowledged, then applied.

An event is stored once per event id (a replay of it is acknowledged and dropped), keeps its
place in the order of arrival (``id``), and stays ``pending`` until an inbound pipeline has
applied it; one that keeps failing is ``failed`` with its reason until a person replays it.
Events of one operation are applied in the order they arrived: the applier takes them in
``id`` order and stops at the first one that is not due (see :mod:`engine.inbound.apply`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.base import StoreBase, aware, utcnow
from engine.store.schema import inbox


@dataclass(frozen=True)
class NewEvent:
    """An event to store. With ``content_hash`` (an event HG sent without an id) it is a repeat
    when an event with that hash arrived less than ``window`` seconds ago."""

    event_id: str
    operation: str
    body: Any
    content_hash: str | None = None
    window: float = 0.0


@dataclass(frozen=True)
class InboxEvent:
    id: int
    event_id: str
    operation: str
    body: Any
    status: str
    pipeline: str | None
    attempts: int
    next_attempt_at: datetime | None
    error: str | None
    received_at: datetime
    applied_at: datetime | None
    content_hash: str | None = None


def _event(row: Any) -> InboxEvent:
    values = dict(row._mapping)
    values["body"] = json.loads(values["body"])
    for name in ("next_attempt_at", "received_at", "applied_at"):
        values[name] = aware(values[name])
    return InboxEvent(**values)


class Inbox(StoreBase):
    """The ``hgsync_inbox`` table."""

    def inbox_add(self, events: Sequence[NewEvent]) -> list[bool]:
        """Store events in one transaction; for each, True if new, False if its id was seen."""
        dialect = postgresql if self.backend == "postgresql" else sqlite
        now = utcnow()
        added = []
        with self._begin() as conn:
            for event in events:
                if event.content_hash is not None:
                    since = now - timedelta(seconds=event.window)
                    recent = sa.select(inbox.c.id).where(
                        inbox.c.content_hash == event.content_hash, inbox.c.received_at >= since
                    )
                    if conn.execute(recent.limit(1)).first() is not None:
                        added.append(False)
                        continue
                statement = (
                    dialect.insert(inbox)
                    .values(
                        event_id=event.event_id,
                        operation=event.operation,
                        content_hash=event.content_hash,
                        body=json.dumps(event.body, separators=(",", ":"), ensure_ascii=False),
                        status="pending",
                        attempts=0,
                        received_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["event_id"])
                )
                added.append(conn.execute(statement).rowcount == 1)
        return added

    def inbox_due(self, operations: Iterable[str], limit: int = 200) -> list[InboxEvent]:
        """Per operation, its pending events in the order of arrival, up to the first one that
        is waiting for a retry (nothing of an operation overtakes an event that is not due)."""
        now = utcnow()
        due: list[InboxEvent] = []
        with self._begin() as conn:
            for operation in operations:
                query = (
                    sa.select(inbox)
                    .where(inbox.c.status == "pending", inbox.c.operation == operation)
                    .order_by(inbox.c.id)
                    .limit(limit)
                )
                for row in conn.execute(query):
                    event = _event(row)
                    if event.next_attempt_at is not None and event.next_attempt_at > now:
                        break
                    due.append(event)
        return due

    def inbox_applied(self, ids: Sequence[int], pipeline: str) -> None:
        """Mark events applied, in one transaction."""
        if not ids:
            return
        with self._begin() as conn:
            conn.execute(
                inbox.update()
                .where(inbox.c.id.in_(list(ids)))
                .values(
                    status="applied",
                    pipeline=pipeline,
                    error=None,
                    applied_at=utcnow(),
                    attempts=inbox.c.attempts + 1,
                    next_attempt_at=None,
                )
            )

    def inbox_failed(self, event_id: int, pipeline: str, error: str, retry_in: float | None) -> None:
        """One failed attempt: due again in ``retry_in`` seconds, or ``failed`` for good (None)."""
        values: dict[str, Any] = {"pipeline": pipeline, "error": error, "attempts": inbox.c.attempts + 1}
        if retry_in is None:
            values.update(status="failed", next_attempt_at=None)
        else:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in)
        with self._begin() as conn:
            conn.execute(inbox.update().where(inbox.c.id == event_id).values(**values))

    def inbox_replay(self, ids: Sequence[int] = (), *, failed: bool = False) -> int:
        """Make events due again now: the given ids (any status) or every failed one."""
        where = inbox.c.status == "failed" if failed else inbox.c.id.in_(list(ids))
        with self._begin() as conn:
            result = conn.execute(
                inbox.update()
                .where(where)
                .values(status="pending", attempts=0, next_attempt_at=None, error=None)
            )
        return result.rowcount

    def inbox_events(
        self, *, status: str | None = None, operation: str | None = None, limit: int = 50
    ) -> list[InboxEvent]:
        """The newest events first, optionally of one status or operation."""
        query = sa.select(inbox).order_by(inbox.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(inbox.c.status == status)
        if operation is not None:
            query = query.where(inbox.c.operation == operation)
        with self._begin() as conn:
            return [_event(row) for row in conn.execute(query)]

    def inbox_event(self, event_id: int) -> InboxEvent | None:
        with self._begin() as conn:
            row = conn.execute(sa.select(inbox).where(inbox.c.id == event_id)).first()
        return _event(row) if row is not None else None

    def inbox_counts(self) -> dict[str, dict[str, int]]:
        """operation → status → number of events."""
        query = sa.select(inbox.c.operation, inbox.c.status, sa.func.count()).group_by(
            inbox.c.operation, inbox.c.status
        )
        counts: dict[str, dict[str, int]] = {}
        with self._begin() as conn:
            for operation, status, number in conn.execute(query):
                counts.setdefault(operation, {})[status] = number
        return counts
