"""Results HG reports later for asynchronous requests, and the answers kept with deliveries.

Create Refund is asynchronous: HG answers with a request id and reports the refund's outcome
later through the "Refund create result" webhook, naming that id. A delivered request keeps
HG's answer (``deliveries.response``) and the id in it (``deliveries.reference``); a result
webhook is recorded here by the id it names (:meth:`Results.record_result`), whether or not
the request's answer has been recorded yet, and the two meet in :meth:`Results.results`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.base import StoreBase, aware, utcnow
from engine.store.schema import deliveries, results

AWAITING = "awaiting"  # delivered, no result yet


class Results(StoreBase):
    def record_result(
        self, reference: str, *, operation: str, status: str, reason: str | None, event_id: str
    ) -> bool:
        """Keep the result HG reported for ``reference`` (a later report replaces an earlier
        one). True when a delivered request of ours carries that reference."""
        dialect = postgresql if self.backend == "postgresql" else sqlite
        values = {
            "reference": reference,
            "operation": operation,
            "status": status,
            "reason": reason,
            "event_id": event_id,
            "received_at": utcnow(),
        }
        statement = dialect.insert(results).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["reference"], set_={k: statement.excluded[k] for k in values if k != "reference"}
        )
        with self._begin() as conn:
            conn.execute(statement)
            known = conn.execute(
                sa.select(deliveries.c.key).where(deliveries.c.reference == reference).limit(1)
            ).first()
        return known is not None

    def results(self, pipeline: str, limit: int = 50) -> list[dict[str, Any]]:
        """Delivered keys of ``pipeline`` that carry a reference, with the result reported for
        each (``awaiting`` while none has come), newest delivery first."""
        query = (
            sa.select(
                deliveries.c.key,
                deliveries.c.reference,
                deliveries.c.delivered_at,
                sa.func.coalesce(results.c.status, AWAITING).label("result"),
                results.c.reason,
                results.c.received_at,
            )
            .select_from(deliveries.outerjoin(results, results.c.reference == deliveries.c.reference))
            .where(deliveries.c.pipeline == pipeline, deliveries.c.reference.is_not(None))
            .order_by(deliveries.c.delivered_at.desc(), deliveries.c.key)
            .limit(limit)
        )
        with self._begin() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        for row in rows:
            for field in ("delivered_at", "received_at"):
                row[field] = aware(row[field]) if row[field] is not None else None
        return rows

    def result_counts(self, pipeline: str) -> dict[str, int]:
        """How many delivered keys of ``pipeline`` have each result (``awaiting``: none yet)."""
        result = sa.func.coalesce(results.c.status, AWAITING)
        query = (
            sa.select(result, sa.func.count())
            .select_from(deliveries.outerjoin(results, results.c.reference == deliveries.c.reference))
            .where(deliveries.c.pipeline == pipeline, deliveries.c.reference.is_not(None))
            .group_by(result)
        )
        with self._begin() as conn:
            return {str(status): int(n) for status, n in conn.execute(query)}

    def delivery(self, pipeline: str, key: str) -> dict[str, Any] | None:
        """Everything the store keeps of one key: the last request tried or delivered, HG's
        answer to it, the result reported later."""
        query = (
            sa.select(deliveries, results.c.status.label("result"), results.c.reason.label("result_reason"))
            .select_from(deliveries.outerjoin(results, results.c.reference == deliveries.c.reference))
            .where(deliveries.c.pipeline == pipeline, deliveries.c.key == key)
        )
        with self._begin() as conn:
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def pending_responses(
        self, pipeline: str, limit: int = 500, after: str | None = None
    ) -> list[dict[str, Any]]:
        """Delivered keys whose answer the pipeline's ``response:`` block has yet to apply, in
        key order, from the first key after ``after``."""
        query = (
            sa.select(
                deliveries.c.key,
                deliveries.c.fingerprint,
                deliveries.c.request,
                deliveries.c.response,
                deliveries.c.delivered_at,
            )
            .where(deliveries.c.pipeline == pipeline, deliveries.c.response_state == "pending")
            .order_by(deliveries.c.key)
            .limit(limit)
        )
        if after is not None:
            query = query.where(deliveries.c.key > after)
        with self._begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def responses_applied(self, pipeline: str, done: list[tuple[str, str]]) -> None:
        """Mark answers applied: (key, fingerprint) pairs, a key only while its delivered request
        is still that one (a newer delivery's answer stays pending)."""
        if not done:
            return
        with self._begin() as conn:
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.pipeline == pipeline,
                    deliveries.c.key == sa.bindparam("k"),
                    deliveries.c.fingerprint == sa.bindparam("f"),
                )
                .values(response_state=None),
                [{"k": key, "f": fingerprint} for key, fingerprint in done],
            )
