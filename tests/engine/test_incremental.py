"""Incremental reads by a cursor column: only rows past the saved cursor, none lost at the boundary."""

from __future__ import annotations

import sqlite3

from connectors.hepsiglobal.sandbox import Faults

PIPELINE = """\
source:
  sql:
    connection: marketplace
    table: cancels
    cursor: {column: %s, lookback: %s}
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


def _setup(project, column: str = "updated_at", lookback: str = "0"):
    project.sql(
        "CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT, updated_at TIMESTAMP)"
    )
    project.sql(
        "INSERT INTO cancels VALUES (?, ?, ?, ?, ?)",
        [(i, "5000", f"SKU{i}", "customer_demand", f"2026-11-01 10:00:{i:02d}") for i in range(1, 11)],
    )
    project.pipeline("incr", PIPELINE % (column, lookback))
    return project


def _saved_cursor(project) -> str:
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        return db.execute("SELECT value FROM hgsync_cursors WHERE pipeline = 'incr'").fetchone()[0]
    finally:
        db.close()


def test_reads_only_rows_at_or_past_the_cursor(project, sandbox):
    _setup(project)
    first = project.cli("run", "incr")
    assert first.exit_code == 0, first.output
    assert "read 10" in first.stdout
    assert "2026-11-01T10:00:10" in _saved_cursor(project)

    second = project.cli("run", "incr")
    assert "read 1:" in second.stdout  # only the row at the cursor itself is read again
    assert "sent 0" in second.stdout


def test_rows_sharing_the_cursor_value_at_the_boundary_are_not_lost(project, sandbox):
    _setup(project)
    project.cli("run", "incr")
    # committed late, with the same updated_at as the saved cursor
    project.sql("INSERT INTO cancels VALUES (11, '5000', 'SKU11', 'customer_demand', '2026-11-01 10:00:10')")
    result = project.cli("run", "incr")
    assert "new 1" in result.stdout and "delivered 1" in result.stdout
    assert "5000_SKU11" in {r["path_params"]["order_item_number"] for r in sandbox.records()}


def test_lookback_catches_rows_committed_late_with_an_older_cursor(project, sandbox):
    _setup(project, lookback="5m")
    project.cli("run", "incr")
    project.sql("INSERT INTO cancels VALUES (12, '5000', 'SKU12', 'customer_demand', '2026-11-01 09:58:00')")
    project.sql("INSERT INTO cancels VALUES (13, '5000', 'SKU13', 'customer_demand', '2026-11-01 09:50:00')")
    result = project.cli("run", "incr")
    assert "new 1" in result.stdout  # within the five minutes: read; ten minutes late: outside the window
    sent = {r["path_params"]["order_item_number"] for r in sandbox.records()}
    assert "5000_SKU12" in sent and "5000_SKU13" not in sent


def test_query_sources_read_incrementally_too(project, sandbox):
    _setup(project)
    text = (project.home / "pipelines" / "incr.yaml").read_text()
    project.pipeline(
        "incr", text.replace("    table: cancels", "    query: SELECT * FROM cancels WHERE reason <> 'x'")
    )
    assert "read 10" in project.cli("run", "incr").stdout
    project.sql("INSERT INTO cancels VALUES (11, '5000', 'SKU11', 'customer_demand', '2026-11-01 10:00:10')")
    result = project.cli("run", "incr")
    assert "read 2:" in result.stdout and "new 1" in result.stdout


def test_integer_cursor_with_numeric_lookback(project, sandbox):
    _setup(project, column="id", lookback="3")
    project.cli("run", "incr")
    assert _saved_cursor(project) == "10"
    result = project.cli("run", "incr")
    assert "read 4:" in result.stdout  # ids 7..10


def test_cursor_does_not_pass_a_row_that_failed_for_a_retryable_reason(project, sandbox):
    _setup(project)
    sandbox.set_faults(Faults(rate_500=1.0, seed=2))
    failed = project.cli("run", "incr")
    assert failed.exit_code == 1
    assert "2026-11-01T10:00:01" in _saved_cursor(project)  # pinned at the first failed row
    sandbox.set_faults(Faults())
    again = project.cli("run", "incr")
    assert again.exit_code == 0, again.output
    assert "due again 10" in again.stdout and "delivered 10" in again.stdout
    assert "2026-11-01T10:00:10" in _saved_cursor(project)


def test_plan_does_not_move_the_cursor(project, sandbox):
    _setup(project)
    project.cli("plan", "incr")
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM hgsync_cursors").fetchone()[0] == 0
    finally:
        db.close()


def test_a_changed_cursor_column_reads_everything_again(project, sandbox):
    _setup(project)
    project.cli("run", "incr")
    project.pipeline("incr", PIPELINE % ("id", "0"))
    result = project.cli("run", "incr")
    assert "read 10" in result.stdout and "unchanged 10" in result.stdout
