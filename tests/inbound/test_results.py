"""The refund loop closes: HG's answer to a Create Refund is kept with its request id, the
"Refund create result" webhook is matched to it by that id, and each refund's state (awaiting,
accepted, rejected with a reason) shows in `hgsync history`, `history --key` and the status page."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.hepsiglobal.sandbox import Sandbox
from engine.service.daemon_status import DaemonStatus
from engine.service.live import LiveProject
from engine.service.status_page import render_page
from engine.store import Settled, StateStore
from tests.conftest import CONFIG, ProjectDir
from tests.inbound.conftest import SECRET

REFUNDS = """\
source: {sql: {connection: marketplace, table: refunds}}
key: "{{ row.refund_number }}"
operation: create_refund
request:
  body:
    refund_number: "{{ row.refund_number }}"
    order_number: "{{ row.order_number }}"
    refund_date: "2024-07-25T10:00:00+03:00"
    items:
      - {order_item_number: oi1, quantity: 1, reason: incorrect_order, amount: 10.5, currency: USD}
"""

# the example pipeline's shape: results also land in the marketplace's refunds table
RESULTS_INTO_REFUNDS = """\
receive: refund_create_result
into:
  table: {connection: marketplace, table: refunds, mode: update, key: [refund_number]}
columns:
  refund_number: "{{ event.refund_number }}"
  hg_status: "{{ event.status }}"
  hg_reason: "{{ event.reason | default('') }}"
