"""The SQL source on the real PostgreSQL and MariaDB servers: streaming, types, origins,
schemas, queries and incremental reads, read through the connector itself."""

from __future__ import annotations

import threading
import time as time_module
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.hepsiglobal.sandbox import Faults
from connectors.sources.base import CursorRead, SourceContext
from connectors.sources.sql import SqlSource, SqlSourceConfig
from engine.errors import SourceError
from engine.outbound import cursor as cursor_codec
from tests.servers import MARIADB_URL, POSTGRES_URL, Space

DDL = {
    "postgres": """CREATE TABLE items (
        id INTEGER PRIMARY KEY, sku TEXT NOT NULL, price NUMERIC(10, 2), active BOOLEAN,
        ship_on DATE, opens TIME, updated_at TIMESTAMPTZ NOT NULL, local_at TIMESTAMP)""",
    "mariadb": """CREATE TABLE items (
        id INTEGER PRIMARY KEY, sku VARCHAR(40) NOT NULL, price DECIMAL(10, 2), active BOOLEAN,
        ship_on DATE, opens TIME, updated_at DATETIME(6) NOT NULL, local_at DATETIME)""",
}
BASE = datetime(2026, 11, 1, 10, 0, 0, 250000)


def _stamp(space: Space, i: int) -> datetime:
    """Row i's updated_at: rows 1-3 share one moment, 4-6 the next... (a timestamptz on
    PostgreSQL, given as an aware UTC date-time; a DATETIME(6) on MariaDB)."""
    moment = BASE.replace(second=(i - 1) // 3)
    return moment.replace(tzinfo=UTC) if space.kind == "postgres" else moment


def _items(space: Space, n: int = 9) -> list[dict[str, Any]]:
    space.run(DDL[space.kind])
    rows = [
        {
            "id": i,
            "sku": f"HBV{i:08d}",
            "price": Decimal(f"{i}.{i:02d}"),
            "active": i % 2 == 1,
            "ship_on": date(2026, 11, i),
            "opens": time(9, i),
            "updated_at": _stamp(space, i),
            "local_at": datetime(2026, 11, 1, 12, i),
        }
        for i in range(1, n + 1)
    ]
    space.run(
        "INSERT INTO items VALUES (:id, :sku, :price, :active, :ship_on, :opens, :updated_at, :local_at)",
        rows,
    )
    return rows


def _source(space: Space, url: str | None = None, **config: Any) -> SqlSource:
    cfg = SqlSourceConfig.model_validate({"connection": "marketplace", **config})
    return SqlSource(cfg, SourceContext(home=Path("."), connections={"marketplace": url or space.url}))


def _read(source: SqlSource, cursor: CursorRead | None = None) -> list[tuple[str, dict[str, Any]]]:
    try:
        return [(str(row.origin), row.values) for row in source.read(cursor)]
    finally:
        source.close()


@pytest.mark.parametrize("mode", ["table", "query"])
def test_values_come_with_sensible_types(server_db, mode):
    expected = _items(server_db)
    config = {"table": "items"} if mode == "table" else {"query": "SELECT * FROM items ORDER BY id"}
    rows = [values for _, values in _read(_source(server_db, **config))]
    assert rows == expected
    first = rows[0]
    assert isinstance(first["price"], Decimal) and first["price"] == Decimal("1.01")
    assert first["active"] is True and rows[1]["active"] is False  # MariaDB's BOOLEAN is TINYINT(1)
    assert type(first["ship_on"]) is date
    assert first["opens"] == time(9, 1)  # PyMySQL reads TIME as a timedelta
    assert first["local_at"].tzinfo is None
    if server_db.kind == "postgres":
        # a timestamptz comes in UTC, whatever the session's time zone
        assert first["updated_at"].utcoffset().total_seconds() == 0
    else:
        assert first["updated_at"] == BASE and first["updated_at"].tzinfo is None


@pytest.mark.postgres
def test_a_timestamptz_is_utc_whatever_the_session_time_zone(pg):
    _items(pg, 1)
    url = pg.url.replace("search_path%3D", "timezone%3DAsia/Tokyo%20-csearch_path%3D")
    ((_, values),) = _read(_source(pg, url, table="items"))
    assert values["updated_at"] == BASE.replace(tzinfo=UTC)
    assert values["updated_at"].tzinfo is UTC


def test_rows_stream_through_a_server_side_cursor(server_db):
    _items(server_db, 25)
    source = _source(server_db, table="items", chunk_size=10)
    cursors: list[str] = []
    sa.event.listen(
        source.engine, "before_cursor_execute", lambda _c, cursor, *_: cursors.append(type(cursor).__name__)
    )
    rows = _read(source)
    assert [values["id"] for _, values in rows] == list(range(1, 26))
    expected = {"postgres": "ServerCursor", "mariadb": "SSCursor"}[server_db.kind]
    assert cursors[-1] == expected, cursors


@pytest.mark.postgres
def test_postgres_fetches_chunk_by_chunk_while_the_rows_are_consumed(pg):
    pg.run("CREATE TABLE big (id INTEGER PRIMARY KEY, note TEXT)")
    pg.run("INSERT INTO big SELECT i, repeat('x', 20) FROM generate_series(1, 2500) AS i")
    source = _source(pg, table="big", chunk_size=1000)
    rows = source.read()
    try:
        next(rows), next(rows)  # SQLAlchemy fetches one row first, then a chunk at a time
        # the reading session's latest statement is a FETCH of the next chunk of its named cursor
        query = pg.scalar(
            "SELECT query FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE 'FETCH FORWARD%'"
        )
        assert query is not None and query.startswith("FETCH FORWARD 1000 ")
    finally:
        rows.close()
        source.close()


@pytest.mark.mariadb
def test_mariadb_streams_unbuffered_rows_while_they_are_consumed(mariadb):
    mariadb.run("CREATE TABLE big (id INTEGER PRIMARY KEY, note VARCHAR(300))")
    mariadb.run("INSERT INTO big SELECT seq, REPEAT('x', 300) FROM seq_1_to_60000")
    source = _source(mariadb, table="big", chunk_size=1000)
    rows = source.read()
    try:
        assert next(rows).values["id"] == 1
        # with a buffered cursor the query would be over; unbuffered, the server is still sending
        running = mariadb.scalar(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
            f" WHERE ID <> CONNECTION_ID() AND COMMAND = 'Query' AND DB = '{mariadb.name}' AND INFO LIKE '%FROM big%'"
        )
        assert running == 1
    finally:
        rows.close()
        source.close()


def test_primary_keys_name_each_row(server_db):
    server_db.run("CREATE TABLE order_items (order_number VARCHAR(20), line INTEGER, sku VARCHAR(20), "
                  "PRIMARY KEY (order_number, line))")  # fmt: skip
    server_db.run(
        "INSERT INTO order_items VALUES (:o, :l, :s)",
        [{"o": "A7", "l": 2, "s": "x"}, {"o": "A7", "l": 1, "s": "y"}, {"o": "B1", "l": 1, "s": "z"}],
    )
    origins = [origin for origin, _ in _read(_source(server_db, table="order_items"))]
    assert origins == [
        "order_items(order_number='A7', line=1)",
        "order_items(order_number='A7', line=2)",
        "order_items(order_number='B1', line=1)",
    ]
    _items(server_db, 5)
    assert _read(_source(server_db, table="items"))[4][0] == "items(id=5)"


def test_a_table_in_another_schema(server_db):
    _items(server_db, 3)
    # the connection's own default schema is elsewhere; `schema:` names the one holding the table
    base = POSTGRES_URL if server_db.kind == "postgres" else MARIADB_URL
    source = _source(server_db, base, table="items", schema=server_db.name)
    assert source.columns() == ["id", "sku", "price", "active", "ship_on", "opens", "updated_at", "local_at"]
    rows = _read(source)
    assert [origin for origin, _ in rows] == [f"{server_db.name}.items(id={i})" for i in (1, 2, 3)]
    with pytest.raises(
        SourceError, match=r"no table 'items' in schema 'nowhere' in connection 'marketplace'"
    ):
        _read(_source(server_db, base, table="items", schema="nowhere"))


def test_queries_with_percent_signs_and_a_trailing_semicolon(server_db):
    _items(server_db, 6)
    query = "SELECT id, sku FROM items WHERE sku LIKE 'HBV%' AND id > 2 ORDER BY id;\n"
    source = _source(server_db, query=query)
    assert source.columns() == ["id", "sku"]
    assert _read(source) == [(f"marketplace query row {n}", {"id": i, "sku": f"HBV{i:08d}"}) for n, i in enumerate((3, 4, 5, 6), 1)]  # fmt: skip


@pytest.mark.parametrize("mode", ["table", "query"])
def test_incremental_reads_include_rows_at_the_cursor(server_db, mode):
    rows = _items(server_db, 9)
    config = {"table": "items"} if mode == "table" else {"query": "SELECT id, sku, updated_at FROM items;"}
    source = _source(server_db, **config, cursor={"column": "updated_at"})
    since = rows[4]["updated_at"]  # rows 4, 5, 6 share it
    read = _read(source, CursorRead("updated_at", since))
    assert [values["id"] for _, values in read] == [4, 5, 6, 7, 8, 9]
    assert all(values["updated_at"] >= since for _, values in read)
    assert len(_read(source, CursorRead("updated_at", None))) == 9
    by_id = _read(source, CursorRead("id", 7))
    assert sorted(values["id"] for _, values in by_id) == [7, 8, 9]


@pytest.mark.postgres
def test_rows_committed_while_a_read_streams_are_not_half_seen(pg):
    """A read sees one snapshot: rows committed mid-read are left whole for the next read."""
    pg.run("CREATE TABLE big (id INTEGER PRIMARY KEY, updated_at TIMESTAMPTZ NOT NULL)")
    pg.run("INSERT INTO big SELECT i, '2026-11-01 10:00:00+00' FROM generate_series(1, 3000) AS i")
    source = _source(pg, table="big", chunk_size=500, cursor={"column": "updated_at"})
    rows = source.read(CursorRead("updated_at", None))
    try:
        first = next(rows)
        inserted = threading.Thread(
            target=pg.run, args=("INSERT INTO big VALUES (3001, '2026-11-01 10:00:00+00')",)
        )
        inserted.start()
        inserted.join()
        ids = [first.values["id"], *(row.values["id"] for row in rows)]
    finally:
        rows.close()
        source.close()
    assert len(ids) == 3000
    since = CursorRead("updated_at", datetime(2026, 11, 1, 10, tzinfo=UTC))
    assert 3001 in {values["id"] for _, values in _read(source, since)}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"table": "nope"}, "no table 'nope' in connection 'marketplace'"),
        ({"query": "SELECT * FROM nope"}, "marketplace query: "),
    ],
)
def test_an_unknown_table_is_a_source_error_naming_it(server_db, config, message):
    source = _source(server_db, **config)
    for call in (source.columns, lambda: list(source.read())):
        with pytest.raises(SourceError) as caught:
            call()
        assert message in str(caught.value) and "nope" in str(caught.value)
    source.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://hg:s3cret-pw@127.0.0.1:1/test?connect_timeout=2",
        "mysql+pymysql://hg:s3cret-pw@127.0.0.1:1/test?connect_timeout=2",
    ],
)
def test_an_unreachable_server_is_a_source_error_without_the_password(url):
    source = _source(None, url, table="items")  # type: ignore[arg-type]
    reads: list[Callable[[], Any]] = [source.columns, lambda: list(source.read())]
    for call in reads:
        with pytest.raises(SourceError) as caught:
            call()
        assert "s3cret-pw" not in str(caught.value)
        assert "127.0.0.1" in str(caught.value)
    source.close()


