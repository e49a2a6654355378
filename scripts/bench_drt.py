#!/usr/bin/env python3
"""Sending, next to drt (drt-core 1.2.1, 16 threads): requests per second at 20 ms of latency.

    .venv/bin/python scripts/bench_drt.py                        # sandbox and fast stand-in, 2 rounds
    .venv/bin/python scripts/bench_drt.py --server fast --repeat 3 --rows 5000

Issue 13's peer "drt 1.2.1" is the reverse-ETL tool published as ``drt-core`` (the PyPI
package named ``drt`` 1.2.1 is an unrelated DVD ripper). It is installed into a venv of its
own (``--drt-venv``, default /tmp/drtvenv) when missing, never into the project.

The job: ``--rows`` new cancellations, one ``PUT`` each, at 20 ms of latency. hgsync runs
``hgsync run`` at concurrency 16 over a fresh project (``bench_run.make_project``). drt runs
``drt run --threads 16`` over 16 syncs, each a ``rest_api`` destination (``body_mode:
record``, a static bearer token fetched first, its rate limit lifted) over one sixteenth of
the same rows in SQLite: drt's ``--threads`` runs syncs side by side, one request at a time
within a sync, so 16 syncs are 16 requests in flight. drt's ``rest_api`` URL is fixed (not a
template), so every drt request goes to one item's path, with the row's reason as the body.

Stand-ins: ``sandbox`` is ``hgsync sandbox`` in its own process (delay fault on every
answer); ``fast`` is a small Starlette app under uvicorn in its own process that answers
200 after ``asyncio.sleep(latency)``, so the senders rather than the server are measured.
Runs are interleaved (hgsync, drt, bare, floor, hgsync, ...), where bare is bench_send's
bare ``httpx.AsyncClient`` sender at the same concurrency (per-item paths, like hgsync) and
floor its raw aiohttp sender: no httpx, no state, the least CPU per request a Python sender
spends, so its rate is about the most any sender reaches against this server. For
each run: requests per second over the server-side window (first to last request the
stand-in recorded, its /_sandbox/stats polled every 50 ms), the sender's whole-process wall
time and CPU, and the 1-minute load average before it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_run import REASONS, make_project, phases, run_hgsync  # noqa: E402
from bench_sandbox import sandbox_process  # noqa: E402
from bench_send import run_bare  # noqa: E402

CLIENT = ("bench", "bench-secret")
DRT_PACKAGE = "drt-core==1.2.1"
ITEM_PATH = "/v1/orders/7000000/order_items/7000000_HBV00000001"

FAST_APP = """
import asyncio, sys
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
import uvicorn

DELAY = float(sys.argv[1])
COUNT = [0]

async def token(request):
    return JSONResponse({"access_token": "fast-token", "token_type": "Bearer", "expires_in": 3600})

async def cancel(request):
    await request.body()
    await asyncio.sleep(DELAY)
    COUNT[0] += 1
    return JSONResponse({"data": {}, "message": "ok"})

async def count(request):
    return JSONResponse({"requests_recorded": COUNT[0]})

app = Starlette(routes=[
    Route("/v1/auth/token", token, methods=["POST"]),
    Route("/v1/orders/{order}/order_items/{item}", cancel, methods=["PUT"]),
    Route("/_sandbox/stats", count, methods=["GET"]),
])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


def ensure_drt(venv: Path) -> Path:
    """The ``drt`` command of ``venv``, installing drt-core there first when missing."""
    drt = venv / "bin" / "drt"
    if drt.exists():
        return drt
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", DRT_PACKAGE], check=True)
    return drt


def load() -> float:
    return os.getloadavg()[0]


def count_of(url: str) -> int:
    """Requests the stand-in recorded (its cheap stats: /_sandbox/requests lists every one)."""
    with urllib.request.urlopen(f"{url}/_sandbox/stats", timeout=30) as answer:
        return int(json.loads(answer.read())["requests_recorded"])


class Window:
    """Polls the stand-in's request count: the time from the first to the last new request."""

    def __init__(self, url: str):
        self.url, self.base = url, count_of(url)
        self.first: float | None = None
        self.last, self.seen = 0.0, self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            seen, at = count_of(self.url), time.perf_counter()
            if seen > self.seen:
                self.first = self.first or at
                self.last, self.seen = at, seen

    def __enter__(self) -> Window:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        time.sleep(0.1)
        self._stop.set()
        self._thread.join()

    def rate(self) -> float:
        if self.first is None or self.last <= self.first:
            return 0.0
        return (self.seen - self.base) / (self.last - self.first)


