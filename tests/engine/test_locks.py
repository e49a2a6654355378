"""Locks and their fence: a process whose lock was taken over writes nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.errors import LockedError, LockLost
from engine.store import StateStore
from engine.store.locks import node


@pytest.fixture
def store(tmp_path: Path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield state
    state.close()


def _steal(store: StateStore, name: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE hgsync_locks SET host = 'elsewhere', pid = 1 WHERE name = :n"), {"n": name}
        )


def test_a_write_fenced_by_a_lost_lock_is_refused_and_writes_nothing(store: StateStore) -> None:
    store.acquire("pipeline:p", "test")
    store.mark_sending("p", "k1", "fp", "t(id=1)", "run-1", "ik", fence="pipeline:p")
    assert store.heartbeat("pipeline:p") is True
    _steal(store, "pipeline:p")
    with pytest.raises(LockLost, match="pipeline:p was taken over"):
        store.mark_sending("p", "k2", "fp", "t(id=2)", "run-1", "ik", fence="pipeline:p")
    assert set(store.lookup("p", ["k1", "k2"])) == {"k1"}
    assert store.heartbeat("pipeline:p") is False


def test_a_lock_of_a_dead_process_is_taken_over_and_its_other_locks_freed(store: StateStore) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    with store.engine.begin() as conn:
        for name in ("daemon", "pipeline:a", "pipeline:b"):
            conn.execute(
                sa.text(
                    "INSERT INTO hgsync_locks (name, owner, host, pid, acquired_at, heartbeat_at)"
                    " VALUES (:n, 'old', :h, :p, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"n": name, "h": node(), "p": pid},
            )
    assert store.acquire("daemon", "new") == (node(), pid)
    assert store.release_held_by(node(), pid) == 2
    assert store.holder("daemon")["pid"] == os.getpid()  # type: ignore[index]
    _steal(store, "daemon")  # now held, with a fresh heartbeat, by a process on another node
    with pytest.raises(LockedError, match=r"daemon is held by new \(pid 1 on elsewhere"):
        store.acquire("daemon", "another", stale_after=60)


def test_a_batch_fenced_by_a_lost_lock_commits_its_outcomes_but_not_its_marks(store: StateStore) -> None:
    from engine.store import Mark, Settled

    store.acquire("pipeline:p", "test")
    store.write_batch("p", "run-1", [Mark("k1", "fp1", "t(id=1)", "ik1")], fence="pipeline:p")
    _steal(store, "pipeline:p")
    delivered = Settled("k1", "delivered", "fp1", "{}", 200, None, 1, "t(id=1)", "digest-1")
    with pytest.raises(LockLost):
        store.write_batch(
            "p", "run-1", [Mark("k2", "fp2", "t(id=2)", "ik2")], [delivered], fence="pipeline:p"
        )
    found = store.lookup("p", ["k1", "k2"])
    assert set(found) == {"k1"} and found["k1"].status == "delivered"  # what was sent is recorded
    assert store.lookup_digests("p", ["digest-1"]) == {"digest-1": ("k1", "fp1")}
