#!/usr/bin/env python3
"""Sending, next to a bare httpx sender: requests per second at 0 and 20 ms of latency.

    .venv/bin/python scripts/bench_send.py                       # 10,000 rows, concurrency 16
    .venv/bin/python scripts/bench_send.py --rows 2000 --latency 0 --repeat 3

Serves the built-in HG sandbox in a process of its own (``hgsync sandbox``, no rate limit; a
latency is the sandbox's ``delay`` fault on every request; ``--in-process`` serves it from
this process instead, as before, where it shares a GIL with nothing measured but competes
for the same 2 cores), then for each latency runs, interleaved, ``hgsync run``
over ``--rows`` new cancellations (a fresh project and state store each time, as in
``bench_run.py``) and two bare senders: a few lines of ``httpx.AsyncClient`` in a subprocess,
sending the same number of the same requests at the same concurrency, with a token and
nothing else (no state, no retries, no spool); ``bare`` over httpx's own connection pool,
``bare+aio`` over the aiohttp transport hgsync itself uses (what is left between it and
hgsync is hgsync's own work per row). Prints requests per second of the send phase and CPU
per request of the whole process for each, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_run import make_project, phases, run_hgsync  # noqa: E402
from bench_sandbox import sandbox_process  # noqa: E402

CLIENT = ("bench", "bench-secret")


async def raw_send(url: str, rows: int, concurrency: int) -> dict[str, float]:
    """The floor: the same requests straight through aiohttp, with no httpx objects at all, the
    least CPU a Python sender spends per request (its rate is the most any sender reaches)."""
    import aiohttp

    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        body = {"grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]}
        async with http.post("/v1/auth/token", json=body) as answer:
            token = (await answer.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        reasons = [
            json.dumps({"reason": r}).encode() for r in ("customer_demand", "out_of_stock", "late_shipment")
        ]
        queue = iter(range(1, rows + 1))
        ok = 0

        async def worker() -> None:
            nonlocal ok
            for i in queue:
                order = f"{9000000 + i // 3}"
                path = f"/v1/orders/{order}/order_items/{order}_HBV{i:08d}"
                async with http.put(path, data=reasons[i % 3], headers=headers) as answer:
                    await answer.read()
                    ok += answer.status < 300

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "ok": ok}


async def bare_send(url: str, rows: int, concurrency: int, wire: str = "httpx") -> dict[str, float]:
    """The bare sender: one token, then every request at ``concurrency`` in flight, over httpx's
    own connection pool (``wire`` "httpx") or over hgsync's aiohttp transport ("aiohttp"); "raw"
    is :func:`raw_send`."""
    if wire == "raw":
        return await raw_send(url, rows, concurrency)
    import httpx

    from connectors.hepsiglobal.transport import AiohttpTransport

    transport = AiohttpTransport(connections=concurrency) if wire == "aiohttp" else None
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as http:
        token = (
            await http.post(
                "/v1/auth/token",
                json={"grant_type": "client_credentials", "client_id": CLIENT[0], "client_secret": CLIENT[1]},
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(1, rows + 1):
            queue.put_nowait(i)
        reasons = ("customer_demand", "out_of_stock", "late_shipment")
        ok = 0

        async def worker() -> None:
            nonlocal ok
            while not queue.empty():
                i = queue.get_nowait()
                order = f"{9000000 + i // 3}"
                path = f"/v1/orders/{order}/order_items/{order}_HBV{i:08d}"
                response = await http.put(path, json={"reason": reasons[i % 3]}, headers=headers)
                ok += response.status_code < 300

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "ok": ok}


def run_bare(url: str, rows: int, concurrency: int, wire: str = "httpx") -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--bare",
        url,
        "--wire",
        wire,
        "--rows",
        str(rows),
        "--concurrency",
        str(concurrency),
    ]
    with tempfile.TemporaryFile() as out:
        pid = os.posix_spawn(
            sys.executable, command, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1)]
        )
        _, status, usage = os.wait4(pid, 0)
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the bare sender failed:\n{text}")
    figures = json.loads(text.strip().splitlines()[-1])
    figures["cpu"] = usage.ru_utime + usage.ru_stime
    return figures


def run_ours(url: str, rows: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hgsync-bench-") as folder:
        home = Path(folder)
        make_project(home, rows, url, concurrency, "sqlite:///state/state.db")
        run = run_hgsync(home)
        _, send_s = phases(run)
        delivered = run["events"]["run_finished"].get("delivered", 0)
    return {"seconds": send_s, "ok": delivered, "cpu": run["cpu"]}


class _InProcess:
    """The in-process sandbox, with the process sandbox's calls."""

    def __init__(self, sandbox: Any):
        self.sandbox, self.url = sandbox, sandbox.url

    def set_faults(self, **faults: Any) -> None:
        from connectors.hepsiglobal.sandbox import Faults

        self.sandbox.set_faults(Faults(**faults))


@contextmanager
def serve_sandbox(in_process: bool) -> Iterator[Any]:
    if not in_process:
        with sandbox_process(*CLIENT) as sandbox:
            yield sandbox
        return
    from connectors.hepsiglobal.sandbox import Sandbox

    with Sandbox(port=0, client_id=CLIENT[0], client_secret=CLIENT[1]) as sandbox:
        yield _InProcess(sandbox)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, action="append", help="ms; repeatable (default 0 and 20)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs of each sender per latency")
    parser.add_argument("--in-process", action="store_true", help="serve the sandbox from this process")
    parser.add_argument("--bare", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--wire", default="httpx", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(asyncio.run(bare_send(args.bare, args.rows, args.concurrency, args.wire))))
        return 0

    from engine import logging as hglog

    hglog.configure(json=True, level="warning")
    failed = False
    with serve_sandbox(args.in_process) as sandbox:
        where = "in-process sandbox" if args.in_process else "sandbox in its own process"
        print(f"bench_send: {args.rows:,} rows, concurrency {args.concurrency}, no rate limit, {where}")
        for latency in args.latency or [0.0, 20.0]:
            sandbox.set_faults(delay=latency / 1000, rate_delay=1.0 if latency else 0.0)
            results: dict[str, list[dict[str, Any]]] = {"hgsync": [], "bare": [], "bare+aio": []}
            for _ in range(args.repeat):
                results["hgsync"].append(run_ours(sandbox.url, args.rows, args.concurrency))
                results["bare"].append(run_bare(sandbox.url, args.rows, args.concurrency))
                results["bare+aio"].append(run_bare(sandbox.url, args.rows, args.concurrency, "aiohttp"))
            rates = {}
            for name, runs in results.items():
                for run in runs:
                    failed |= run["ok"] != args.rows
                best = max(runs, key=lambda r: args.rows / r["seconds"])
                rates[name] = args.rows / best["seconds"]
                cpu_ms = 1000 * best["cpu"] / args.rows
                shown = ", ".join(f"{args.rows / r['seconds']:,.0f}" for r in runs)
                print(
                    f"  {latency:>4.0f} ms  {name:<8} {shown} req/s (best of {len(runs)}), {cpu_ms:.2f} ms CPU/request"
                )
            print(
                f"  {latency:>4.0f} ms  hgsync / bare = {rates['hgsync'] / rates['bare']:.2f}, "
                f"hgsync / bare+aio = {rates['hgsync'] / rates['bare+aio']:.2f}"
            )
    if failed:
        print("FAIL: a sender did not deliver every row")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
