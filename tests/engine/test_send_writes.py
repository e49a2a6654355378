"""The send loop's writes to the state store: never lost, never far behind the requests."""

from __future__ import annotations

import sqlite3
import threading
import time

import sqlalchemy as sa

from engine.store.sending import Sending


def _cancels(sandbox) -> list[dict]:
    return sandbox.records("cancel_order_item")


def test_a_store_that_fails_mid_run_ends_the_run_and_loses_nothing(cancels, sandbox, monkeypatch):
    """An outcome write that fails (the store went away) stops the run with the store's error;
    the keys whose outcome was not recorded stay ``sending`` (in doubt), so the next run sends
    them again with their idempotency key, and every row arrives."""
    project = cancels(200)
    write_outcomes = Sending._write_outcomes
    writes: list[int] = []

    def failing_write(self, conn, *args):
        writes.append(1)
        if len(writes) == 4:  # inside the transaction, as the database driver fails
            raise sa.exc.OperationalError("INSERT ...", None, sqlite3.OperationalError("disk I/O error"))
        return write_outcomes(self, conn, *args)

    monkeypatch.setattr(Sending, "_write_outcomes", failing_write)
    failed = project.cli("run", "cancels")
    assert failed.exit_code != 0
    assert "disk I/O error" in failed.output
    sent_first = len(_cancels(sandbox))
    assert 0 < sent_first < 200

    monkeypatch.undo()
    again = project.cli("run", "cancels")
    assert again.exit_code == 0, again.output
    records = _cancels(sandbox)
    assert {r["path"] for r in records} == {
        f"/v1/orders/{100000 + i // 3}/order_items/{100000 + i // 3}_HBV{i:08d}" for i in range(1, 201)
    }
    # resent: only keys whose outcome was lost, fewer than twice the concurrency (8)
    assert len(records) - 200 < 2 * 8


def test_sending_never_runs_far_ahead_of_a_slow_store(cancels, sandbox, monkeypatch):
    """With every commit slow (30 ms: a busy disk), sending does not run ahead of the store: at
    any moment HG has answered fewer than twice the concurrency (8) requests whose outcome is
    not recorded, the most a kill -9 could make it receive twice."""
    project = cancels(300)
    write_batch = Sending.write_batch

    def slow_write(self, *args, **kwargs):
        time.sleep(0.03)
        return write_batch(self, *args, **kwargs)

    monkeypatch.setattr(Sending, "write_batch", slow_write)
    gaps: list[int] = []
    done = threading.Event()

    def watch() -> None:
        path = project.home / "state" / "state.db"
        while not path.exists() and not done.wait(0.005):
            pass
        db = sqlite3.connect(path)
        delivered = "SELECT count(*) FROM hgsync_deliveries WHERE status = 'delivered'"
        try:
            while not done.is_set():
                try:
                    before = db.execute(delivered).fetchone()[0]
                    received = sandbox.stats()["requests_recorded"]
                    if db.execute(delivered).fetchone()[0] == before:  # nothing recorded meanwhile
                        gaps.append(received - before)
                except sqlite3.OperationalError:  # the store's tables are being created
                    pass
                time.sleep(0.005)
        finally:
            db.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = project.cli("run", "cancels")
    finally:
        done.set()
        watcher.join()
    assert result.exit_code == 0, result.output
    assert "delivered 300" in result.output
    assert len(gaps) > 20 and max(gaps) > 0
    # the 8 waiting outcomes are committed by the worker of the 8th: 7 on the wire at most
    assert max(gaps) < 2 * 8, f"{max(gaps)} requests answered and not recorded"
