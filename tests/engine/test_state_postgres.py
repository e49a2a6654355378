"""The state store on the real PostgreSQL server: the whole StateStore API, and a run with
``state: postgresql+psycopg://...`` in config. Each test has its own schema."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import LockedError, StateError
from engine.store import StateStore
from engine.store.deliveries import LOOKUP_CHUNK
from engine.store.schema import locks
from tests.servers import Space, postgres_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg() -> Iterator[Space]:
    with postgres_schema() as space:
        yield space


@pytest.fixture
def store(pg: Space) -> Iterator[StateStore]:
    state = StateStore(pg.url)
    try:
        yield state
    finally:
        state.close()


def _outcome(store: StateStore, key: str, kind: str, fingerprint: str = "fp1", **extra) -> None:
    values = {
        "kind": kind,
        "fingerprint": fingerprint,
        "request": '{"body": {"reason": "x"}}',
        "http_status": {"delivered": 200, "rejected": 400, "failed": 503}[kind],
        "message": None if kind == "delivered" else f"{kind}: because",
        "attempts": 1,
        "origin": f"cancels(id={key})",
        "run_id": "run-1",
        **extra,
    }
    store.record_outcome("p", key, **values)


def test_tables_are_made_in_the_store_schema_and_reopening_is_harmless(pg, store):
    tables = pg.scalar(
        f"SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '{pg.name}'"
    )
    assert tables.split(",") == [
        "hgsync_cursors",
        "hgsync_deliveries",
        "hgsync_files",
        "hgsync_inbox",
        "hgsync_locks",
        "hgsync_meta",
        "hgsync_results",
        "hgsync_row_errors",
        "hgsync_runs",
    ]
    store.save_cursor("p", "id", "7", "run-1")
    again = StateStore(pg.url)
    try:
        assert again.get_cursor("p") == ("id", "7")
    finally:
        again.close()


def test_a_store_from_a_newer_hgsync_is_refused(pg, store):
    pg.run("UPDATE hgsync_meta SET value = '999' WHERE name = 'schema_version'")
    with pytest.raises(StateError, match="newer hgsync"):
        StateStore(pg.url)


def test_an_unreachable_server_is_a_state_error_without_the_password():
    with pytest.raises(StateError) as caught:
        StateStore("postgresql+psycopg://hg:s3cret-pw@127.0.0.1:1/test?connect_timeout=2")
    assert "s3cret-pw" not in str(caught.value)


def test_outcomes_by_key(store):
    store.mark_sending("p", "a", "fp1", "cancels(id=a)", "run-1")
    assert store.lookup("p", ["a"])["a"].status == "sending"
    _outcome(store, "a", "delivered")
    _outcome(store, "b", "failed")
    _outcome(store, "b", "failed", attempts=5)  # the same request again: attempts add up
    _outcome(store, "c", "rejected")
    _outcome(store, "c", "rejected", fingerprint="fp2")  # a different request: counted afresh

    found = store.lookup("p", ["a", "b", "c", "never", "a"], with_request=True)
    assert set(found) == {"a", "b", "c"}
    a, b, c = found["a"], found["b"], found["c"]
    assert (a.status, a.fingerprint, a.attempts, a.last_error) == ("delivered", "fp1", 1, None)
    assert a.request == '{"body": {"reason": "x"}}'
    assert (b.status, b.fingerprint, b.attempted_fingerprint, b.attempts) == ("failed", None, "fp1", 6)
    assert (c.status, c.attempted_fingerprint, c.attempts, c.last_error) == (
        "rejected",
        "fp2",
        1,
        "rejected: because",
    )
    assert store.lookup("other", ["a"]) == {}

    _outcome(store, "b", "delivered")
    assert store.lookup("p", ["b"])["b"].attempts == 1
    assert store.count_by_status("p") == {"delivered": 2, "rejected": 1}
    failing = store.failing("p")
    assert [(r["key"], r["status"], r["last_status"]) for r in failing] == [("c", "rejected", 400)]
    assert failing[0]["updated_at"].tzinfo is not None


def test_lookup_of_more_keys_than_one_query_takes(store):
    keys = [f"k{i}" for i in range(LOOKUP_CHUNK * 2 + 7)]
    for key in keys[:: LOOKUP_CHUNK // 2]:
        _outcome(store, key, "delivered")
    assert set(store.lookup("p", keys)) == set(keys[:: LOOKUP_CHUNK // 2])


def test_runs_history_and_row_errors(store):
    store.start_run("20261101T100000-aaaaaa", "p", "cli")
    store.finish_run("20261101T100000-aaaaaa", "ok", {"read": 3, "delivered": 3}, None)
    store.start_run("20261101T100500-bbbbbb", "p", "daemon")
    store.record_row_errors(
        "20261101T100500-bbbbbb",
        "p",
        [("k1", "cancels(id=1)", "sku is empty"), (None, "drop/a.csv:3", "3 fields, expected 4")],
    )
    store.finish_run("20261101T100500-bbbbbb", "failed", {"error": 2}, "2 row error(s)")
    store.start_run("20261101T101000-cccccc", "q", "cli")

    history = store.history("p")
    assert [(r.run_id, r.trigger, r.status) for r in history] == [
        ("20261101T100500-bbbbbb", "daemon", "failed"),
        ("20261101T100000-aaaaaa", "cli", "ok"),
    ]
    newest, oldest = history
    assert oldest.counts == {"delivered": 3, "read": 3} and newest.message == "2 row error(s)"
    assert newest.started_at.utcoffset() == timedelta(0) and newest.finished_at >= newest.started_at
    assert abs(datetime.now(UTC) - newest.started_at) < timedelta(minutes=1)
    assert len(store.history(limit=2)) == 2 and len(store.history()) == 3

    assert store.run_errors("20261101T100500-bbbbbb") == [
        {"key": "k1", "origin": "cancels(id=1)", "reason": "sku is empty"},
        {"key": None, "origin": "drop/a.csv:3", "reason": "3 fields, expected 4"},
    ]
    assert len(store.run_errors("20261101T100500-bbbbbb", limit=1)) == 1
    assert store.find_run("20261101T1005").run_id == "20261101T100500-bbbbbb"
    assert store.find_run("20261101") is None  # ambiguous
    assert store.find_run("2026%") is None  # LIKE characters are not wildcards

    assert store.close_abandoned_runs("q") == 1
    assert store.history("q")[0].status == "interrupted"


def test_locks(store, pg):
    store.acquire("pipeline:p", owner="hgsync cli run r1")
    with pytest.raises(LockedError, match=r"pipeline:p is held by hgsync cli run r1 \(pid \d+ on "):
        store.acquire("pipeline:p", owner="another")
    store.heartbeat("pipeline:p")
    store.release("pipeline:p")
    with store.locked("pipeline:p", owner="again"):
        pass

    def held_by(host: str, pid: int, beat: datetime) -> None:
        with store.engine.begin() as conn:
            conn.execute(locks.delete())
            conn.execute(
                locks.insert().values(
                    name="pipeline:p", owner="them", host=host, pid=pid, acquired_at=beat, heartbeat_at=beat
                )
            )

    now = datetime.now(UTC)
    held_by("elsewhere", 4242, now)  # alive, as far as anyone here can tell
    with pytest.raises(LockedError, match="held by them"):
        store.acquire("pipeline:p", owner="me")
    held_by("elsewhere", 4242, now - timedelta(minutes=10))  # no heartbeat for ten minutes
    store.acquire("pipeline:p", owner="me")
    held_by(socket.gethostname(), _dead_pid(), now)  # a dead process on this host
    store.acquire("pipeline:p", owner="me")
    owner = pg.scalar("SELECT owner || ' ' || pid FROM hgsync_locks WHERE name = 'pipeline:p'")
    assert owner == f"me {os.getpid()}"


def _dead_pid() -> int:
    pid = 999_999
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_cursors_and_files(store):
    assert store.get_cursor("p") is None
    store.save_cursor("p", "updated_at", '{"datetime": "2026-11-01T10:00:00+00:00"}', "run-1")
    store.save_cursor("p", "updated_at", '{"datetime": "2026-11-01T11:00:00+00:00"}', "run-2")
    assert store.get_cursor("p") == ("updated_at", '{"datetime": "2026-11-01T11:00:00+00:00"}')

    assert store.file_record("p", "a.csv", "ab" * 32) is None
    store.record_file("p", "a.csv", "ab" * 32, "rejected", 10, "2 row(s) cannot be delivered")
    store.record_file("p", "a.csv", "ab" * 32, "archived", 10, "moved to archive/a.csv")
    store.record_file("p", "a.csv", "cd" * 32, "archived", 3)
    record = store.file_record("p", "a.csv", "ab" * 32)
    assert record is not None
    assert (record["status"], record["rows"], record["detail"]) == ("archived", 10, "moved to archive/a.csv")
    assert record["processed_at"].tzinfo is not None


def test_long_keys_and_origins_fit(store):
    key = "k" * 500
    _outcome(store, key, "delivered", origin="o" * 5000)
    assert store.lookup("p", [key])[key].status == "delivered"


def test_a_key_longer_than_500_characters(store):
    key = "k" * 501
    store.mark_sending("p", key, "fp1", "cancels(id=1)", "run-1")
    assert store.lookup("p", [key])[key].status == "sending"


def test_a_run_with_the_state_on_postgres(pg, cancels, sandbox):
    project = cancels(30, mode="upsert")
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(config.read_text().replace("sqlite:///state/state.db", pg.url))

    first = project.cli("run", "cancels")
    assert first.exit_code == 0, first.output
    assert "delivered 30" in first.stdout
    project.sql("UPDATE cancels SET reason = 'late_shipment' WHERE id <= 2")
    second = project.cli("run", "cancels")
    assert "changed 2" in second.stdout and "delivered 2" in second.stdout
    assert len(sandbox.records("cancel_order_item")) == 32

    history = project.cli("history", "cancels").output.splitlines()
    assert len(history) == 3 and all(" ok " in line for line in history[1:])
    assert not (project.home / "state" / "state.db").exists()
    assert pg.scalar("SELECT COUNT(*) FROM hgsync_deliveries WHERE status = 'delivered'") == 30
    assert pg.scalar("SELECT COUNT(*) FROM hgsync_locks") == 0


def test_refund_results_and_pending_answers_on_postgresql(store: StateStore) -> None:
    """The same as on SQLite (tests/inbound/test_results.py): a result recorded before its
    request's answer still matches it; an answer marked pending is listed until applied."""
    from engine.store import Settled

    assert (
        store.record_result(
            "r-1", operation="refund_create_result", status="ACCEPTED", reason=None, event_id="e1"
        )
        is False
    )
    answer = Settled(
        "k-1", "delivered", "f" * 64, "{}", 202, None, 1, "row 1", None, '{"request_id": "r-1"}', "r-1", True
    )
    store.write_batch("refunds", "run-1", outcomes=[answer])
    assert [(r["key"], r["result"]) for r in store.results("refunds")] == [("k-1", "ACCEPTED")]
    assert store.record_result(
        "r-1", operation="refund_create_result", status="REJECTED", reason="x", event_id="e2"
    )
    assert store.result_counts("refunds") == {"REJECTED": 1}
    assert [r["key"] for r in store.pending_responses("refunds")] == ["k-1"]
    store.responses_applied("refunds", [("k-1", "f" * 64)])
    assert store.pending_responses("refunds") == []
