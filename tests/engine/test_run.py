"""A pipeline over a SQLite table, end to end against the real sandbox over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from connectors.hepsiglobal.sandbox import Faults


def _cancels(sandbox) -> list[dict]:
    return sandbox.records("cancel_order_item")


def test_plan_then_run_then_nothing_twice(cancels, sandbox):
    project = cancels(1000)

    plan = project.cli("plan", "cancels")
    assert plan.exit_code == 0, plan.output
    assert "1000  new" in plan.output
    assert "would send 1000 request(s)" in plan.output
    assert f"PUT {sandbox.url}/v1/orders/100000/order_items/100000_HBV00000001    key" in plan.output
    assert _cancels(sandbox) == []  # plan sends nothing

    first = project.cli("run", "cancels")
    assert first.exit_code == 0, first.output
    assert "delivered 1000" in first.output
    records = _cancels(sandbox)
    assert len(records) == 1000
    assert len({r["path"] for r in records}) == 1000
    assert records[0]["body"] == {"reason": "customer_demand"}

    second = project.cli("run", "cancels")
    assert second.exit_code == 0, second.output
    assert "unchanged 1000" in second.output and "sent 0" in second.output
    assert len(_cancels(sandbox)) == 1000


def test_upsert_sends_exactly_the_changed_rows(cancels, sandbox):
    project = cancels(1000, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    sandbox.reset()
    project.sql("UPDATE cancels SET reason = 'late_shipment' WHERE id % 100 = 0")

    plan = project.cli("plan", "cancels")
    assert "10  changed" in plan.output and "990  unchanged" in plan.output
    assert 'changed: body.reason: "customer_demand" → "late_shipment"' in plan.output

    result = project.cli("run", "cancels")
    assert result.exit_code == 0, result.output
    records = _cancels(sandbox)
    assert len(records) == 10
    assert {r["body"]["reason"] for r in records} == {"late_shipment"}
    assert {r["path_params"]["order_item_number"] for r in records} == {
        f"{100000 + i // 3}_HBV{i:08d}" for i in range(100, 1001, 100)
    }


def test_insert_mode_does_not_resend_changed_rows(cancels, sandbox):
    project = cancels(20, mode="insert")
    assert project.cli("run", "cancels").exit_code == 0
    project.sql("UPDATE cancels SET reason = 'late_shipment'")
    result = project.cli("run", "cancels")
    assert "unchanged 20" in result.output
    assert len(_cancels(sandbox)) == 20


def test_every_row_arrives_exactly_once_through_429s_and_500s(cancels, sandbox):
    project = cancels(300)
    sandbox.set_faults(Faults(rate_429=0.2, retry_after=0.01, rate_500=0.2, seed=3))
    # a request that fails all its attempts is sent again by the next run; none is sent twice
    for _ in range(4):
        result = project.cli("run", "cancels")
        if result.exit_code == 0:
            break
        assert "failed after retries" in result.stdout
    assert result.exit_code == 0, result.output
    records = _cancels(sandbox)
    assert len(records) == 300
    assert len({r["path"] for r in records}) == 300
    stats = sandbox.stats()
    assert stats["faults"]["429"] > 0 and stats["faults"]["5xx"] > 0


def test_failures_after_all_retries_are_retried_next_run(cancels, sandbox):
    project = cancels(5)
    sandbox.set_faults(Faults(rate_500=1.0, seed=1))
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert "failed after retries 5" in result.output
    assert "sent 5 in 30 attempts (5 retried)" in result.stdout
    assert (
        "failed: key" in result.stdout
        and "`hgsync history cancels --failing` lists them (5)" in result.stdout
    )
    failing = project.cli("history", "--failing")
    lines = failing.stdout.splitlines()
    assert lines[0].split()[:5] == ["PIPELINE", "KEY", "STATUS", "TRIES", "HTTP"]
    assert len(lines) == 6 and all(re.match(r"cancels\s+\S+\s+failed\s+6\s+5\d\d\s", li) for li in lines[1:])

    sandbox.set_faults(Faults())
    plan = project.cli("plan", "cancels")
    assert "5  due for retry" in plan.output
    again = project.cli("run", "cancels")
    assert again.exit_code == 0, again.output
    assert "due again 5" in again.output and "delivered 5" in again.output
    assert len(_cancels(sandbox)) == 5


def test_rejections_wait_for_a_change_or_retry_failed(cancels, sandbox):
    project = cancels(4)
    # the sandbox refuses an item number that does not start with the order number, as HG
    # might by a rule of its own
    sandbox.set_faults(Faults(reject_path="/order_items/HBV"))
    project.pipeline(
        "cancels",
        (project.home / "pipelines" / "cancels.yaml")
        .read_text()
        .replace(
            'order_item_number: "{{ row.order_number }}_{{ row.sku }}"', 'order_item_number: "{{ row.sku }}"'
        )
        .replace('key: "{{ row.order_number }}_{{ row.sku }}"', 'key: "{{ row.id }}"'),
    )
    project.sql("UPDATE cancels SET sku = order_number || '_' || sku WHERE id != 3")
    first = project.cli("run", "cancels")
    assert first.exit_code == 1
    assert "delivered 3, rejected 1" in first.stdout
    # the summary names the rejected key with HG's message, and the command listing the rest
    assert re.search(r"rejected: key '3' \(HTTP 400\): .*'/order_items/HBV' is refused here", first.stdout)
    assert "`hgsync history cancels --failing` lists them (1)" in first.stdout
    assert "'/order_items/HBV' is refused here" in first.output  # HG's reason reaches the log

    second = project.cli("run", "cancels")
    assert second.exit_code == 1
    assert "sent 0" in second.stdout and "still rejected 1" in second.stdout
    assert "1  rejected before" in project.cli("plan", "cancels").stdout

    forced = project.cli("run", "--retry-failed", "cancels")
    assert "sent 1: delivered 0, rejected 1" in forced.stdout
    failing = project.cli("history", "--failing").stdout
    assert re.search(
        r"^cancels\s+3\s+rejected\s+2\s+400\s.*'/order_items/HBV' is refused here", failing, re.M
    )
    rows = json.loads(project.cli("history", "--failing", "--json").stdout)
    assert [(r["key"], r["status"], r["last_status"]) for r in rows] == [("3", "rejected", 400)]

    project.sql("UPDATE cancels SET sku = order_number || '_' || sku WHERE id = 3")
    fixed = project.cli("run", "cancels")
    assert fixed.exit_code == 0, fixed.output
    assert "changed 1" in fixed.stdout and "delivered 1" in fixed.stdout
    assert len(_cancels(sandbox)) == 4


def test_a_row_that_fails_to_render_does_not_stop_the_others(cancels, sandbox):
    project = cancels(50)
    project.sql("UPDATE cancels SET sku = NULL WHERE id = 7")
    project.pipeline(
        "cancels",
        (project.home / "pipelines" / "cancels.yaml")
        .read_text()
        .replace(
            'key: "{{ row.order_number }}_{{ row.sku }}"',
            "key: \"{{ row.order_number }}_{{ row.sku | require('sku') }}\"",
        ),
    )
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert "row errors 1" in result.output
    assert "cancels(id=7)" in result.output and "sku is empty" in result.output
    assert len(_cancels(sandbox)) == 49

    history = project.cli("history")
    assert "cancels" in history.output
    run_id = history.output.splitlines()[1].split()[0]
    errors = project.cli("history", "--errors", run_id)
    assert "cancels(id=7)" in errors.output and "sku is empty" in errors.output


def test_duplicate_keys_are_errors_for_every_row_sharing_them(cancels, sandbox):
    project = cancels(10)
    project.sql("UPDATE cancels SET order_number = '100000', sku = 'HBV00000001' WHERE id IN (1, 5)")
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert "row errors 2" in result.output
    assert "duplicate key '100000_HBV00000001'" in result.output
    paths = {r["path_params"]["order_item_number"] for r in _cancels(sandbox)}
    assert "100000_HBV00000001" not in paths and len(paths) == 8


def test_rows_that_all_share_one_key_are_settled_without_a_hang():
    """A key template that names a constant column gives every row one key: settling them
    must stay linear (a count per row, or a list of the others per row, took minutes at
    50,000 rows). Run in a child process with a generous watchdog, as the hostile suite does."""
    code = (
        "from engine.outbound.spool import Spool\n"
        "with Spool() as spool:\n"
        "    spool.add(100_000, [(i, ('same', 0, None, f'f.csv:{i + 2}', None)) for i in range(100_000)])\n"
        "    print(spool.settle_duplicates())\n"
        "    print(next(spool.errors()).reason)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert done.stdout.splitlines() == [
        "100000",
        "duplicate key 'same': also at f.csv:3, f.csv:4, f.csv:5 and 99996 more",
    ], done.stdout + done.stderr


CRASHING_SEND = """
import sys
from connectors.hepsiglobal.client import HGClient

