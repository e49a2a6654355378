"""Per pipeline and key: what was last delivered, what was last tried, and how it went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.logging import redact_text
from engine.store.base import StoreBase, utcnow
from engine.store.schema import deliveries

LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class KeyState:
    """What the store knows of one key."""

    key: str
    status: str
    fingerprint: str | None
    attempted_fingerprint: str | None
    attempts: int
    last_error: str | None
    request: str | None = None


class Deliveries(StoreBase):
    """The ``hgsync_deliveries`` table: one row per pipeline and key."""

    def lookup(
        self, pipeline: str, keys: Iterable[str], *, with_request: bool = False
    ) -> dict[str, KeyState]:
        """What is known of ``keys`` (those never seen are absent)."""
        columns = [
            deliveries.c.key,
            deliveries.c.status,
            deliveries.c.fingerprint,
            deliveries.c.attempted_fingerprint,
            deliveries.c.attempts,
            deliveries.c.last_error,
        ]
        if with_request:
            columns.append(deliveries.c.request)
        keys = list(dict.fromkeys(keys))
        found: dict[str, KeyState] = {}
        with self._begin() as conn:
            for start in range(0, len(keys), LOOKUP_CHUNK):
                chunk = keys[start : start + LOOKUP_CHUNK]
                query = sa.select(*columns).where(
                    deliveries.c.pipeline == pipeline, deliveries.c.key.in_(chunk)
                )
                for row in conn.execute(query):
                    found[row.key] = KeyState(*row)
        return found

    def _upsert(self, conn: sa.Connection, pipeline: str, key: str, values: dict[str, Any]) -> None:
        where = (deliveries.c.pipeline == pipeline) & (deliveries.c.key == key)
        if conn.execute(deliveries.update().where(where).values(**values)).rowcount == 0:
            conn.execute(deliveries.insert().values(pipeline=pipeline, key=key, **values))

    def mark_sending(self, pipeline: str, key: str, fingerprint: str, origin: str, run_id: str) -> None:
        """Written before a request goes out: if the process dies before the outcome is
        committed, the next run sees ``sending`` and sends the request again."""
        with self._begin() as conn:
            self._upsert(
                conn,
                pipeline,
                key,
                {
                    "status": "sending",
                    "attempted_fingerprint": fingerprint,
                    "origin": origin,
                    "run_id": run_id,
                    "updated_at": utcnow(),
                },
            )

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
    ) -> None:
        """Commit what became of one request: ``delivered``, ``rejected`` or ``failed``."""
        now = utcnow()
        with self._begin() as conn:
            where = (deliveries.c.pipeline == pipeline) & (deliveries.c.key == key)
            before = conn.execute(
                sa.select(
                    deliveries.c.attempted_fingerprint, deliveries.c.attempts, deliveries.c.status
                ).where(where)
            ).first()
            earlier = 0
            if (
                before is not None
                and before.attempted_fingerprint == fingerprint
                and before.status != "delivered"
            ):
                earlier = before.attempts or 0
            values: dict[str, Any] = {
                "status": kind,
                "attempted_fingerprint": fingerprint,
                "last_status": http_status,
                "origin": origin,
                "run_id": run_id,
                "updated_at": now,
            }
            if kind == "delivered":
                values.update(
                    fingerprint=fingerprint,
                    request=request,
                    delivered_at=now,
                    attempts=attempts,
                    last_error=None,
                )
            else:
                values.update(attempts=earlier + attempts, last_error=redact_text(message or "")[:2000])
            self._upsert(conn, pipeline, key, values)

    def failing(self, pipeline: str, limit: int = 20) -> list[dict[str, Any]]:
        """Keys whose last request was rejected or failed, most tried first."""
        query = (
            sa.select(
                deliveries.c.key,
                deliveries.c.status,
                deliveries.c.attempts,
                deliveries.c.last_status,
                deliveries.c.last_error,
                deliveries.c.origin,
                deliveries.c.updated_at,
            )
            .where(
                deliveries.c.pipeline == pipeline, deliveries.c.status.in_(["rejected", "failed", "sending"])
            )
            .order_by(deliveries.c.attempts.desc(), deliveries.c.key)
            .limit(limit)
        )
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def count_by_status(self, pipeline: str) -> dict[str, int]:
        query = (
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.pipeline == pipeline)
            .group_by(deliveries.c.status)
        )
        with self._begin() as conn:
            return {status: count for status, count in conn.execute(query)}
