"""An outbound pipeline's response: block writes HG's answers back to the marketplace, through
the same sinks as inbound pipelines: once per delivered request, kept pending (and applied by
the next run) when it fails, located errors in the file when it is wrong."""

from __future__ import annotations

import sqlite3

from connectors.hepsiglobal.sandbox import Sandbox
from tests.conftest import ProjectDir

REFUNDS = """\
source: {sql: {connection: marketplace, table: refunds}}
key: "{{ row.refund_number }}"
operation: create_refund
request:
  body:
    refund_number: "{{ row.refund_number }}"
    order_number: "O-1"
    refund_date: "2024-07-25T10:00:00+03:00"
    items:
      - {order_item_number: oi1, quantity: 1, reason: incorrect_order, amount: 10.5, currency: USD}
response:
  into:
    table: {connection: marketplace, table: refunds, mode: update, key: [refund_number]}
  columns:
    refund_number: "{{ key }}"
    %s: "{{ response.request_id }}"
"""

TRACKING = """\
source: {sql: {connection: marketplace, table: shipments}}
key: "{{ row.code }}"
operation: tracking_by_shipment_id
request:
  path: {shipment_id: "{{ row.code }}"}
response:
  each: delivery_info
  when: item.eventCode != '99'
  into:
    table: {connection: marketplace, table: tracking, mode: upsert, key: [code, at]}
  columns:
    code: "{{ request.params.shipment_id }}"
    at: "{{ item.datetime }}"
    detail: "{{ item.detail }}"
"""


def _rows(project: ProjectDir, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as db:
        return db.execute(sql).fetchall()


def _refunds(project: ProjectDir, column: str = "request_id") -> None:
    project.sql("CREATE TABLE refunds (refund_number TEXT PRIMARY KEY, request_id TEXT)")
    project.sql("INSERT INTO refunds VALUES (?, NULL)", [(f"R-{i}",) for i in range(5)])
    project.pipeline("refunds", REFUNDS % column)


def test_hg_answers_are_written_back_once(project: ProjectDir, sandbox: Sandbox) -> None:
    _refunds(project)
    run = project.cli("run", "refunds")
    assert run.exit_code == 0, run.output
    assert "HG's answers written back: 5" in run.output
    written = dict(_rows(project, "SELECT refund_number, request_id FROM refunds"))
    answered = {r["body"]["refund_number"] for r in sandbox.records("create_refund")}
    assert set(written) == answered and all(written.values()) and len(set(written.values())) == 5
    again = project.cli("run", "refunds")
    assert again.exit_code == 0 and "written back" not in again.output  # nothing sent, nothing to apply
    applied = _rows(project, "SELECT COUNT(*) FROM hgsync_applied_events")[0][0]
    assert applied == 5  # one id per answer: a repeat after a crash writes nothing twice


def test_an_answer_that_cannot_be_written_waits_for_the_next_run(
    project: ProjectDir, sandbox: Sandbox
) -> None:
    _refunds(project, column="hg_request_id")  # the table has no such column yet
    run = project.cli("run", "refunds")
    assert run.exit_code == 1, run.output
    assert "delivered 5" in run.output and "5 failed (kept; the next run tries them again" in run.output
    project.sql("ALTER TABLE refunds ADD COLUMN hg_request_id TEXT")
    fixed = project.cli("run", "refunds")
    assert fixed.exit_code == 0, fixed.output
    assert "HG's answers written back: 5" in fixed.output
    assert len(sandbox.records("create_refund")) == 5  # nothing sent twice for it
    assert all(r[0] for r in _rows(project, "SELECT hg_request_id FROM refunds"))


def test_each_element_of_a_list_in_the_answer_is_a_row(project: ProjectDir, sandbox: Sandbox) -> None:
    project.sql(
        "CREATE TABLE shipments (code TEXT); CREATE TABLE tracking (code TEXT, at TEXT, detail TEXT, PRIMARY KEY (code, at))"
    )
    project.sql("INSERT INTO shipments VALUES (?)", [("S-1",), ("S-2",)])
    project.pipeline("tracking", TRACKING)
    run = project.cli("run", "tracking")
    assert run.exit_code == 0, run.output
    assert _rows(project, "SELECT code, at, detail FROM tracking ORDER BY code") == [
        ("S-1", "2021-10-06 16:38:19", "Packaged"),
        ("S-2", "2021-10-06 16:38:19", "Packaged"),
    ]


def test_a_wrong_response_block_is_a_located_error(project: ProjectDir, sandbox: Sandbox) -> None:
    _refunds(project)
    path = project.home / "pipelines" / "refunds.yaml"
    path.write_text(
        path.read_text().replace("table: {connection: marketplace", "tabel: {connection: marketplace")
    )
    checked = project.cli("validate", "--offline")
    assert checked.exit_code == 2
    assert "pipelines/refunds.yaml:13:5 response.into.tabel: unknown sink 'tabel'" in checked.output
    path.write_text(
        path.read_text().replace("tabel:", "table:").replace("{{ key }}", "{{ row.refund_number }}")
    )
    checked = project.cli("validate", "--offline")
    assert (
        checked.exit_code == 2
        and "pipelines/refunds.yaml:15:20 response.columns.refund_number" in checked.output
    )


def test_each_pending_answer_is_tried_once_a_run(project: ProjectDir, sandbox: Sandbox) -> None:
    """More answers than one read of the pending ones (500), one of which cannot be written:
    it is counted once, the others all written."""
    project.sql("CREATE TABLE refunds (refund_number TEXT PRIMARY KEY, request_id TEXT, share TEXT)")
    project.sql("INSERT INTO refunds VALUES (?, NULL, NULL)", [(f"R-{i:04d}",) for i in range(601)])
    text = (REFUNDS % "request_id") + '    share: "{{ 100 // (key[-4:] | int) }}"\n'  # R-0000 divides by zero
    project.pipeline("refunds", text)
    run = project.cli("run", "refunds")
    assert run.exit_code == 1, run.output
    assert "HG's answers written back: 600, 1 failed" in run.output
    assert _rows(project, "SELECT COUNT(*) FROM refunds WHERE request_id IS NULL") == [(1,)]
