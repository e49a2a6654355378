"""Two `hgsync daemon` processes on one PostgreSQL state store: one active, one standing by.

The two play two machines (``HGSYNC_NODE`` a and b), so the standby can only learn that the
active one died from its missing heartbeat, as it would across a network.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from connectors.hepsiglobal.sandbox import Faults
from tests.conftest import CONFIG
from tests.servers import Space, postgres_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROWS = 1500
LEASE = 3

PIPELINE = """\
schedule: {every: 1s}
source: {sql: {connection: marketplace, table: cancels}}
key: "{{ row.id }}"
operation: cancel_order_item
request:
  path: {order_number: "{{ row.order_number }}", order_item_number: "{{ row.order_number }}_S{{ row.id }}"}
  body: {reason: customer_demand}
"""


@pytest.fixture
def pg() -> Iterator[Space]:
    with postgres_schema() as space:
        yield space


@pytest.fixture
def shared(project, sandbox, pg: Space):
    config = CONFIG.format(url=sandbox.url).replace("sqlite:///state/state.db", pg.url)
    config = config.replace("concurrency: 8", "concurrency: 4")
    project.write_config(config + f"daemon: {{http_port: 0, lease: {LEASE}, stop_timeout: 5}}\n")
    project.sql("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT)")
    project.sql("INSERT INTO cancels VALUES (?, ?)", [(i, f"O{i}") for i in range(ROWS)])
    project.pipeline("cancels", PIPELINE)
    return project


def _start(daemon_factory, monkeypatch, node: str, log_name: str):
    monkeypatch.setenv("HGSYNC_NODE", node)
    return daemon_factory(log_name=log_name)


def _role(daemon) -> dict:
    return httpx.get(daemon.url + "/status.json", timeout=5).json()["lease"]


def test_the_standby_takes_over_within_the_lease_and_nothing_is_lost(
    shared, sandbox, pg: Space, daemon_factory, monkeypatch
) -> None:
    sandbox.set_faults(Faults(delay=0.01, rate_delay=1))
    active = _start(daemon_factory, monkeypatch, "a", "a.log")
    active.wait_for("daemon_active")
    standby = _start(daemon_factory, monkeypatch, "b", "b.log")
    standby.wait_for("daemon_standby")
    assert _role(active)["role"] == "active"
    status = _role(standby)
    assert status["role"] == "standby" and status["active"]["host"] == "a"

    deadline = time.monotonic() + 30
    while len(sandbox.records()) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    active.kill()  # kill -9: no goodbye, the lease just stops being renewed
    killed_at = time.monotonic()
    standby.wait_for("daemon_active", timeout=30)
    took = time.monotonic() - killed_at
    assert took < 30
    took_over = standby.wait_for("daemon_took_over")[0]
    assert took_over["locks_freed"] >= 1  # the dead one's pipeline lock, so runs start at once
    sandbox.set_faults(Faults())

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sent = Counter(r["path"] for r in sandbox.records("cancel_order_item"))
        if len(sent) == ROWS:
            break
        time.sleep(0.2)
    assert len(sent) == ROWS  # nothing lost
    # duplicates: at most the window of requests marked sending at the kill (2 x concurrency 4)
    assert sum(sent.values()) - ROWS <= 2 * 4
    assert _role(standby)["role"] == "active"


def test_a_daemon_whose_lease_was_taken_stops_and_sends_nothing_more(
    shared, sandbox, pg: Space, daemon_factory, monkeypatch
) -> None:
    sandbox.set_faults(Faults(delay=0.02, rate_delay=1))
    daemon = _start(daemon_factory, monkeypatch, "a", "a.log")
    daemon.wait_for("daemon_active")
    deadline = time.monotonic() + 30
    while len(sandbox.records()) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pg.engine.begin() as conn:  # another machine took over while this one stalled
        conn.execute(sa.text("UPDATE hgsync_locks SET host = 'elsewhere', pid = 1"))
    assert daemon.wait(timeout=30) == 3
    assert daemon.events("lease_lost") or daemon.events("run_failed")
    after = len(sandbox.records())
    time.sleep(1)
    assert len(sandbox.records()) == after  # nothing more went out
    assert after < ROWS
