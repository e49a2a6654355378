"""What every part of the state store shares: the connection, transactions, and UTC times."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import StateError
from engine.logging import redact_text
from engine.store.schema import SCHEMA_VERSION, meta, metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive date-times; everything here is stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def state_error(exc: SQLAlchemyError) -> StateError:
    """A database error as a StateError: its first line, redacted (URLs can hold passwords)."""
    return StateError(f"state store: {redact_text(str(exc).splitlines()[0])}")


def private_sqlite_file(path: Path) -> None:
    """Make ``path`` (and its folder, when made here or named ``.hgsync``) readable by its
    owner only, whatever the umask: the store holds customers' names, phones and addresses.
    SQLite creates ``-wal`` and ``-shm`` with the database file's mode; existing ones are
    tightened too."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        folder.chmod(0o700)
    elif folder.name == ".hgsync":
        folder.chmod(0o700)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
            if (folder / name).exists():
                (folder / name).chmod(0o600)
    except OSError:
        pass  # SQLAlchemy says what is wrong when it opens the file


class StoreBase:
    """One database, opened from its SQLAlchemy URL, with the schema created if need be."""

    def __init__(self, url: str):
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise StateError(f"state store URL is not valid: {exc}") from None
        self.backend = parsed.get_backend_name()
        if self.backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
            private_sqlite_file(Path(parsed.database))
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
                add_missing_columns(conn)
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
            raise state_error(exc) from None


def add_missing_columns(conn: sa.Connection) -> list[str]:
    """Bring a store written by an older hgsync up to this schema: tables are made by
    ``create_all``; columns and indexes added since are added here. Only additive changes
    are made this way, so every new column must be nullable or have a server default.
    Returns ``table.column`` of what was added."""
    inspector = sa.inspect(conn)
    added = []
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # create_all makes whole tables
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise StateError(f"cannot add {table.name}.{column.name}: a new column must be nullable")
            kind = column.type.compile(dialect=conn.dialect)
            default = ""
            if column.server_default is not None:
                default = f" DEFAULT {column.server_default.arg}"  # type: ignore[attr-defined]
            preparer = conn.dialect.identifier_preparer
            conn.execute(
                sa.text(
                    f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN "
                    f"{preparer.format_column(column)} {kind}{default}"
                )
            )
            added.append(f"{table.name}.{column.name}")
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    return added


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
