"""kill -9 of `hgsync run` at random points: nothing is lost, and the only duplicates are the
requests that were on the wire when the process died and the answers it had not committed yet
(outcomes are committed in groups of at most the concurrency): at most twice the
concurrency, per kill.

Each scenario runs a real `hgsync run` process against the test sandbox, kills it a few
times part-way (after a random number of requests reached the sandbox), then lets a run
finish, and counts what the sandbox received. The killed runs' history must show what they
delivered (counts rebuilt from their recorded outcomes), not zeros.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from connectors.hepsiglobal.sandbox import Faults, Sandbox
from engine.store import StateStore
from tests.conftest import CANCEL_PIPELINE, CONFIG, ProjectDir
from tests.servers import postgres_schema

pytestmark = pytest.mark.slow
HGSYNC = str(Path(sys.executable).parent / "hgsync")
ROWS = 600
CONCURRENCY = 4
KILLS = 3

CSV_PIPELINE = """\
source:
  csv:
    folder: drop
    settle_seconds: 0
    columns: {order_number: text, sku: text, reason: text}
key: "{{ row.order_number }}_{{ row.sku }}"
operation: cancel_order_item
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body: {reason: "{{ row.reason }}"}
"""

CURSOR_PIPELINE = CANCEL_PIPELINE.replace(
    "    table: cancels\n", "    table: cancels\n    cursor: {column: id, lookback: 0}\n"
)


def _config(sandbox: Sandbox, state: str | None = None) -> str:
    text = CONFIG.format(url=sandbox.url).replace("concurrency: 8", f"concurrency: {CONCURRENCY}")
    return text if state is None else text.replace("sqlite:///state/state.db", state)


def _rows(project: ProjectDir) -> None:
    project.sql("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT)")
    project.sql(
        "INSERT INTO cancels VALUES (?, ?, ?, ?)",
        [(i, f"{100000 + i // 3}", f"HBV{i:08d}", "customer_demand") for i in range(1, ROWS + 1)],
    )


def _csv_rows(project: ProjectDir) -> None:
    drop = project.home / "drop"
    drop.mkdir()
    for part in range(3):
        lines = ["order_number,sku,reason"]
        lines += [
            f"{100000 + i // 3},HBV{i:08d},customer_demand" for i in range(part * 200 + 1, part * 200 + 201)
        ]
        (drop / f"part-{part}.csv").write_text("\n".join(lines) + "\n")


def _run_killed(project: ProjectDir, sandbox: Sandbox, rng: random.Random) -> tuple[int, bool]:
    """Start `hgsync run cancels`; kill -9 it after a random number of new requests.
    Returns (requests seen before the kill, whether it was killed)."""
    before = len(sandbox.records())
    target = before + rng.randint(20, 150)
    env = {**os.environ, "HGSYNC_HOME": str(project.home)}
    process = subprocess.Popen(
        [HGSYNC, "--log-format", "json", "run", "cancels"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and len(sandbox.records()) < target and time.monotonic() < deadline:
        time.sleep(0.002)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return len(sandbox.records()) - before, killed


def _scenario(project: ProjectDir, sandbox: Sandbox, state_url: str, seed: int) -> None:
    sandbox.set_faults(Faults(delay=0.004, rate_delay=1))
    rng = random.Random(seed)
    kills = 0
    for _ in range(KILLS):
        _, killed = _run_killed(project, sandbox, rng)
        kills += killed
    sandbox.set_faults(Faults())
    final = project.cli("run", "cancels")
    assert final.exit_code == 0, final.output
    sent = Counter(r["path"] for r in sandbox.records("cancel_order_item"))
    assert len(sent) == ROWS  # nothing lost
    duplicates = sum(sent.values()) - ROWS
    assert duplicates <= kills * 2 * CONCURRENCY, f"{duplicates} duplicates after {kills} kills"
    assert kills >= 1
    state = StateStore(state_url)
    try:
        runs = state.history("cancels", 20)
        interrupted = [r for r in runs if r.status == "interrupted"]
        assert len(interrupted) == kills
        assert sum(r.counts.get("delivered", 0) for r in runs) == ROWS  # true counts, also for killed runs
        assert all("counts rebuilt" in (r.message or "") for r in interrupted)
    finally:
        state.close()


def test_kill_9_of_a_table_run(project: ProjectDir, sandbox: Sandbox) -> None:
    project.write_config(_config(sandbox))
    _rows(project)
    project.pipeline("cancels", CANCEL_PIPELINE % "insert")
    _scenario(project, sandbox, f"sqlite:///{project.home / 'state' / 'state.db'}", seed=1)


def test_kill_9_of_a_csv_drop_run(project: ProjectDir, sandbox: Sandbox) -> None:
    project.write_config(_config(sandbox))
    _csv_rows(project)
    project.pipeline("cancels", CSV_PIPELINE)
    _scenario(project, sandbox, f"sqlite:///{project.home / 'state' / 'state.db'}", seed=2)
    drop = project.home / "drop"
    assert sorted(p.name for p in (drop / "archive").iterdir()) == ["part-0.csv", "part-1.csv", "part-2.csv"]


def test_kill_9_of_an_incremental_run(project: ProjectDir, sandbox: Sandbox) -> None:
    project.write_config(_config(sandbox))
    _rows(project)
    project.pipeline("cancels", CURSOR_PIPELINE % "insert")
    _scenario(project, sandbox, f"sqlite:///{project.home / 'state' / 'state.db'}", seed=3)


@pytest.mark.postgres
def test_kill_9_with_the_state_on_postgres(project: ProjectDir, sandbox: Sandbox) -> None:
    with postgres_schema() as space:
        project.write_config(_config(sandbox, space.url))
        _rows(project)
        project.pipeline("cancels", CANCEL_PIPELINE % "insert")
        _scenario(project, sandbox, space.url, seed=4)
