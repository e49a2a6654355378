"""The state store: what each pipeline delivered, per key, and the history of its runs.

SQLAlchemy Core over SQLite (a file, by default ``.hgsync/state.db``) or PostgreSQL (by
URL, for a shared installation). Tables are prefixed ``hgsync_`` so they can share a
database. Each outcome is committed as it arrives: a crash loses at most the requests on
the wire, and those are marked ``sending`` beforehand so the next run knows to send them
again. Request bodies are kept for the last *delivered* request only (for ``plan`` to show
what changed); no token or secret is ever written here.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine.errors import LockedError, StateError
from engine.logging import redact_text

SCHEMA_VERSION = 1
LOOKUP_CHUNK = 500

metadata = sa.MetaData()
_ts = sa.DateTime(timezone=True)

meta = sa.Table(
    "hgsync_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
deliveries = sa.Table(
    "hgsync_deliveries",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # delivered | rejected | failed | sending
    sa.Column("fingerprint", sa.String(64)),  # of the last delivered request
    sa.Column("request", sa.Text),  # the last delivered request, JSON
    sa.Column("attempted_fingerprint", sa.String(64)),  # of the last request tried
    sa.Column("attempts", sa.Integer, nullable=False, default=0),  # tries of that request, over runs
    sa.Column("last_status", sa.Integer),  # HTTP status of the last try
    sa.Column("last_error", sa.Text),
    sa.Column("origin", sa.Text),
    sa.Column("run_id", sa.String(40)),
    sa.Column("delivered_at", _ts),
    sa.Column("updated_at", _ts, nullable=False),
    sa.Index("ix_hgsync_deliveries_status", "pipeline", "status"),
)
runs = sa.Table(
    "hgsync_runs",
    metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),  # cli | daemon
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed | interrupted | error
    sa.Column("started_at", _ts, nullable=False),
    sa.Column("finished_at", _ts),
    sa.Column("counts", sa.Text, nullable=False, default="{}"),
    sa.Column("message", sa.Text),
    sa.Index("ix_hgsync_runs_pipeline", "pipeline", "started_at"),
)
row_errors = sa.Table(
    "hgsync_row_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", _ts, nullable=False),
)
cursors = sa.Table(
    "hgsync_cursors",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("column_name", sa.String(200), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # engine.cursor.encode()
    sa.Column("run_id", sa.String(40)),
    sa.Column("updated_at", _ts, nullable=False),
)
files = sa.Table(
    "hgsync_files",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # archived | rejected
    sa.Column("rows", sa.Integer, nullable=False, default=0),
    sa.Column("detail", sa.Text),
    sa.Column("processed_at", _ts, nullable=False),
)
locks = sa.Table(
    "hgsync_locks",
    metadata,
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", _ts, nullable=False),
    sa.Column("heartbeat_at", _ts, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive date-times; everything here is stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateStore:
    """One state store, opened from its SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StateError(f"state store URL is not valid: {exc}") from None
        self.backend = parsed.get_backend_name()
        if self.backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StateError(f"cannot open the state store: {redact_text(str(exc))}") from None
        if self.backend == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self._create()
        except StateError:
            self.engine.dispose()  # or its pooled connection is left open
            raise

    def _create(self) -> None:
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                found = conn.execute(sa.select(meta.c.value).where(meta.c.name == "schema_version")).scalar()
                if found is None:
                    conn.execute(meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
                elif int(found) > SCHEMA_VERSION:
                    raise StateError(
                        f"the state store was written by a newer hgsync (schema {found}, this one knows {SCHEMA_VERSION})"
                    )
        except SQLAlchemyError as exc:
            raise StateError(
                f"cannot open the state store: {redact_text(str(exc).splitlines()[0])}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StateError(f"state store: {redact_text(str(exc).splitlines()[0])}") from None

    # -- keys ---------------------------------------------------------------------------------

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

    # -- runs -----------------------------------------------------------------------------------

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
        self, run_id: str, status: str, counts: dict[str, int], message: str | None = None
    ) -> None:
        with self._begin() as conn:
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
                    started_at=_aware(row.started_at),  # type: ignore[arg-type]
                    finished_at=_aware(row.finished_at),
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
        """Runs still marked ``running`` for a pipeline whose lock we now hold died mid-way."""
        with self._begin() as conn:
            return conn.execute(
                runs.update()
                .where(runs.c.pipeline == pipeline, runs.c.status == "running")
                .values(
                    status="interrupted",
                    finished_at=utcnow(),
                    message="the process stopped before the run ended",
                )
            ).rowcount

    # -- cursors of incremental reads ---------------------------------------------------------

    def get_cursor(self, pipeline: str) -> tuple[str, str] | None:
        """(column, encoded value) saved for ``pipeline``, or None."""
        query = sa.select(cursors.c.column_name, cursors.c.value).where(cursors.c.pipeline == pipeline)
        with self._begin() as conn:
            row = conn.execute(query).first()
        return (row.column_name, row.value) if row is not None else None

    def save_cursor(self, pipeline: str, column: str, value: str, run_id: str) -> None:
        with self._begin() as conn:
            values = {"column_name": column, "value": value, "run_id": run_id, "updated_at": utcnow()}
            if (
                conn.execute(cursors.update().where(cursors.c.pipeline == pipeline).values(**values)).rowcount
                == 0
            ):
                conn.execute(cursors.insert().values(pipeline=pipeline, **values))

    # -- files of batch sources (CSV drops) ---------------------------------------------------

    def file_record(self, pipeline: str, name: str, sha256: str) -> dict[str, Any] | None:
        """What became of a file with this name and content, if it was processed before."""
        query = sa.select(files).where(
            files.c.pipeline == pipeline, files.c.name == name, files.c.sha256 == sha256
        )
        with self._begin() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row is not None else None

    def record_file(
        self, pipeline: str, name: str, sha256: str, status: str, rows: int, detail: str | None = None
    ) -> None:
        with self._begin() as conn:
            where = (files.c.pipeline == pipeline) & (files.c.name == name) & (files.c.sha256 == sha256)
            values = {"status": status, "rows": rows, "detail": detail, "processed_at": utcnow()}
            if conn.execute(files.update().where(where).values(**values)).rowcount == 0:
                conn.execute(files.insert().values(pipeline=pipeline, name=name, sha256=sha256, **values))

    # -- locks ----------------------------------------------------------------------------------

    def acquire(self, name: str, owner: str, *, stale_after: float = 120.0) -> None:
        """Take the lock ``name`` or raise LockedError saying who holds it. A lock whose holder
        is gone (a dead pid on this host, or no heartbeat for ``stale_after`` seconds) is taken over."""
        host, pid, now = socket.gethostname(), os.getpid(), utcnow()
        row = {
            "name": name,
            "owner": owner,
            "host": host,
            "pid": pid,
            "acquired_at": now,
            "heartbeat_at": now,
        }
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(locks.insert().values(**row))
                return
            except IntegrityError:
                pass
            except SQLAlchemyError as exc:
                raise StateError(f"state store: {redact_text(str(exc).splitlines()[0])}") from None
            with self._begin() as conn:
                held = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
                if held is None:
                    continue
                beat = _aware(held.heartbeat_at) or now
                dead = (held.host == host and not _pid_alive(held.pid)) or now - beat > timedelta(
                    seconds=stale_after
                )
                if held.host == host and held.pid == pid:
                    dead = False
                if not dead:
                    since = _aware(held.acquired_at)
                    raise LockedError(
                        f"{name} is held by {held.owner} (pid {held.pid} on {held.host}, since "
                        f"{since:%Y-%m-%d %H:%M:%S} UTC)"
                    )
                conn.execute(
                    locks.delete().where(
                        locks.c.name == name, locks.c.pid == held.pid, locks.c.host == held.host
                    )
                )
        raise LockedError(f"{name} is contended; try again")

    def heartbeat(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(
                locks.update()
                .where(locks.c.name == name, locks.c.pid == os.getpid(), locks.c.host == socket.gethostname())
                .values(heartbeat_at=utcnow())
            )

    def release(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(
                locks.delete().where(
                    locks.c.name == name, locks.c.pid == os.getpid(), locks.c.host == socket.gethostname()
                )
            )

    @contextmanager
    def locked(self, name: str, owner: str) -> Iterator[None]:
        self.acquire(name, owner)
        try:
            yield
        finally:
            self.release(name)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
