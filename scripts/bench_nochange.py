#!/usr/bin/env python3
"""The no-change pass: how fast `hgsync run` goes over rows that were all delivered before.

    .venv/bin/python scripts/bench_nochange.py                  # 100,000 rows
    .venv/bin/python scripts/bench_nochange.py --rows 1000000   # a few minutes, most of it seeding

Builds a throwaway project (a SQLite marketplace of ``--rows`` cancellations, one
``cancel_order_item`` pipeline in ``upsert`` mode, a SQLite state store) and seeds the state
store as if every row had been delivered: the rows are planned with hgsync's own code and
recorded delivered, without their source digests (as a store written before digests were
kept). Seeding is not timed. Then ``hgsync run`` runs as a subprocess, as an operator
would, against the built-in sandbox (in a process of its own):

1. no change, digests not saved yet: every row is rendered; the run saves the digests;
2. no change: rows are skipped by digest, without rendering;
3. 1% of the rows changed (their reason): exactly that many requests must be sent.

``--profile`` then plans the no-change pass once more in this process under cProfile and
prints the top functions by cumulative time (the profile summary of `make bench`).

For each it prints the plan phase (read and diff) in rows per second, the whole run's wall
time (process start included) and its peak resident memory (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_run import REASONS, make_project, phases, run_hgsync  # noqa: E402
from bench_sandbox import sandbox_process  # noqa: E402

PIPELINE = "cancels"


def seed(home: Path) -> float:
    """Record every row of the project delivered, as hgsync would have, without digests."""
    from engine.definitions.loader import load_project
    from engine.definitions.settings import resolve_url
    from engine.outbound.plan import build_plan
    from engine.outbound.spool import Spool
    from engine.store import Settled, StateStore

    started = time.perf_counter()
    here = Path.cwd()
    os.chdir(home)
    try:
        project = load_project(home)
        project.raise_for_errors()
        assert project.settings is not None
        pipeline = project.pipeline(PIPELINE)
        state = StateStore(resolve_url(project.settings.state, home))
        source = pipeline.make_source(project.settings, home, state)
        try:
            with Spool() as spool:
                build_plan(pipeline, source, state, spool)
                batch: list[Settled] = []
                for row in spool.to_send(page=5000):
                    assert row.key is not None and row.fingerprint is not None
                    batch.append(
                        Settled(
                            row.key,
                            "delivered",
                            row.fingerprint,
                            row.request_json or "",
                            200,
                            None,
                            1,
                            row.origin,
                        )
                    )
                    if len(batch) >= 5000:
                        state.write_batch(PIPELINE, "seed", outcomes=batch)
                        batch = []
                state.write_batch(PIPELINE, "seed", outcomes=batch)
        finally:
            source.close()
            state.close()
    finally:
        os.chdir(here)
    return time.perf_counter() - started


def profile(home: Path, top: int = 25) -> None:
    """Plan the no-change pass in this process under cProfile; print the top functions."""
    import cProfile
    import io
    import pstats

    from engine.definitions.loader import load_project
    from engine.definitions.settings import resolve_url
    from engine.outbound.plan import build_plan
    from engine.outbound.spool import Spool
    from engine.store import StateStore

    here = Path.cwd()
    os.chdir(home)
    try:
        project = load_project(home)
        assert project.settings is not None
        pipeline = project.pipeline(PIPELINE)
        state = StateStore(resolve_url(project.settings.state, home))
        source = pipeline.make_source(project.settings, home, state)
        profiler = cProfile.Profile()
        try:
            with Spool() as spool:
                started = time.perf_counter()
                profiler.enable()
                plan = build_plan(pipeline, source, state, spool)
                profiler.disable()
                seconds = time.perf_counter() - started
        finally:
            source.close()
            state.close()
    finally:
        os.chdir(here)
    print(
        f"  profile of the no-change plan, in process under cProfile: {plan.read:,} rows in {seconds:.2f}s,"
        f" unchanged {plan.counts.get('unchanged', 0):,}; top {top} by cumulative time:"
    )
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    table = out.getvalue()
    lines = table[table.index("ncalls") :].rstrip().splitlines()
    print(
        "\n".join(
            "    " + line.replace(str(ROOT) + "/", "").replace(str(Path(sys.prefix)) + "/", "")
            for line in lines
        )
    )


def change(home: Path, every: int) -> int:
    """Give every ``every``-th row another reason; returns how many changed."""
    db = sqlite3.connect(home / "marketplace.db")
    try:
        changed = db.execute(
            f"UPDATE cancels SET reason = CASE reason WHEN '{REASONS[0]}' THEN '{REASONS[1]}' ELSE '{REASONS[0]}' END"
            " WHERE id % ? = 0",
            (every,),
        ).rowcount
        db.commit()
    finally:
        db.close()
    return changed


def report(title: str, run: dict, rows: int) -> dict:
    plan_s, send_s = phases(run)
    finished = run["events"]["run_finished"]
    print(
        f"  {title}: plan {plan_s:.2f}s ({rows / plan_s:,.0f} rows/s), send {send_s:.2f}s,"
        f" {run['wall']:.1f}s in all, peak RSS {run['rss_mb']:.0f} MB;"
        f" unchanged {finished.get('unchanged', 0):,}, sent {finished.get('sent', 0):,}"
    )
    return finished


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="then print a profile of the no-change plan")
    parser.add_argument("--changed", type=float, default=1.0, help="percent of rows changed in the last run")
    args = parser.parse_args()

    from engine import logging as hglog

    hglog.configure(json=True, level="warning")
    failed = []
    with (
        tempfile.TemporaryDirectory(prefix="hgsync-bench-") as folder,
        sandbox_process("bench", "bench-secret") as sandbox,
    ):
        home = Path(folder)
        make_project(home, args.rows, sandbox.url, 16, "sqlite:///state/state.db")
        spec = home / "pipelines" / f"{PIPELINE}.yaml"
        spec.write_text(spec.read_text().replace("mode: insert", "mode: upsert"))
        print(f"bench_nochange: {args.rows:,} rows, upsert, SQLite marketplace and state")
        print(f"  seeded: every row delivered, no digests ({seed(home):.1f}s, not counted)")

        first = report("no change, digests not saved yet", run_hgsync(home), args.rows)
        second = report("no change                       ", run_hgsync(home), args.rows)
        changed = change(home, max(1, round(100 / args.changed)))
        third = report(f"{changed:,} changed ({args.changed:g}%)        ", run_hgsync(home), args.rows)
        if args.profile:
            profile(home)
        if first.get("unchanged") != args.rows or second.get("unchanged") != args.rows:
            failed.append("a no-change run found changes")
        if third.get("sent") != changed or third.get("delivered") != changed:
            failed.append(f"{third.get('sent')} sent after {changed} changed")
        if sandbox.count() != changed:
            failed.append(f"the sandbox received {sandbox.count()} requests, expected {changed}")
    for reason in failed:
        print(f"FAIL: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
