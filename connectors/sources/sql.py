"""Database sources: a table or a query, read through SQLAlchemy with a server-side cursor.

SQLite, PostgreSQL (``postgresql+psycopg://``, the ``postgres`` extra) and MariaDB or MySQL
(``mysql+pymysql://``, the ``mysql`` extra). Rows stream in chunks (``stream_results`` +
``yield_per``: a named server-side cursor on psycopg, an unbuffered ``SSCursor`` on PyMySQL),
so memory stays flat however large the table. Each row's origin names the table and its
primary key, ``order_items(id=5)``, or, for a query, the connection and row number,
``marketplace query row 17``.

Values come as the driver gives them (int, str, Decimal, date, datetime...), with three
corrections so that the same data gives the same requests on every database: a PostgreSQL
``timestamptz`` is an aware datetime in UTC (not in the session's time zone), a MariaDB
``BOOLEAN`` (``TINYINT(1)``, ``BIT(1)``) is a bool, and a MariaDB ``TIME`` is a time of day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from connectors.sources.base import (
    CursorRead,
    Incremental,
    Row,
    SourceConnector,
    SourceContext,
    TupleChunk,
)
from engine.definitions.settings import describe_db_error, resolve_url
from engine.definitions.values import parse_lookback
from engine.errors import SourceConfigError, SourceError


class CursorConfig(BaseModel):
    """Incremental reads: only rows whose cursor column is at or past the saved cursor."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(description="an updated_at date-time or an increasing id; never NULL")
    lookback: str | float | int = Field(
        0,
        description="re-read this far behind the saved cursor, so rows committed late are not missed: "
        "a duration (30s, 5m, 1h) for date-times, a number for ids",
    )

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str | float | int) -> str | float | int:
        parse_lookback(value)
        return value


class SqlSourceConfig(BaseModel):
    """source: {sql: {...}}: a table or a query of one of config's connections."""

    model_config = ConfigDict(extra="forbid")

    connection: str = Field(description="the name of a database under `connections:` in config/hgsync.yaml")
    table: str | None = Field(None, description="read this whole table (give table or query)")
    schema_: str | None = Field(
        None,
        alias="schema",
        description="the table's schema (on MariaDB: its database), when not the default",
    )
    query: str | None = Field(None, description="read the rows of this SELECT (give table or query)")
    chunk_size: int = Field(1000, ge=1, le=100_000, description="rows fetched from the server at a time")
    cursor: CursorConfig | None = Field(
        None, description="read incrementally by this column; absent: read every row and diff them all"
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSourceConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table or query")
        return self


def _at_or_after(conn: sa.Connection, column: Any, since: Any) -> Any:
    """``column >= since``. SQLite keeps date-times as text in many spellings
    ('2026-11-01 10:00:10', '...T10:00:10.000000'), which compare wrongly as text, so there
    both sides go through julianday()."""
    if conn.dialect.name == "sqlite" and isinstance(since, datetime | date):
        return sa.func.julianday(column) >= sa.func.julianday(since.isoformat(sep=" "))
    return column >= since


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _flag(value: Any) -> Any:
    """MariaDB's BOOLEAN is TINYINT(1) and often BIT(1): 0 and 1 become False and True."""
    if isinstance(value, bytes):
        value = int.from_bytes(value, "big")
    return bool(value) if value in (0, 1) else value


def _time_of_day(value: Any) -> Any:
    """PyMySQL reads TIME as a timedelta (TIME also holds durations up to 838 hours)."""
    if isinstance(value, timedelta) and timedelta(0) <= value < timedelta(days=1):
        return (datetime.min + value).time()
    return value


_PG_TIMESTAMPTZ = 1184  # type OIDs, as psycopg describes result columns
_MY_TINY, _MY_TIME, _MY_BIT = 1, 11, 16  # pymysql.constants.FIELD_TYPE


def value_fixes(dialect: str, description: Sequence[Any] | None) -> list[tuple[int, Callable[[Any], Any]]]:
    """(column position, conversion) for the result columns whose driver values need one;
    decided once per query from the cursor's description, so other columns cost nothing."""
    fixes: list[tuple[int, Callable[[Any], Any]]] = []
    for position, column in enumerate(description or ()):
        type_code = column[1]
        if dialect == "postgresql" and type_code == _PG_TIMESTAMPTZ:
            fixes.append((position, _utc))
        elif dialect in ("mysql", "mariadb"):
            size = column[3]
            if type_code in (_MY_TINY, _MY_BIT) and size == 1:
                fixes.append((position, _flag))
            elif type_code == _MY_TIME:
                fixes.append((position, _time_of_day))
    return fixes


def _type_processors(
    dialect: sa.Dialect, statement: Any, description: Sequence[Any] | None
) -> list[tuple[int, Callable[[Any], Any]]]:
    """What SQLAlchemy would make of the driver's values by column type (SQLite's DATETIME text
    into a datetime, NUMERIC into a Decimal...), for the records read past its result rows."""
    columns = list(getattr(statement, "selected_columns", ()))
    processors = []
    for position, (column, described) in enumerate(zip(columns, description or (), strict=False)):
        process = column.type.dialect_impl(dialect).result_processor(dialect, described[1])
        if process is not None:
            processors.append((position, process))
    return processors


def _fixed(record: Sequence[Any], fixes: list[tuple[int, Callable[[Any], Any]]]) -> tuple[Any, ...]:
    if not fixes:
        return tuple(record)
    values = list(record)
    for position, fix in fixes:
        if values[position] is not None:
            values[position] = fix(values[position])
    return tuple(values)


def _query_text(query: str) -> str:
    """The query without the trailing semicolon people paste with it (it breaks the subqueries
    wrapped around it, and a server-side cursor's DECLARE)."""
    return query.strip().rstrip(";").rstrip()


def _refuse_missing_sqlite_file(url: str, connection: str) -> None:
    """SQLite would quietly create an empty database where a marketplace's file is missing."""
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
    ) and not Path(database).exists():
        raise SourceError(f"connection {connection!r}: the database file {database} does not exist")


