"""Lost answers against the real sandbox: held refunds, resent orders, idempotency keys, and
credentials refused part-way, end to end through `hgsync run`, `history` and `resolve`."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from connectors.hepsiglobal.sandbox import Faults, Sandbox
from engine.store import StateStore
from tests.conftest import CONFIG, ProjectDir

REFUNDS = """\
source: {sql: {connection: marketplace, table: refunds}}
key: "{{ row.refund_number }}"
operation: create_refund
%s
request:
  body:
    refund_number: "{{ row.refund_number }}"
    order_number: "{{ row.order_number }}"
    refund_date: "2024-07-25T10:00:00+03:00"
    items:
      - order_item_number: "{{ row.order_number }}_A1"
        quantity: 1
        reason: incorrect_order
        amount: 10.5
        currency: USD
"""

ORDERS = """\
source: {sql: {connection: marketplace, table: orders}}
key: "{{ row.order_number }}"
operation: create_order
request:
  body:
    order_number: "{{ row.order_number }}"
    marketplace: hepsiglobal
    order_date: "2024-07-13T16:01:26+00:00"
    shipping_type: 1
    order_amount: 20
    currency: USD
    customer: {name: Ada, phone: "+16172531000", email: ada@example.com}
    items:
      - item_number: "{{ row.order_number }}_HBV00000A1"
        esd: "2024-07-15T16:01:26+00:00"
        company_id: 7
        spu: HB0000144QYJ
        sku: HBV00000A1
        product_name: Mug
        quantity: 1
        unit_product_price: 20
        total_amount_excl_vat: 20
        total_amount: 20
        vat_amount: 0
        currency: USD
"""


def _refunds(project: ProjectDir, n: int, policy: str = "") -> None:
    project.sql("CREATE TABLE refunds (id INTEGER PRIMARY KEY, refund_number TEXT, order_number TEXT)")
    project.sql("INSERT INTO refunds VALUES (?, ?, ?)", [(i, f"R-{i:05d}", f"O-{i:05d}") for i in range(n)])
    project.pipeline("refunds", REFUNDS % policy)


def _state(project: ProjectDir) -> StateStore:
    return StateStore(f"sqlite:///{project.home / 'state' / 'state.db'}")


def test_held_refunds_are_never_posted_twice_and_are_listed(project: ProjectDir, sandbox: Sandbox) -> None:
    _refunds(project, 200)
    sandbox.set_faults(Faults(rate_lost=0.1, seed=7))
    first = project.cli("run", "refunds")
    assert first.exit_code == 1, first.output
    posted = Counter(r["body"]["refund_number"] for r in sandbox.records("create_refund"))
    assert posted and max(posted.values()) == 1  # not one refund twice
    lost = sandbox.stats()["faults"]["lost"]
    assert lost > 0 and f"in doubt {lost}" in first.output

    listed = project.cli("history", "refunds", "--in-doubt", "--limit", "1000")
    held = [
        line.split("key ")[1].split("'")[1] for line in listed.output.splitlines() if "in doubt since" in line
    ]
    assert len(held) == lost and all(posted[key] == 1 for key in held)  # HG has every one of them

    sandbox.set_faults(Faults())
    again = project.cli("run", "refunds")
    assert f"in doubt and held {lost}" in again.output and again.exit_code == 1
    assert max(Counter(r["body"]["refund_number"] for r in sandbox.records("create_refund")).values()) == 1

    assert project.cli("resolve", "refunds", held[0], "--delivered").exit_code == 0
    assert project.cli("resolve", "refunds", held[1], "--resend").exit_code == 0
    before = {r["body"]["refund_number"]: r["idempotency_key"] for r in sandbox.records("create_refund")}
    third = project.cli("run", "refunds")
    resent = [r for r in sandbox.records("create_refund") if r["body"]["refund_number"] == held[1]]
    assert len(resent) == 2 and resent[1]["idempotency_key"] == before[held[1]]
    assert f"in doubt and held {lost - 2}" in third.output


def test_resolve_refuses_a_key_that_is_not_in_doubt(project: ProjectDir, sandbox: Sandbox) -> None:
    _refunds(project, 3)
    assert project.cli("run", "refunds").exit_code == 0
    result = project.cli("resolve", "refunds", "R-00001", "--resend")
    assert result.exit_code == 2 and "has it delivered, not in doubt" in result.output
    assert project.cli("resolve", "refunds", "nope", "--delivered").exit_code == 2
    assert "--delivered or --resend" in project.cli("resolve", "refunds", "R-00001").output


def test_resent_orders_refused_as_repeats_count_as_delivered(project: ProjectDir, sandbox: Sandbox) -> None:
    project.sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, order_number TEXT)")
    project.sql("INSERT INTO orders VALUES (?, ?)", [(i, f"O-{i:05d}") for i in range(150)])
    project.pipeline("orders", ORDERS)
    sandbox.refuse_repeats = True
    sandbox.set_faults(Faults(rate_lost=0.15, seed=3))
    try:
        result = project.cli("run", "orders")
    finally:
        sandbox.refuse_repeats = False
    assert result.exit_code == 0, result.output
    assert "delivered 150" in result.output and "duplicates HG refused" in result.output
    created = Counter(r["body"]["order_number"] for r in sandbox.records("create_order"))
    assert len(created) == 150 and max(created.values()) == 1


def test_resent_cancels_carry_the_key_of_their_first_send(cancels, sandbox: Sandbox) -> None:
    project = cancels(300)
    sandbox.set_faults(Faults(rate_lost=0.1, seed=5))
    result = project.cli("run", "cancels")
    assert result.exit_code == 0, result.output
    keys: dict[str, set[str]] = {}
    for record in sandbox.records("cancel_order_item"):
        keys.setdefault(record["path"], set()).add(record["idempotency_key"])
    assert len(keys) == 300
    assert sum(1 for r in sandbox.records("cancel_order_item")) > 300  # some were sent twice...
    assert all(len(k) == 1 and None not in k for k in keys.values())  # ...always with the same key


def test_a_token_that_dies_during_backoff_rejects_no_row(tmp_path) -> None:
    with Sandbox(client_id="test-client", client_secret="test-secret-value", token_ttl=1) as short:
        short.set_faults(Faults(rate_429=0.3, retry_after=0.2, seed=11))
        project = ProjectDir(tmp_path / "p", short.url)
        project.write_config(CONFIG.format(url=short.url).replace("max_attempts: 6", "max_attempts: 50"))
        project.sql("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT)")
        project.sql("INSERT INTO cancels VALUES (?, ?, ?, ?)", [(i, "1", f"S{i}", "x") for i in range(200)])
        from tests.conftest import CANCEL_PIPELINE

        project.pipeline("cancels", CANCEL_PIPELINE % "insert")
        result = project.cli("run", "cancels")
        assert result.exit_code == 0, result.output
        assert "delivered 200, rejected 0" in result.output
        assert short.stats()["tokens_issued"] > 1


def test_refused_credentials_stop_the_run_and_leave_the_rows_as_they_were(cancels, sandbox: Sandbox) -> None:
    project = cancels(30)
    assert project.cli("run", "cancels").exit_code == 0
    project.sql("UPDATE cancels SET reason = 'late' WHERE id <= 5")
    project.pipeline(
        "cancels", (project.home / "pipelines" / "cancels.yaml").read_text().replace("insert", "upsert")
    )
    project.write_config(
        CONFIG.format(url=sandbox.url).replace("${env:TEST_HG_SECRET:-test-secret-value}", "wrong")
    )
    refused = project.cli("run", "cancels")
    assert refused.exit_code == 2 and "refused client id 'test-client'" in refused.output
    state = _state(project)
    try:
        assert {
            s.status
            for s in state.lookup("cancels", [f"{100000 + i // 3}_HBV{i:08d}" for i in range(1, 31)]).values()
        } == {"delivered"}
        assert state.failing("cancels") == [] and state.in_doubt("cancels") == []
        assert state.history("cancels", 1)[0].status == "error"
    finally:
        state.close()
    project.write_config(CONFIG.format(url=sandbox.url))
    fixed = project.cli("run", "cancels")
    assert fixed.exit_code == 0 and "changed 5" in fixed.output and "delivered 5" in fixed.output


@pytest.mark.parametrize("policy", ["in_doubt: resend", ""])
def test_the_policy_a_refund_pipeline_names_is_obeyed(
    project: ProjectDir, sandbox: Sandbox, policy: str
) -> None:
    _refunds(project, 60, policy)
    sandbox.set_faults(Faults(rate_lost=0.2, seed=2))
    project.cli("run", "refunds")
    sandbox.set_faults(Faults())
    project.cli("run", "refunds")
    posted = Counter(r["body"]["refund_number"] for r in sandbox.records("create_refund"))
    if policy:  # resend: every refund reaches HG, some more than once (the sandbox does not refuse repeats)
        assert len(posted) == 60 and max(posted.values()) >= 2
    else:
        assert max(posted.values()) == 1


CRASHING_REFUNDS = """
import sys
from connectors.hepsiglobal.client import HGClient

