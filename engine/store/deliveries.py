"""Per pipeline and key: what was last delivered, what was last tried, and how it went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.logging import redact_text
from engine.store.base import StoreBase, utcnow
from engine.store.locks import check_held
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
        """Written before a request goes out: if the process dies before the outcome is
        committed, the next run finds ``sending`` and treats the request as in doubt.
        ``fence``: a lock this process must still hold, or LockLost is raised and nothing written."""
        with self._begin() as conn:
            if fence is not None:
                check_held(conn, fence)
            self._upsert(
                conn,
                pipeline,
                key,
                {
                    "status": "sending",
                    "attempted_fingerprint": fingerprint,
                    "idempotency_key": idempotency_key,
                    "origin": origin,
                    "run_id": run_id,
                    "updated_at": utcnow(),
                },
            )

    def revert_sending(self, pipeline: str, key: str, run_id: str, previous: str | None) -> None:
        """Undo :meth:`mark_sending` for a request that never left (its run stopped first):
        the key goes back to ``previous`` (None: it had no row)."""
        where = (
            (deliveries.c.pipeline == pipeline)
            & (deliveries.c.key == key)
            & (deliveries.c.status == "sending")
            & (deliveries.c.run_id == run_id)
        )
        with self._begin() as conn:
            if previous is None:
                conn.execute(deliveries.delete().where(where))
            else:
                conn.execute(deliveries.update().where(where).values(status=previous))

    def settle_in_flight(self, pipeline: str) -> int:
        """Keys left ``sending`` by a process that stopped (the caller holds the pipeline's
        lock, so no request of it is on the wire now) become ``in_doubt``."""
        with self._begin() as conn:
            return conn.execute(
                deliveries.update()
                .where(deliveries.c.pipeline == pipeline, deliveries.c.status == "sending")
                .values(
                    status="in_doubt",
                    last_error="the process stopped while the request was on the wire; HG may have it",
                    updated_at=utcnow(),
                )
            ).rowcount

    def resolve(self, pipeline: str, key: str, *, delivered: bool, note: str) -> str:
        """Settle an in-doubt key by hand: ``delivered`` (HG has it) or due to be sent again.
        Returns the status it had; raises KeyError when the key is not in doubt."""
        where = (deliveries.c.pipeline == pipeline) & (deliveries.c.key == key)
        with self._begin() as conn:
            row = conn.execute(
                sa.select(deliveries.c.status, deliveries.c.attempted_fingerprint).where(where)
            ).first()
            if row is None or row.status not in ("in_doubt", "sending"):
                raise KeyError(row.status if row is not None else None)
            values: dict[str, Any] = {"last_error": note[:2000], "updated_at": utcnow()}
            if delivered:
                values.update(
                    status="delivered",
                    fingerprint=row.attempted_fingerprint,
                    request=None,
                    delivered_at=utcnow(),
                )
            else:
                values.update(status="failed")
            conn.execute(deliveries.update().where(where).values(**values))
            return str(row.status)

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
        """Commit what became of one request: ``delivered``, ``rejected``, ``failed`` or
        ``in_doubt``. ``message`` of a delivered request is a note kept with it (``duplicate
        refused by HG``)."""
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
                    request=redact_text(request),  # a template may have put a secret in it
                    delivered_at=now,
                    attempts=attempts,
                    last_error=redact_text(message)[:2000] if message else None,
                )
            else:
                values.update(attempts=earlier + attempts, last_error=redact_text(message or "")[:2000])
            self._upsert(conn, pipeline, key, values)

    def failing(self, pipeline: str, limit: int = 20) -> list[dict[str, Any]]:
        """Keys whose last request was rejected or failed, most tried first (those in doubt
        are listed by :meth:`in_doubt`)."""
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
            .where(deliveries.c.pipeline == pipeline, deliveries.c.status.in_(["rejected", "failed"]))
            .order_by(deliveries.c.attempts.desc(), deliveries.c.key)
            .limit(limit)
        )
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def in_doubt(self, pipeline: str, limit: int = 20) -> list[dict[str, Any]]:
        """Keys whose last request may have reached HG without an answer, oldest first."""
        query = (
            sa.select(
                deliveries.c.key,
                deliveries.c.status,
                deliveries.c.attempts,
                deliveries.c.last_error,
                deliveries.c.idempotency_key,
                deliveries.c.origin,
                deliveries.c.run_id,
                deliveries.c.updated_at,
            )
            .where(deliveries.c.pipeline == pipeline, deliveries.c.status.in_(["in_doubt", "sending"]))
            .order_by(deliveries.c.updated_at, deliveries.c.key)
            .limit(limit)
        )
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def outcomes_of_run(self, run_id: str) -> dict[str, int]:
        """How many keys each status holds whose last request was tried by ``run_id``."""
        query = (
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.run_id == run_id)
            .group_by(deliveries.c.status)
        )
        with self._begin() as conn:
            return {status: count for status, count in conn.execute(query)}

    def count_by_status(self, pipeline: str) -> dict[str, int]:
        query = (
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.pipeline == pipeline)
            .group_by(deliveries.c.status)
        )
        with self._begin() as conn:
            return {status: count for status, count in conn.execute(query)}
