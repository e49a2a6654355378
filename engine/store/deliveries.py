"""Per pipeline and key: what was last delivered, what was last tried, and how it went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.store.base import StoreBase, utcnow
from engine.store.schema import deliveries

LOOKUP_CHUNK = 500
DIGEST_CHUNK = 900  # under SQLite's oldest limit of 999 parameters
_SAVE_DIGEST = (
    deliveries.update()
    .where(
        deliveries.c.pipeline == sa.bindparam("p"),
        deliveries.c.key == sa.bindparam("k"),
        deliveries.c.status == "delivered",
    )
    .values(source_digest=sa.bindparam("d"))
)


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
    source_digest: str | None = None  # of the row that rendered the delivered request


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
            deliveries.c.source_digest,
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
                    *first, digest = row[:7]
                    found[row.key] = KeyState(
                        *first, request=row[7] if with_request else None, source_digest=digest
                    )
        return found

    def lookup_digests(self, pipeline: str, digests: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Source digests saved with delivered keys → (key, fingerprint). A digest saved with
        more than one key tells nothing, and is left out."""
        wanted = list(dict.fromkeys(digests))
        found: dict[str, tuple[str, str | None]] = {}
        twice: set[str] = set()
        with self._begin() as conn:
            mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
            for start in range(0, len(wanted), DIGEST_CHUNK):
                chunk = wanted[start : start + DIGEST_CHUNK]
                if mark is not None:  # the driver's own SQL: no statement to build per chunk
                    marks = ", ".join(mark for _ in chunk)
                    rows = conn.exec_driver_sql(
                        "SELECT source_digest, key, fingerprint, status FROM hgsync_deliveries"
                        f" WHERE pipeline = {mark} AND source_digest IN ({marks})",
                        (pipeline, *chunk),
                    ).all()
                else:
                    query = sa.select(
                        deliveries.c.source_digest,
                        deliveries.c.key,
                        deliveries.c.fingerprint,
                        deliveries.c.status,
                    ).where(deliveries.c.pipeline == pipeline, deliveries.c.source_digest.in_(chunk))
                    rows = conn.execute(query).all()
                # the status is checked here: in the query, it could lead the database to the
                # (pipeline, status) index, and through every delivered key of the pipeline
                for digest, key, fingerprint, status in rows:
                    if status != "delivered":
                        continue
                    if digest in found:
                        twice.add(digest)
                    found[digest] = (key, fingerprint)
        for digest in twice:
            del found[digest]
        return found

    def digest_map(self, pipeline: str, limit: int) -> dict[bytes, Any] | None:
        """Every source digest saved with a delivered key of ``pipeline`` (as bytes; the values
        are None), read in one streamed query; None when there are more than ``limit``. A
        digest saved with more than one key tells nothing, and is left out."""
        found: dict[bytes, Any] = {}
        twice: set[bytes] = set()
        # no condition on the digest: the (pipeline, status) index then leads through the
        # table in its own order, several times faster than through the digest index
        query = (
            sa.select(deliveries.c.source_digest)
            .where(deliveries.c.pipeline == pipeline, deliveries.c.status == "delivered")
            .execution_options(stream_results=True, yield_per=10_000)
        )
        fromhex = bytes.fromhex
        with self._begin() as conn, conn.execute(query) as result:
            # SQLAlchemy fetched the first row (to describe the result); the rest comes from
            # the DB-API cursor, without a row object each (the column is text: no conversion)
            head = result.fetchone()
            part: list[Any] = [] if head is None else [head]
            while part:
                for (text,) in part:
                    if text is None:
                        continue
                    try:
                        digest = fromhex(text)
                    except ValueError:  # not one of ours: it matches no row
                        continue
                    if digest in found:
                        twice.add(digest)
                    found[digest] = None
                if len(found) > limit:
                    return None
                part = result.cursor.fetchmany(10_000)
        for digest in twice:
            del found[digest]
        return found

    def save_digests(self, pipeline: str, rows: list[tuple[str, str]]) -> None:
        """(key, source digest) of delivered keys whose row rendered to the delivered request."""
        if rows:
            with self._begin() as conn:
                conn.execute(_SAVE_DIGEST, [{"p": pipeline, "k": key, "d": digest} for key, digest in rows])

    def _upsert(self, conn: sa.Connection, pipeline: str, key: str, values: dict[str, Any]) -> None:
        where = (deliveries.c.pipeline == pipeline) & (deliveries.c.key == key)
        if conn.execute(deliveries.update().where(where).values(**values)).rowcount == 0:
            conn.execute(deliveries.insert().values(pipeline=pipeline, key=key, **values))

    def revert_sending(self, pipeline: str, run_id: str, keys: list[tuple[str, str | None]]) -> None:
        """Undo the ``sending`` marks of requests that never left (their run stopped first):
        each (key, previous) goes back to ``previous`` (None: it had no row)."""
        mine = (
            (deliveries.c.pipeline == pipeline)
            & (deliveries.c.status == "sending")
            & (deliveries.c.run_id == run_id)
        )
        with self._begin() as conn:
            for key, previous in keys:
                where = mine & (deliveries.c.key == key)
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