build = HGClient._request
attempted = open(sys.argv[2], "w")
count = [0]


def request(self, method, path, payload, token, extra):
    if isinstance(payload, dict) and "refund_number" in payload:
        attempted.write(payload["refund_number"] + "\\n")
        attempted.flush()
        count[0] += 1
        if count[0] == 40:  # the 40th refund: a bug in the client
            raise RuntimeError("a bug in the client")
    return build(self, method, path, payload, token, extra)


HGClient._request = request
from engine.cli.commands import main

main(["--home", sys.argv[1], "run", "refunds"])
"""


def test_a_crashed_run_leaves_only_attempted_refunds_in_doubt(
    project: ProjectDir, sandbox: Sandbox, tmp_path
) -> None:
    """When a worker fails unexpectedly the run ends; rows already marked ``sending`` but never
    handed to the client (the feeder's window, waiting for room in the queue) are put back as
    they were. Left ``sending`` they would become held refunds, for a person to settle, that
    HG never saw."""
    _refunds(project, 200)
    attempted_file = tmp_path / "attempted.txt"
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_REFUNDS, str(project.home), str(attempted_file)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert "a bug in the client" in crashed.stdout + crashed.stderr
    attempted = set(attempted_file.read_text().split())
    state = _state(project)
    try:
        with state.engine.connect() as conn:
            left = {
                key
                for (key,) in conn.exec_driver_sql(
                    "SELECT key FROM hgsync_deliveries WHERE pipeline = 'refunds' AND status = 'sending'"
                )
            }
    finally:
        state.close()
    assert left, "the requests on the wire when the run ended are in doubt"
    assert left <= attempted, f"never handed to the client, left in doubt: {sorted(left - attempted)}"
