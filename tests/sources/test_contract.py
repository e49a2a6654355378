"""One contract for every source: the same promises checked for SQLite, PostgreSQL, MariaDB
and CSV drops, over the same data.

Each ``source_kind`` builds the same 50 cancellations in its backend and gives the pipeline's
``source:`` block that reads them. Read-level promises use the connector itself; the rest
run the real ``hgsync`` command against the real sandbox. The requests every backend must
send are computed from the data itself, so every backend is held to the same answer.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from connectors.sources.base import Row, SourceConnector
from engine.definitions.plugins import SourceContext, known_sources
from engine.errors import SourceError
from tests.servers import Space

BASE = datetime(2026, 11, 1, 10, 0, 0, 500000)
REASONS = ("customer_demand", "out_of_stock", "late_shipment")
COLUMNS = ("id", "order_number", "sku", "reason", "amount", "updated_at")


def cancellation(i: int, moment: datetime | None = None) -> dict[str, Any]:
    """Row ``i`` of the data set; rows 1-5 share an updated_at, 6-10 the next, and so on."""
    return {
        "id": i,
        "order_number": f"{7000 + (i - 1) // 2}",
        "sku": f"HBV{i:08d}",
        "reason": REASONS[i % 3],
        "amount": Decimal(f"{i * 3}.{i:02d}"),
        "updated_at": moment or BASE + timedelta(seconds=(i - 1) // 5),
    }


DATASET = [cancellation(i) for i in range(1, 51)]

PIPELINE = """\
description: the contract's pipeline
key: "{{ row.id }}"
operation: cancel_order_item
mode: upsert
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body:
    reason: "{{ row.reason }}"
    line: "{{ row.id }}"
    amount: "{{ row.amount | money }}"
    listed_amount: "{{ row.amount }}"
    updated_at: "{{ row.updated_at | iso8601 }}"
"""


def expected_request(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What the pipeline must send for ``row``, whatever held it."""
    number, sku = row["order_number"], row["sku"]
    stamp = row["updated_at"].replace(microsecond=0, tzinfo=UTC).isoformat()
    body = {
        "reason": row["reason"],
        "line": row["id"],
        "amount": float(row["amount"]),
        "listed_amount": float(row["amount"]),
        "updated_at": stamp,
    }
    return f"/v1/orders/{number}/order_items/{number}_{sku}", body


def _normal(values: dict[str, Any]) -> dict[str, Any]:
    """Row values as the data set holds them: date-times naive in UTC."""
    moment = values["updated_at"]
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        values = {**values, "updated_at": moment.astimezone(UTC).replace(tzinfo=None)}
    return values


# -- the backends -------------------------------------------------------------------------------

