#!/usr/bin/env python3
"""How long a whole `hgsync run` takes over N rows, and how much memory it needs.

    .venv/bin/python scripts/bench_run.py                 # 10,000 rows
    .venv/bin/python scripts/bench_run.py --rows 100000 --concurrency 16

Builds a throwaway project (a SQLite marketplace with ``--rows`` cancellations, one
``cancel_order_item`` pipeline, a SQLite state store), serves the built-in HG sandbox in
this process with no rate limit, and runs ``hgsync run`` twice as a subprocess, as an
operator would. The first run sends every row; the second finds them all unchanged. From
the run's JSON log lines it prints the plan time (read, render, diff), the send time,
requests per second, and the run's peak resident memory (``ru_maxrss`` of the subprocess,
without the sandbox's). ``--state postgres`` keeps the state store in a throwaway schema of
the PostgreSQL server the tests use, instead of a SQLite file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = """\
connections:
  marketplace: sqlite:///marketplace.db
targets:
  hepsiglobal:
    base_url: {url}
    client_id: bench
    client_secret: bench-secret
    rate_limit: null
    concurrency: {concurrency}
    max_attempts: 3
state: {state}
logging:
  level: info
  format: json
"""
PIPELINE = """\
description: cancellations, for the benchmark
source:
  sql:
    connection: marketplace
    table: cancels
key: "{{ row.order_number }}_{{ row.sku }}"
operation: cancel_order_item
mode: insert
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body:
    reason: "{{ row.reason }}"
"""
REASONS = ("customer_demand", "out_of_stock", "late_shipment")
POSTGRES_URL = os.environ.get(
    "HGSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def state_url(kind: str) -> Iterator[str]:
    """The state store's URL: a SQLite file in the project, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        yield "sqlite:///state/state.db"
        return
    import sqlalchemy as sa

    schema = f"hgsync_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


def make_project(home: Path, rows: int, url: str, concurrency: int, state: str) -> None:
    (home / "config").mkdir(parents=True)
    (home / "pipelines").mkdir()
    (home / "config" / "hgsync.yaml").write_text(CONFIG.format(url=url, concurrency=concurrency, state=state))
    (home / "pipelines" / "cancels.yaml").write_text(PIPELINE)
    db = sqlite3.connect(home / "marketplace.db")
    try:
        db.execute("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT)")
        db.executemany(
            "INSERT INTO cancels VALUES (?, ?, ?, ?)",
            ((i, f"{7000000 + i // 3}", f"HBV{i:08d}", REASONS[i % 3]) for i in range(1, rows + 1)),
        )
        db.commit()
    finally:
        db.close()


def run_hgsync(home: Path) -> dict[str, Any]:
    """`hgsync run cancels` in a subprocess: its events, wall time and peak RSS."""
    out, err = home / "run.out", home / "run.err"
    command = [sys.executable, "-c", "from engine.cli.commands import main; main()", "--home", str(home)]
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        pid = os.posix_spawn(
            sys.executable, [*command, "run", "cancels"], os.environ, file_actions=_redirect(stdout, stderr)
        )
        _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    events: dict[str, dict[str, Any]] = {}
    for line in err.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "event" in event:
            events[event["event"]] = event
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or "run_finished" not in events:
        sys.exit(f"hgsync run failed (exit {code}):\n{out.read_text()}\n{err.read_text()[-3000:]}")
    return {
        "events": events,
        "wall": wall,
        "rss_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "summary": out.read_text().strip(),
    }


def _redirect(stdout: Any, stderr: Any) -> list[tuple[Any, ...]]:
    return [(os.POSIX_SPAWN_DUP2, stdout.fileno(), 1), (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2)]


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))


def phases(run: dict[str, Any]) -> tuple[float, float]:
    """Seconds from the run's start to its plan, and from its plan to its end."""
    events = run["events"]
    started, planned, finished = (
        _at(events[name]) for name in ("run_started", "run_planned", "run_finished")
    )
    return (planned - started).total_seconds(), (finished - planned).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8, help="the target's concurrency")
    parser.add_argument("--state", choices=["sqlite", "postgres"], default="sqlite", help="the state store")
    args = parser.parse_args()

    from connectors.hepsiglobal.sandbox import Sandbox
    from engine import logging as hglog

    hglog.configure(json=True, level="warning")
    with (
        tempfile.TemporaryDirectory(prefix="hgsync-bench-") as folder,
        state_url(args.state) as state,
        Sandbox(port=0, client_id="bench", client_secret="bench-secret") as sandbox,
    ):
        home = Path(folder)
        make_project(home, args.rows, sandbox.url, args.concurrency, state)
        print(
            f"bench_run: {args.rows:,} rows, concurrency {args.concurrency}, no rate limit,"
            f" in-process sandbox, state on {args.state}"
        )

        first = run_hgsync(home)
        plan_s, send_s = phases(first)
        delivered = first["events"]["run_finished"].get("delivered", 0)
        received = len(sandbox.records("cancel_order_item"))
        print(f"  first run:  {first['wall']:.1f}s in all (process start included)")
        print(f"    plan {plan_s:.2f}s ({args.rows / plan_s:,.0f} rows/s)")
        print(f"    send {send_s:.2f}s: {delivered:,} delivered, {delivered / send_s:,.0f} requests/s")
        print(f"    peak RSS {first['rss_mb']:.0f} MB")

        second = run_hgsync(home)
        plan2_s, send2_s = phases(second)
        unchanged = second["events"]["run_finished"].get("unchanged", 0)
        print(f"  second run: {second['wall']:.1f}s in all, plan {plan2_s:.2f}s, {unchanged:,} unchanged, "
              f"sent {second['events']['run_finished'].get('sent', 0)}")  # fmt: skip
        print(f"    peak RSS {second['rss_mb']:.0f} MB")
        if received != args.rows or delivered != args.rows or unchanged != args.rows:
            print(f"FAIL: the sandbox received {received:,} requests, expected {args.rows:,}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