calls = [0]
build = HGClient._request


def request(self, *args):
    calls[0] += 1
    if calls[0] == 40:
        raise RuntimeError("a bug in the client")
    return build(self, *args)


HGClient._request = request
from engine.cli.commands import main

main(["--home", sys.argv[1], "run", "cancels"])
"""


def test_a_send_that_raises_ends_the_run_instead_of_hanging_it(cancels, sandbox):
    """An unexpected error in one worker used to leave the feeder waiting for room in the
    queue for ever (even SIGTERM could not end the run). Now the run ends with the error, what
    was delivered is kept, and the next run sends the rest: nothing lost, nothing twice."""
    project = cancels(200)
    root = Path(__file__).resolve().parents[2]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_SEND, str(project.home)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert crashed.returncode != 0
    assert "a bug in the client" in crashed.stdout + crashed.stderr
    sent = {r["path"] for r in _cancels(sandbox)}
    assert 0 < len(sent) < 200

    again = project.cli("run", "cancels")
    assert again.exit_code == 0, again.output
    records = _cancels(sandbox)
    assert {r["path"] for r in records} == {
        f"/v1/orders/{100000 + i // 3}/order_items/{100000 + i // 3}_HBV{i:08d}" for i in range(1, 201)
    }
    # a key is sent again only when its request may have reached HG (left `sending`)
    assert len(records) - 200 <= 2 * 8


def test_history_lists_runs_with_counts(cancels, sandbox):
    project = cancels(3)
    project.cli("run", "cancels")
    project.cli("run", "cancels")
    history = project.cli("history", "cancels")
    lines = history.output.splitlines()
    assert len(lines) == 3  # header and two runs, newest first
    assert lines[1].split()[2] == "ok" and lines[2].split()[2] == "ok"


def test_run_all_runs_every_pipeline(cancels, sandbox):
    project = cancels(3)
    project.pipeline("second", (project.home / "pipelines" / "cancels.yaml").read_text())
    result = project.cli("run", "--all")
    assert result.exit_code == 0, result.output
    assert "cancels: ok" in result.output and "second: ok" in result.output
    # the same keys in two pipelines are two deliveries
    assert len(_cancels(sandbox)) == 6


def test_state_keeps_no_secret(cancels, sandbox):
    project = cancels(3)
    project.cli("run", "cancels")
    data = (project.home / "state" / "state.db").read_bytes()
    assert b"test-secret-value" not in data
    assert json.dumps({"reason": "customer_demand"}).encode()[:10] in data