"""


@pytest.fixture
def refunds(tmp_path, sandbox: Sandbox) -> ProjectDir:
    project = ProjectDir(tmp_path / "project", sandbox.url)
    project.write_config(
        CONFIG.format(url=sandbox.url)
        + f"receiver:\n  host: 127.0.0.1\n  port: 0\n  auth: {{hmac: {{secret: {SECRET}}}}}\n"
        + "  retry: {attempts: 3, base: 0.05, max: 0.2}\n"
    )
    project.sql(
        "CREATE TABLE refunds (refund_number TEXT PRIMARY KEY, order_number TEXT, hg_status TEXT, hg_reason TEXT)"
    )
    project.sql("INSERT INTO refunds VALUES (?, ?, NULL, NULL)", [(f"R-{i}", f"O-{i}") for i in range(3)])
    project.pipeline("refunds", REFUNDS)
    return project


def _request_ids(sandbox: Sandbox, project: ProjectDir) -> dict[str, str]:
    store = StateStore(f"sqlite:///{project.home / 'state' / 'state.db'}")
    try:
        return {row["key"]: row["reference"] for row in store.results("refunds")}
    finally:
        store.close()


def test_a_refund_sent_then_its_result_received_shows_accepted(refunds, sandbox, start_receiver) -> None:
    run = refunds.cli("run", "refunds")
    assert run.exit_code == 0, run.output
    ids = _request_ids(sandbox, refunds)
    assert sorted(ids) == ["R-0", "R-1", "R-2"] and len(set(ids.values())) == 3
    answered = {r["body"]["refund_number"] for r in sandbox.records("create_refund")}
    assert answered == set(ids)

    waiting = refunds.cli("history", "refunds")
    assert "results HG reported for refunds: 3 awaiting" in waiting.output

    refunds.pipeline("refund-results", RESULTS_INTO_REFUNDS)
    receiver = start_receiver(refunds)
    accepted = {"request_id": ids["R-0"], "refund_number": "R-0", "status": "ACCEPTED"}
    rejected = {
        "request_id": ids["R-1"],
        "refund_number": "R-1",
        "status": "REJECTED",
        "reason": "item not delivered",
    }
    for body in (accepted, rejected):
        answer = receiver.send("POST", "/webhooks/refund-create-result", body)
        assert answer.status_code == 200, answer.text
    receiver.settle()

    listed = refunds.cli("history", "refunds", "--results")
    lines = {line.split()[1]: line for line in listed.stdout.splitlines()[1:]}
    assert "ACCEPTED" in lines["R-0"] and ids["R-0"] in lines["R-0"]
    assert "REJECTED" in lines["R-1"] and lines["R-1"].endswith("item not delivered")
    assert "awaiting" in lines["R-2"]
    summary = refunds.cli("history", "refunds").output
    assert "1 ACCEPTED, 1 REJECTED, 1 awaiting" in summary
    # the inbound pipeline applied the same events to the marketplace's table
    assert receiver.rows("SELECT refund_number, hg_status FROM refunds ORDER BY 1") == [
        ("R-0", "ACCEPTED"),
        ("R-1", "REJECTED"),
        ("R-2", None),
    ]

    # status.json: counts, and the refunds not accepted; HG's reason only with http_show_row_data
    live = LiveProject(refunds.home)
    live.reload()
    shown = DaemonStatus(live, receiver.store, lambda name: None).snapshot()
    results = next(p for p in shown["pipelines"] if p["name"] == "refunds")["results"]
    assert results["counts"] == {"ACCEPTED": 1, "REJECTED": 1, "awaiting": 1}
    assert sorted((r["key"], r["result"]) for r in results["open"]) == [
        ("R-1", "REJECTED"),
        ("R-2", "awaiting"),
    ]
    assert "item not delivered" not in json.dumps(shown, default=str)

    one = refunds.cli("history", "refunds", "--key", "R-1")
    assert f"reference: {ids['R-1']}, result: REJECTED (item not delivered)" in one.output
    assert "HG's answer:" in one.output and '"request_id"' in one.output
    as_json = json.loads(refunds.cli("history", "refunds", "--key", "R-0", "--json").stdout)
    assert as_json["result"] == "ACCEPTED" and json.loads(as_json["response"]) == {"request_id": ids["R-0"]}


def test_a_result_without_a_pipeline_is_still_recorded_and_a_replay_changes_nothing(
    refunds, sandbox, start_receiver
) -> None:
    assert refunds.cli("run", "refunds").exit_code == 0
    ids = _request_ids(sandbox, refunds)
    receiver = start_receiver(refunds)  # no inbound pipeline receives refund results
    body = {"request_id": ids["R-2"], "status": "ACCEPTED"}
    for _ in range(2):
        assert (
            receiver.send("POST", "/webhooks/refund-create-result", body, event_id="ev-1").status_code == 200
        )
    receiver.settle()
    assert receiver.store.result_counts("refunds") == {"ACCEPTED": 1, "awaiting": 2}
    events = receiver.store.inbox_events(limit=10)
    assert len(events) == 1 and events[0].status == "applied"


def test_a_result_that_arrives_before_the_answer_is_recorded_still_matches(tmp_path) -> None:
    """HG may call the webhook before its answer to the POST reaches hgsync: the result waits
    for the delivery under its request id."""
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        early = store.record_result(
            "req-9", operation="refund_create_result", status="ACCEPTED", reason=None, event_id="e9"
        )
        assert early is False
        settled = Settled(
            "R-9",
            "delivered",
            "f" * 64,
            "{}",
            202,
            None,
            1,
            "row 1",
            None,
            '{"request_id": "req-9"}',
            "req-9",
        )
        store.write_batch("refunds", "run-1", outcomes=[settled])
        assert [(r["key"], r["result"]) for r in store.results("refunds")] == [("R-9", "ACCEPTED")]
        # a later report replaces the earlier one
        store.record_result(
            "req-9", operation="refund_create_result", status="REJECTED", reason="late", event_id="e10"
        )
        assert store.result_counts("refunds") == {"REJECTED": 1}
    finally:
        store.close()


def test_the_status_page_shows_refund_results() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    snapshot = {
        "started_at": now.isoformat(),
        "pipelines": [
            {
                "name": "refunds",
                "operation": "create_refund",
                "last_runs": [],
                "results": {
                    "counts": {"ACCEPTED": 4, "REJECTED": 1, "awaiting": 2},
                    "open": [
                        {
                            "key": "R-1",
                            "reference": "req-1",
                            "result": "REJECTED",
                            "last_error": "<b>no</b>",
                            "updated_at": now.isoformat(),
                        }
                    ],
                },
            }
        ],
    }
    page = render_page(snapshot, now=now)
    assert "Results HG reported" in page and "4 ACCEPTED" in page and "2 awaiting" in page
    assert "req-1" in page and "&lt;b&gt;no&lt;/b&gt;" in page and "<b>no</b>" not in page


def test_history_key_and_a_result_without_a_request_id(refunds, sandbox, start_receiver) -> None:
    assert refunds.cli("run", "refunds").exit_code == 0
    unknown = refunds.cli("history", "refunds", "--key", "R-9")
    assert unknown.exit_code == 2 and "refunds has no key 'R-9' in the state store" in unknown.output
    assert refunds.cli("history", "--key", "R-0").exit_code == 2  # --key needs a PIPELINE
    receiver = start_receiver(refunds)
    answer = receiver.send("POST", "/webhooks/refund-create-result", {"status": "ACCEPTED"}, event_id="no-id")
    assert answer.status_code == 200
    receiver.settle()
    assert receiver.store.result_counts("refunds") == {"awaiting": 3}  # nothing to match it by
    assert [e.status for e in receiver.store.inbox_events(limit=5)] == ["applied"]