class SqlSource(SourceConnector):
    config: SqlSourceConfig

    Config = SqlSourceConfig

    def __init__(self, config: SqlSourceConfig, context: SourceContext):
        super().__init__(config, context)
        self._engine: sa.Engine | None = None

    @property
    def incremental(self) -> Incremental | None:
        cursor = self.config.cursor
        return Incremental(cursor.column, cursor.lookback) if cursor is not None else None

    def check(self) -> list[tuple[tuple[str | int, ...], str]]:
        name = self.config.connection
        if name not in self.context.connections:
            known = ", ".join(sorted(self.context.connections)) or "none"
            return [(("connection",), f"no connection named {name!r} in config (connections: {known})")]
        return []

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            try:
                url = resolve_url(self.context.connections[self.config.connection], self.context.home)
            except KeyError:
                raise SourceError(f"no connection named {self.config.connection!r} in config") from None
            _refuse_missing_sqlite_file(url, self.config.connection)
            try:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
            except (SQLAlchemyError, ImportError) as exc:
                raise SourceError(f"connection {self.config.connection!r}: {exc}") from None
        return self._engine

    def _statement(self, conn: sa.Connection, cursor: CursorRead | None) -> tuple[Any, list[str]]:
        """The statement to run and the columns that identify a row in its origin."""
        if self.config.query is not None:
            text = sa.text(_query_text(self.config.query))
            if cursor is None:
                return text, []
            query = text.columns(sa.column(cursor.column)).subquery("q")
            select = sa.select(sa.text("q.*")).select_from(query)
            column: Any = query.c[cursor.column]
            keys: list[str] = []
        else:
            table = self._reflect(conn)
            keys = [c.name for c in table.primary_key.columns]
            select = sa.select(table)
            if cursor is None:
                return select.order_by(*[table.c[k] for k in keys]), keys
            if cursor.column not in table.c:
                raise SourceConfigError(f"{self._label()} has no column {cursor.column!r} to use as cursor")
            column = table.c[cursor.column]
        if cursor.since is not None:
            select = select.where(_at_or_after(conn, column, cursor.since))
        return select.order_by(column), keys

    def _reflect(self, conn: sa.Connection) -> sa.Table:
        try:
            return sa.Table(self.config.table, sa.MetaData(), schema=self.config.schema_, autoload_with=conn)
        except NoSuchTableError:
            raise SourceConfigError(self._no_table()) from None

    def _no_table(self) -> str:
        where = f" in schema {self.config.schema_!r}" if self.config.schema_ else ""
        return f"no table {self.config.table!r}{where} in connection {self.config.connection!r}"

    def _label(self) -> str:
        if self.config.table is not None:
            return f"{self.config.schema_}.{self.config.table}" if self.config.schema_ else self.config.table
        return f"{self.config.connection} query"

    def columns(self) -> list[str] | None:
        try:
            with self.engine.connect() as conn:
                if self.config.query is not None:
                    query = _query_text(self.config.query)
                    result = conn.execute(sa.text(f"SELECT * FROM ({query}) AS q WHERE 1 = 0"))
                    return list(result.keys())
                inspector = sa.inspect(conn)
                return [
                    c["name"] for c in inspector.get_columns(self.config.table, schema=self.config.schema_)
                ]
        except NoSuchTableError:
            raise SourceConfigError(self._no_table()) from None
        except SQLAlchemyError as exc:
            raise SourceError(f"{self._label()}: {describe_db_error(exc)}") from None

    def read(self, cursor: CursorRead | None = None) -> Iterator[Row]:
        for chunk in self.read_chunks(cursor):
            yield from (chunk.row(i) for i in range(len(chunk)))

    def read_chunks(self, cursor: CursorRead | None = None, size: int = 2000) -> Iterator[TupleChunk]:
        """The records as the driver gives them (tuples), ``chunk_size`` of config at a time (not
        ``size``): no dict, origin or SQLAlchemy row per record until the engine asks for one."""
        label = self._label()
        try:
            with self.engine.connect() as conn:
                statement, keys = self._statement(conn, cursor)
                streaming = conn.execution_options(stream_results=True, yield_per=self.config.chunk_size)
                with streaming.execute(statement) as result:
                    names = tuple(result.keys())
                    description = result.cursor.description
                    ours = value_fixes(conn.dialect.name, description)
                    fixes = _type_processors(conn.dialect, statement, description) + ours
                    positions = tuple(names.index(k) for k in keys)
                    # SQLAlchemy fetched the first record already (to describe the result), and
                    # converted it by type; the rest comes from the DB-API cursor: plain tuples
                    head = result.fetchone()
                    records = [] if head is None else [_fixed(head, ours)]
                    raw, first, more = result.cursor, 1, head is not None
                    while more:
                        fetched = raw.fetchmany(self.config.chunk_size)
                        more = bool(fetched)
                        if fixes:
                            records += [_fixed(record, fixes) for record in fetched]
                        else:
                            records += (
                                fetched
                                if not fetched or isinstance(fetched[0], tuple)
                                else map(tuple, fetched)
                            )
                        if records:
                            yield TupleChunk(names, records, label, positions, first)
                            first += len(records)
                            records = []
        except SQLAlchemyError as exc:
            raise SourceError(f"{label}: {describe_db_error(exc)}") from None
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise SourceError(f"{label}: {describe_db_error(exc)}") from None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
