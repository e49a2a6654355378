"""The history of runs, and the row errors each run met."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.logging import redact_text
from engine.store.base import StoreBase, aware, utcnow
from engine.store.schema import deliveries, row_errors, runs


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pipeline: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    message: str | None


class Runs(StoreBase):
    """The ``hgsync_runs`` and ``hgsync_row_errors`` tables."""

    def start_run(self, run_id: str, pipeline: str, trigger: str) -> None:
        with self._begin() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    pipeline=pipeline,
                    trigger=trigger,
                    status="running",
                    started_at=utcnow(),
                    counts="{}",
                )
            )

    def finish_run(
        self, run_id: str, status: str, counts: dict[str, int] | None, message: str | None = None
    ) -> None:
        """Close a run. ``counts`` None: rebuilt from what the run recorded (a run that stopped
        part-way, or failed, still tells what it read and what became of what it sent)."""
        with self._begin() as conn:
            if counts is None:
                counts = _rebuilt(conn, run_id)
            conn.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(
                    status=status,
                    finished_at=utcnow(),
                    counts=json.dumps(counts, sort_keys=True),
                    message=redact_text(message) if message else None,
                )
            )

    def record_counts(self, run_id: str, counts: dict[str, int]) -> None:
        """Keep a running run's counts so far (its plan's), so that a run killed later still
        shows what it read."""
        with self._begin() as conn:
            conn.execute(
                runs.update().where(runs.c.run_id == run_id).values(counts=json.dumps(counts, sort_keys=True))
            )

    def record_row_errors(
        self, run_id: str, pipeline: str, errors: list[tuple[str | None, str, str]]
    ) -> None:
        """(key, origin, reason) of rows that could not become requests."""
        if not errors:
            return
        now = utcnow()
        with self._begin() as conn:
            conn.execute(
                row_errors.insert(),
                [
                    {
                        "run_id": run_id,
                        "pipeline": pipeline,
                        "key": key,
                        "origin": origin,
                        "reason": reason,
                        "at": now,
                    }
                    for key, origin, reason in errors
                ],
            )

    def history(self, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self._begin() as conn:
            return [
                RunRecord(
                    run_id=row.run_id,
                    pipeline=row.pipeline,
                    trigger=row.trigger,
                    status=row.status,
                    started_at=aware(row.started_at),  # type: ignore[arg-type]
                    finished_at=aware(row.finished_at),
                    counts=json.loads(row.counts or "{}"),
                    message=row.message,
                )
                for row in conn.execute(query)
            ]

    def run_errors(self, run_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        query = sa.select(row_errors.c.key, row_errors.c.origin, row_errors.c.reason).where(
            row_errors.c.run_id == run_id
        )
        query = query.order_by(row_errors.c.id)
        if limit:
            query = query.limit(limit)
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def find_run(self, prefix: str) -> RunRecord | None:
        with self._begin() as conn:
            ids = (
                conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id.startswith(prefix)).limit(2))
                .scalars()
                .all()
            )
        if len(ids) != 1:
            return None
        return next((r for r in self.history(limit=10_000) if r.run_id == ids[0]), None)

    def close_abandoned_runs(self, pipeline: str) -> int:
        """Runs still marked ``running`` for a pipeline whose lock we now hold died mid-way:
        each is closed ``interrupted`` with its counts rebuilt from what it recorded (its plan's
        counts, and the outcome of every key whose last request it sent)."""
        with self._begin() as conn:
            dead = (
                conn.execute(
                    sa.select(runs.c.run_id).where(runs.c.pipeline == pipeline, runs.c.status == "running")
                )
                .scalars()
                .all()
            )
            for run_id in dead:
                counts = _rebuilt(conn, run_id)
                conn.execute(
                    runs.update()
                    .where(runs.c.run_id == run_id)
                    .values(
                        status="interrupted",
                        finished_at=utcnow(),
                        counts=json.dumps(counts, sort_keys=True),
                        message=f"the process stopped before the run ended; counts rebuilt from the "
                        f"{counts['sent']} outcome(s) it recorded",
                    )
                )
            return len(dead)


def _rebuilt(conn: sa.Connection, run_id: str) -> dict[str, int]:
    """A run's counts from what it recorded: its plan's counts (kept when it planned) and the
    statuses of the keys whose last request it sent (``sending``: in doubt)."""
    row = conn.execute(sa.select(runs.c.pipeline, runs.c.counts).where(runs.c.run_id == run_id)).first()
    pipeline, saved = (row.pipeline, row.counts) if row is not None else (None, None)
    outcomes = dict(
        conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.pipeline == pipeline, deliveries.c.run_id == run_id)
            .group_by(deliveries.c.status)
        ).all()
    )
    counts = {
        "delivered": outcomes.get("delivered", 0),
        "send_rejected": outcomes.get("rejected", 0),
        "send_failed": outcomes.get("failed", 0),
        "in_doubt": outcomes.get("in_doubt", 0) + outcomes.get("sending", 0),
    }
    counts["sent"] = sum(counts.values())
    return {**json.loads(saved or "{}"), **counts}
