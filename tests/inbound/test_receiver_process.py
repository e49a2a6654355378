"""`hgsync serve` as its own process, under a mixed load as HG's would be, killed -9 mid-stream.

Every event that got a 2xx must be applied, and none twice: the marketplace table here is in
insert mode with the event id in each row, so a second application would show as a second row.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from connectors.hepsiglobal.sandbox.fire import fire
from engine.definitions.loader import load_project
from engine.inbound.serve import webhook_operations

pytestmark = pytest.mark.slow

LOG_PIPELINE = """\
receive: stock_update
each: items
into:
  table: {connection: marketplace, table: stock_log, mode: insert}
columns:
  event_id: "{{ meta.event_id }}"
  sku: "{{ item.sku }}"
  stock: "{{ item.stock }}"
"""


def _serve(home: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start `hgsync serve`; its log goes to a file, read until it says where it listens."""
    hgsync = str(Path(sys.executable).parent / "hgsync")
    log = home / f"serve-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [hgsync, "--home", str(home), "--log-level", "warning", "serve", "--port", str(port)], stderr=out
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"on (http://\S+)", log.read_text())
        if found:
            return process, found.group(1)
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"hgsync serve did not start: {log.read_text()[-2000:]}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def log_project(inbound_project):
    inbound_project.sql(
        "CREATE TABLE stock_log (id INTEGER PRIMARY KEY, event_id TEXT, sku TEXT, stock INTEGER)"
    )
    for name in ("stock-in", "seller-cancels-in", "prices-in", "listing-status", "listing-count"):
        (inbound_project.home / "pipelines" / f"{name}.yaml").unlink()
    inbound_project.pipeline("stock-log", LOG_PIPELINE)
    return inbound_project


def _wait_applied(home: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with sqlite3.connect(home / "state" / "state.db") as db:
        while time.monotonic() < deadline:
            if not db.execute("SELECT COUNT(*) FROM hgsync_inbox WHERE status != 'applied'").fetchone()[0]:
                return
            time.sleep(0.1)
    raise AssertionError("events were left unapplied")


def test_mixed_load_and_a_kill_mid_stream_lose_nothing_and_apply_nothing_twice(log_project):
    home = log_project.home
    settings = load_project(home).settings
    assert settings is not None and settings.receiver is not None
    operations = [webhook_operations(settings)["stock_update"]]
    port = _free_port()
    server, url = _serve(home, port)

    async def load(count: int, seed: int):
        return await fire(
            url,
            operations,
            settings.receiver.auth,
            count=count,
            duplicates=0.1,
            forged=0.05,
            invalid=0.05,
            seed=seed,
        )

    async def killed_midway():
        task = asyncio.create_task(load(1500, seed=2))
        await asyncio.sleep(1.5)
        server.send_signal(signal.SIGKILL)
        return await task

    first = asyncio.run(load(1000, seed=1))
    assert first.unexpected == []
    assert first.sent["forged"] > 0 and first.sent["invalid"] > 0 and first.sent["duplicate"] > 0
    second = asyncio.run(killed_midway())
    server.wait(10)
    lost_in_kill = second.answers.get(("valid", 0), 0)
    assert second.accepted, "the kill came before any event of the second load was acknowledged"
    assert lost_in_kill > 0, "the kill came after the second load had finished"

    server, url = _serve(home, port)
    try:
        third = asyncio.run(load(500, seed=3))
        assert third.unexpected == []
        _wait_applied(home)
    finally:
        server.terminate()
        server.wait(10)

    acknowledged = {**first.accepted, **second.accepted, **third.accepted}
    with sqlite3.connect(log_project.db_path) as db:
        rows = Counter(event_id for (event_id,) in db.execute("SELECT event_id FROM stock_log"))
    expected = {event_id: len(body["items"]) for event_id, (_, body) in acknowledged.items()}
    missing = [e for e in expected if e not in rows]
    twice = {e: n for e, n in rows.items() if n > expected.get(e, n)}
    assert missing == []
    assert twice == {}
    # nothing of a forged or invalid call was stored: every stored event was fired as valid
    fired_valid = set(acknowledged) | {e for e in rows}  # events stored just before the kill, unanswered
    with sqlite3.connect(home / "state" / "state.db") as db:
        stored = {e for (e,) in db.execute("SELECT event_id FROM hgsync_inbox")}
    assert stored <= fired_valid