def run_ours(url: str, rows: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hgsync-bench-") as folder:
        home = Path(folder)
        make_project(home, rows, url, concurrency, "sqlite:///state/state.db")
        with Window(url) as window:
            run = run_hgsync(home)
        _, send_s = phases(run)
        delivered = run["events"]["run_finished"].get("delivered", 0)
    return {
        "rate": window.rate(),
        "own": rows / send_s,
        "wall": run["wall"],
        "cpu": run["cpu"],
        "ok": delivered,
    }


def run_bare_sender(url: str, rows: int, concurrency: int, wire: str = "httpx") -> dict[str, Any]:
    with Window(url) as window:
        started = time.perf_counter()
        run = run_bare(url, rows, concurrency, wire)
        wall = time.perf_counter() - started
    return {
        "rate": window.rate(),
        "own": rows / run["seconds"],
        "wall": wall,
        "cpu": run["cpu"],
        "ok": run["ok"],
    }


def token_of(url: str) -> str:
    body = json.dumps(
        {"grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]}
    )
    request = urllib.request.Request(
        f"{url}/v1/auth/token",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["access_token"])


def make_drt_project(home: Path, rows: int, url: str, threads: int) -> None:
    (home / ".drt").mkdir()
    (home / "project" / "syncs").mkdir(parents=True)
    db = home / "marketplace.db"
    (home / ".drt" / "profiles.yml").write_text(f"default:\n  type: sqlite\n  database: {db}\n")
    (home / "project" / "drt_project.yml").write_text("name: bench\nversion: '0.1'\nprofile: default\n")
    for k in range(threads):
        (home / "project" / "syncs" / f"cancels_{k:02d}.yml").write_text(
            f"""name: cancels_{k:02d}
model: "SELECT id, order_number, sku, reason FROM cancels WHERE id % {threads} = {k}"
destination:
  type: rest_api
  url: "{url}{ITEM_PATH}"
  method: PUT
  headers:
    Content-Type: application/json
  body_template: '{{"reason": "{{{{ row.reason }}}}"}}'
  auth:
    type: bearer
    token_env: BENCH_HG_TOKEN
  rate_limit:
    requests_per_second: 1000000
sync:
  mode: full
  batch_size: 1000
  on_error: skip
"""
        )
    connection = sqlite3.connect(db)
    try:
        connection.execute(
            "CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT)"
        )
        connection.executemany(
            "INSERT INTO cancels VALUES (?, ?, ?, ?)",
            ((i, f"{7000000 + i // 3}", f"HBV{i:08d}", REASONS[i % 3]) for i in range(1, rows + 1)),
        )
        connection.commit()
    finally:
        connection.close()


def run_drt(drt: Path, url: str, rows: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="drt-bench-") as folder:
        home = Path(folder)
        make_drt_project(home, rows, url, threads)
        env = {**os.environ, "HOME": str(home), "BENCH_HG_TOKEN": token_of(url), "NO_COLOR": "1"}
        out = home / "drt.out"
        with Window(url) as window, out.open("wb") as stdout:
            started = time.perf_counter()
            pid = _spawn_in(drt, home, threads, env, stdout)
            _, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - started
        text = out.read_text(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            print(f"  drt exited {os.waitstatus_to_exitcode(status)}:\n{text[-2000:]}")
    sent = window.seen - window.base
    return {
        "rate": window.rate(),
        "own": None,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "ok": sent,
    }


def _spawn_in(drt: Path, home: Path, threads: int, env: dict[str, str], stdout: Any) -> int:
    process = subprocess.Popen(
        [str(drt), "run", "--threads", str(threads)],
        cwd=home / "project",
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
    )
    return process.pid


@contextmanager
def fast_server(latency: float) -> Iterator[str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-c", FAST_APP, str(latency), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                count_of(url)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    sys.exit("bench_drt: the fast stand-in did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def serve(kind: str, latency: float) -> Iterator[str]:
    if kind == "fast":
        with fast_server(latency) as url:
            yield url
        return
    with sandbox_process(*CLIENT) as sandbox:
        sandbox.set_faults(delay=latency, rate_delay=1.0)
        yield sandbox.url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16, help="hgsync's concurrency and drt's threads")
    parser.add_argument("--latency", type=float, default=20.0, help="ms")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs of each sender")
    parser.add_argument("--server", choices=["sandbox", "fast", "both"], default="both")
    parser.add_argument("--drt-venv", type=Path, default=Path("/tmp/drtvenv"))
    args = parser.parse_args()

    from engine import logging as hglog

    hglog.configure(json=True, level="warning")
    drt = ensure_drt(args.drt_venv)
    n, c = args.rows, args.concurrency
    for kind in ["sandbox", "fast"] if args.server == "both" else [args.server]:
        print(
            f"bench_drt: {n:,} rows, {args.latency:.0f} ms, hgsync concurrency {c} / drt {c} threads, {kind}"
        )
        best: dict[str, float] = {"hgsync": 0.0, "drt": 0.0, "bare": 0.0, "floor": 0.0}
        with serve(kind, args.latency / 1000) as url:
            for _ in range(args.repeat):
                for name in ("hgsync", "drt", "bare", "floor"):
                    before = load()
                    if name == "hgsync":
                        run = run_ours(url, n, c)
                    elif name == "drt":
                        run = run_drt(drt, url, n, c)
                    else:
                        run = run_bare_sender(url, n, c, "raw" if name == "floor" else "httpx")
                    best[name] = max(best[name], run["rate"])
                    own = f", own send phase {run['own']:,.0f} req/s" if run["own"] else ""
                    print(
                        f"  {name:<6} {run['rate']:>6,.0f} req/s (server window){own}; "
                        f"{run['ok']:,} sent, wall {run['wall']:.1f} s, "
                        f"CPU {1000 * run['cpu'] / n:.2f} ms/request, load {before:.2f}"
                    )
        ratio = best["hgsync"] / best["drt"] if best["drt"] else float("nan")
        ceiling = c / (args.latency / 1000) if args.latency else float("inf")
        print(
            f"  best: hgsync {best['hgsync']:,.0f}, drt {best['drt']:,.0f} req/s; hgsync / drt = {ratio:.2f}; "
            f"floor {best['floor']:,.0f} (hgsync at {best['hgsync'] / max(best['floor'], 1):.0%} of it); "
            f"{c} in flight at {args.latency:.0f} ms allow {ceiling:,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