SQL_DDL = {
    "sqlite": """CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT NOT NULL, sku TEXT NOT NULL,
        reason TEXT NOT NULL, amount NUMERIC(10, 2) NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    "postgres": """CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT NOT NULL, sku TEXT NOT NULL,
        reason TEXT NOT NULL, amount NUMERIC(10, 2) NOT NULL, updated_at TIMESTAMPTZ NOT NULL)""",
    "mariadb": """CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number VARCHAR(20) NOT NULL,
        sku VARCHAR(20) NOT NULL, reason VARCHAR(40) NOT NULL, amount DECIMAL(10, 2) NOT NULL,
        updated_at DATETIME(6) NOT NULL)""",
}


@dataclass
class Backend:
    """The data set held by one kind of source, and how a pipeline reads it."""

    kind: str
    home: Path
    source: dict[str, Any]  # the pipeline's `source:` block
    add: Callable[[list[dict[str, Any]]], None]  # more rows, as the data set spells them
    missing: dict[str, Any]  # a `source:` block naming a table or folder that does not exist
    url: str | None = None  # config's `connections.marketplace`, for databases
    incremental: bool = True

    def connector(self) -> SourceConnector:
        ((name, block),) = self.source.items()
        cls = known_sources()[name]
        connections = {"marketplace": self.url} if self.url else {}
        context = SourceContext(home=self.home, connections=connections, pipeline="contract")
        return cls(cls.Config.model_validate(block), context)

    def read(self) -> list[Row]:
        source = self.connector()
        try:
            return list(source.read())
        finally:
            source.close()


def _sql_backend(space: Space, home: Path, url: str | None) -> Backend:
    space.run(SQL_DDL[space.kind])

    def add(rows: list[dict[str, Any]]) -> None:
        if space.kind == "postgres":
            rows = [{**r, "updated_at": r["updated_at"].replace(tzinfo=UTC)} for r in rows]
        elif space.kind == "sqlite":  # sqlite3 binds neither Decimal nor (from 3.12) datetime
            rows = [
                {**r, "amount": str(r["amount"]), "updated_at": r["updated_at"].isoformat(" ")} for r in rows
            ]
        space.run(
            "INSERT INTO cancels VALUES (:id, :order_number, :sku, :reason, :amount, :updated_at)", rows
        )

    add(DATASET)
    return Backend(
        space.kind,
        home,
        {"sql": {"connection": "marketplace", "table": "cancels"}},
        add,
        {"sql": {"connection": "marketplace", "table": "cancels_missing"}},
        url=url,
    )


def _csv_backend(home: Path) -> Backend:
    pytest.importorskip("connectors.sources.csv_drop", reason="CSV source not available")
    folder = home / "drop"
    folder.mkdir(parents=True)
    files = iter(range(1, 1000))

    def add(rows: list[dict[str, Any]]) -> None:
        with (folder / f"cancels-{next(files)}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([row["id"], row["order_number"], row["sku"], row["reason"], row["amount"],
                                 row["updated_at"].isoformat(" ")])  # fmt: skip

    add(DATASET)
    columns = {
        "id": "integer",
        "order_number": "text",
        "sku": "text",
        "reason": "text",
        "amount": "decimal",
        "updated_at": "datetime",
    }
    block = {"folder": str(folder), "pattern": "*.csv", "columns": columns, "settle_seconds": 0}
    return Backend(
        "csv",
        home,
        {"csv": block},
        add,
        {"csv": {**block, "folder": str(home / "nowhere")}},
        incremental=False,
    )


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        "csv",
    ]
)
def source_kind(request: pytest.FixtureRequest, project) -> Backend:
    """The data set in one kind of source, in a project whose `marketplace` connection reaches it."""
    kind = request.param
    if kind == "csv":
        return _csv_backend(project.home)
    if kind == "sqlite":  # the file config's `marketplace` connection names already
        url = f"sqlite:///{project.db_path}"
        engine = sa.create_engine(url)
        request.addfinalizer(engine.dispose)
        return _sql_backend(Space("sqlite", project.db_path.name, url, engine), project.home, url)
    space = request.getfixturevalue({"postgres": "pg", "mariadb": "mariadb"}[kind])
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(config.read_text().replace("sqlite:///marketplace.db", space.url))
    return _sql_backend(space, project.home, space.url)


def _pipeline(
    project, backend: Backend, source: dict[str, Any] | None = None, name: str = "contract"
) -> None:
    block = yaml.safe_dump({"source": source or backend.source}, sort_keys=False)
    project.pipeline(name, block + PIPELINE)


def _sent(sandbox) -> list[tuple[str, dict[str, Any]]]:
    return sorted((r["path"], r["body"]) for r in sandbox.records("cancel_order_item"))


# -- read-level promises --------------------------------------------------------------------------


def test_rows_come_with_their_origin(source_kind):
    rows = source_kind.read()
    assert len(rows) == len(DATASET)
    origins = [str(row.origin) for row in rows]
    assert all(origin.strip() for origin in origins)
    assert len(set(origins)) == len(origins), "an origin must identify one row"
    assert all(row.error is None for row in rows)
    if source_kind.kind == "csv":
        assert sorted(origins) == sorted(f"cancels-1.csv:{line}" for line in range(2, 52))
    else:
        assert sorted(origins) == sorted(f"cancels(id={i})" for i in range(1, 51))


def test_keys_are_unique_and_values_are_the_data_set(source_kind):
    rows = source_kind.read()
    ids = [row.values["id"] for row in rows]
    assert len(set(ids)) == len(ids) == 50
    values = sorted((_normal(row.values) for row in rows), key=lambda v: v["id"])
    assert values == DATASET
    assert {type(row.values["amount"]) for row in rows} == {Decimal}
    assert {type(row.values["updated_at"]) for row in rows} == {datetime}


def test_reading_twice_gives_the_same_rows(source_kind):
    first = [(str(row.origin), row.values) for row in source_kind.read()]
    second = [(str(row.origin), row.values) for row in source_kind.read()]
    assert first == second


def test_bad_config_is_an_error_before_any_read(source_kind):
    ((name, block),) = source_kind.source.items()
    config = known_sources()[name].Config
    misspelt = "tabel" if name == "sql" else "foldr"
    with pytest.raises(ValueError, match=misspelt):  # no connector is even made
        config.model_validate({**block, misspelt: "cancels"})

    missing = "cancels_missing" if name == "sql" else "nowhere"
    source = source_kind.connector()
    source.config = config.model_validate(source_kind.missing[name])
    try:
        problems = source.check()  # what loading the pipeline asks, without I/O: a folder is seen
        if problems:
            assert missing in problems[0][1]
        else:  # a table needs the database: a run asks for the columns before reading
            with pytest.raises(SourceError, match=missing):
                source.columns()
        with pytest.raises(SourceError, match=missing):
            next(iter(source.read()))
    finally:
        source.close()


# -- end to end, through the hgsync command and the sandbox ---------------------------------------


def test_the_same_pipeline_sends_the_same_requests(source_kind, project, sandbox):
    _pipeline(project, source_kind)
    result = project.cli("run", "contract")
    assert result.exit_code == 0, result.output
    assert "delivered 50" in result.stdout
    assert _sent(sandbox) == sorted(expected_request(row) for row in DATASET)


def test_a_misspelt_source_key_stops_validate_and_run(source_kind, project, sandbox):
    ((name, block),) = source_kind.source.items()
    _pipeline(project, source_kind, {name: {**block, "chunk_sise" if name == "sql" else "patern": 10}})
    checked = project.cli("validate", "--offline")
    assert checked.exit_code == 2
    assert "chunk_sise" in checked.output or "patern" in checked.output
    result = project.cli("run", "contract")
    assert result.exit_code == 2, result.output
    assert sandbox.records() == []


def test_a_missing_table_or_folder_stops_the_run_before_any_request(source_kind, project, sandbox):
    _pipeline(project, source_kind, source_kind.missing)
    missing = "cancels_missing" if source_kind.kind != "csv" else "nowhere"
    checked = project.cli("validate")
    assert missing in checked.output
    result = project.cli("run", "contract")
    assert result.exit_code != 0
    assert missing in result.output
    assert sandbox.records() == []
    assert "delivered" not in result.stdout


def test_incremental_reads_miss_nothing_at_the_cursor_boundary(source_kind, project, sandbox):
    if not source_kind.incremental:
        pytest.skip("CSV drops have no cursor: each file is read once, whole")
    ((name, block),) = source_kind.source.items()
    _pipeline(project, source_kind, {name: {**block, "cursor": {"column": "updated_at"}}})
    first = project.cli("run", "contract")
    assert first.exit_code == 0, first.output
    assert "read 50" in first.stdout
    last = DATASET[-1]["updated_at"]  # the saved cursor: rows 46-50 share it
    late = [cancellation(i, last) for i in (51, 52, 53)]
    source_kind.add(late)

    second = project.cli("run", "contract")
    assert second.exit_code == 0, second.output
    assert "read 8:" in second.stdout  # the five at the cursor again, and the three late rows
    assert "new 3" in second.stdout and "delivered 3" in second.stdout
    assert _sent(sandbox) == sorted(expected_request(row) for row in [*DATASET, *late])

    third = project.cli("run", "contract")
    assert "sent 0" in third.stdout
    assert len(sandbox.records()) == 53