INCREMENTAL = """\
source:
  sql:
    connection: marketplace
    table: cancels
    cursor: {column: updated_at}
key: "{{ row.id }}"
operation: cancel_order_item
mode: upsert
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body:
    reason: "{{ row.reason }}"
"""


@pytest.mark.postgres
def test_rows_inserted_during_a_run_at_the_saved_cursor_arrive_next_run(pg, project, sandbox):
    """The issue's check: rows inserted into a PostgreSQL table during a run, with the same
    updated_at as the saved cursor, are delivered on the next run, once."""
    pg.run("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT, "
           "updated_at TIMESTAMPTZ NOT NULL)")  # fmt: skip
    last = datetime(2026, 11, 1, 10, 0, 9, 123456, tzinfo=UTC)

    def insert(ids: range) -> None:
        rows = [
            {"id": i, "o": f"{8000 + i}", "s": f"HBV{i:08d}", "at": min(last, last.replace(second=i))}
            for i in ids
        ]
        pg.run("INSERT INTO cancels VALUES (:id, :o, :s, 'customer_demand', :at)", rows)

    insert(range(1, 21))  # rows 9 to 20 share the last updated_at
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(config.read_text().replace("sqlite:///marketplace.db", pg.url))
    project.pipeline("incr", INCREMENTAL)

    sandbox.set_faults(Faults(delay=0.1, rate_delay=1))  # sending takes a while
    seen_at_insert: list[int] = []

    def insert_while_sending() -> None:
        deadline = time_module.monotonic() + 20
        while not sandbox.records() and time_module.monotonic() < deadline:
            time_module.sleep(0.005)
        insert(range(21, 24))  # committed by another session, mid-run, at the cursor's value
        seen_at_insert.append(len(sandbox.records()))

    inserter = threading.Thread(target=insert_while_sending)
    inserter.start()
    first = project.cli("run", "incr")
    inserter.join()
    assert first.exit_code == 0, first.output
    assert "read 20" in first.stdout and "delivered 20" in first.stdout
    assert seen_at_insert and seen_at_insert[0] < 20, "the rows must go in while the run is sending"
    assert _saved_cursor(project) == last

    sandbox.set_faults(Faults())
    second = project.cli("run", "incr")
    assert second.exit_code == 0, second.output
    assert "new 3" in second.stdout and "delivered 3" in second.stdout
    third = project.cli("run", "incr")
    assert "sent 0" in third.stdout
    items = [r["path_params"]["order_item_number"] for r in sandbox.records("cancel_order_item")]
    assert sorted(items) == sorted(f"{8000 + i}_HBV{i:08d}" for i in range(1, 24))  # each once


def _saved_cursor(project) -> Any:
    engine = sa.create_engine(f"sqlite:///{project.home / 'state' / 'state.db'}")
    try:
        with engine.connect() as conn:
            text = conn.execute(sa.text("SELECT value FROM hgsync_cursors WHERE pipeline = 'incr'")).scalar()
    finally:
        engine.dispose()
    return cursor_codec.decode(text)
