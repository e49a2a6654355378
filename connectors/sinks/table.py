"""A marketplace table as a sink: rows inserted, updated or upserted, one transaction per event.

Exactly once: in the same transaction as the rows, the event id goes into a small table of
the marketplace database (``hgsync_applied_events`` by default). A replayed event, or one
applied just before a crash that left the inbox unaware, finds its id there and changes
nothing. Upsert is an UPDATE by the key columns, then an INSERT when no row matched, so the
key needs no unique index (one applier writes at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import IntegrityError, NoSuchTableError, SQLAlchemyError

from connectors.sinks.base import SinkConnector, cell
from engine.definitions.plugins import SourceContext
from engine.definitions.settings import describe_db_error, resolve_url
from engine.errors import ApplyError


class TableSinkConfig(BaseModel):
    """``into: {table: {...}}``."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(description="a connection of config/hgsync.yaml")
    table: str = Field(description="the table rows are written to (schema.table allowed)")
    mode: Literal["insert", "update", "upsert"] = Field(
        "upsert",
        description="insert: add each row; update: change the rows matching the key (none matching is "
        "an error); upsert: update, or insert when none matches",
    )
    key: list[str] = Field(
        default_factory=list, description="the columns that identify a row (update, upsert)"
    )
    applied_events: str | None = Field(
        "hgsync_applied_events",
        description="table of applied event ids in the same database, created if missing, so that no "
        "event is applied twice; null: do not keep one (a replayed event is written again)",
    )

    @model_validator(mode="after")
    def _key(self) -> TableSinkConfig:
        if self.mode != "insert" and not self.key:
            raise ValueError(f"mode {self.mode} needs key: the columns that identify a row, e.g. [sku]")
        return self


class _AppliedMeanwhile(Exception):
    """Another applier recorded this event between our check and our insert."""


class TableSink(SinkConnector):
    config: TableSinkConfig

    Config = TableSinkConfig

    def __init__(self, config: TableSinkConfig, context: SourceContext):
        super().__init__(config, context)
        self._engine: sa.Engine | None = None
        self._table: sa.Table | None = None
        self._applied: sa.Table | None = None

    def check(self) -> list[tuple[tuple[str | int, ...], str]]:
        name = self.config.connection
        if name not in self.context.connections:
            known = ", ".join(sorted(self.context.connections)) or "none"
            return [(("connection",), f"no connection named {name!r} in config (connections: {known})")]
        return []

    def _open(self) -> tuple[sa.Engine, sa.Table]:
        if self._engine is None:
            url = resolve_url(self.context.connections[self.config.connection], self.context.home)
            try:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
            except (SQLAlchemyError, ImportError) as exc:
                raise ApplyError(f"connection {self.config.connection!r}: {describe_db_error(exc)}") from None
        if self._table is None:
            schema, _, name = self.config.table.rpartition(".")
            try:
                self._table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=self._engine)
                if self.config.applied_events:
                    self._applied = _applied_table(self.config.applied_events)
                    self._applied.create(self._engine, checkfirst=True)
            except NoSuchTableError:
                raise ApplyError(
                    f"connection {self.config.connection!r} has no table {self.config.table!r}"
                ) from None
            except SQLAlchemyError as exc:
                raise ApplyError(f"{self.config.table}: {describe_db_error(exc)}") from None
        return self._engine, self._table

    def columns(self) -> list[str]:
        """The table's columns (opens the database)."""
        return [column.name for column in self._open()[1].columns]

    def write(self, rows: Sequence[dict[str, Any]], event_id: str) -> bool:
        engine, table = self._open()
        unknown = sorted({name for row in rows for name in row} - set(table.c.keys()))
        if unknown:
            raise ApplyError(
                f"table {self.config.table} has no column {', '.join(map(repr, unknown))} "
                f"(columns: {', '.join(table.c.keys())})"
            )
        try:
            with engine.begin() as conn:
                if self._applied is not None:
                    seen = sa.select(self._applied.c.event_id).where(self._applied.c.event_id == event_id)
                    if conn.execute(seen).first() is not None:
                        return False  # applied before: nothing more to do
                    try:
                        conn.execute(self._applied.insert().values(event_id=event_id))
                    except IntegrityError:
                        raise _AppliedMeanwhile() from None  # rolls the transaction back
                for number, row in enumerate(rows, 1):
                    self._write_row(conn, table, {k: cell(v) for k, v in row.items()}, number)
        except _AppliedMeanwhile:
            return False
        except ApplyError:
            raise
        except SQLAlchemyError as exc:
            raise ApplyError(f"{self.config.table}: {describe_db_error(exc)}") from None
        return True

    def _write_row(self, conn: sa.Connection, table: sa.Table, row: dict[str, Any], number: int) -> None:
        mode, key = self.config.mode, self.config.key
        if mode == "insert":
            conn.execute(table.insert().values(**row))
            return
        missing = [name for name in key if name not in row]
        if missing:
            raise ApplyError(
                f"row {number}: the key column(s) {', '.join(missing)} have no template in columns:"
            )
        where = sa.and_(*(table.c[name] == row[name] for name in key))
        changes = {name: value for name, value in row.items() if name not in key}
        matched = conn.execute(table.update().where(where).values(**changes)).rowcount if changes else None
        if matched is None:
            matched = conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
        if matched:
            return
        if mode == "update":
            shown = ", ".join(f"{name}={row[name]!r}" for name in key)
            raise ApplyError(f"row {number}: no row of {self.config.table} has {shown} (mode update)")
        conn.execute(table.insert().values(**row))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _applied_table(name: str) -> sa.Table:
    schema, _, table = name.rpartition(".")
    return sa.Table(
        table,
        sa.MetaData(),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        schema=schema or None,
    )
