#!/usr/bin/env python3
"""The webhook receiver's throughput: `hgsync serve` in its own process (SQLite inbox, the
example stock-update pipeline applying every event), loaded over loopback by wrk (Debian's
`wrk` package; every call a distinct stock update with its own event id, bearer auth) or,
without wrk, by the sandbox's Python firing client (HMAC auth), which is itself the limit
then (about 300 calls/s on a 2-core machine). Prints acknowledged events a second, latency
percentiles, and how long applying them all took. Figures only: nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
connections:
  marketplace: sqlite:///marketplace.db
state: sqlite:///state.db
receiver:
  host: 127.0.0.1
  port: 0
  auth:
    {auth}
"""
WRK_SCRIPT = """\
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"items":[{"sku":"HBV%d-%d","company_id":7,"stock":%d}]}', tid, counter, counter % 500)
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer bench-token"
  headers["X-HG-Event-Id"] = string.format("wrk-%d-%d", tid, counter)
  return wrk.format("PUT", "/webhooks/stock-update", headers, body)
end
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10, help="how long wrk loads the receiver")
    parser.add_argument("--python", action="store_true", help="fire from Python even when wrk is installed")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python
    sys.path.insert(0, str(ROOT))
    from connectors.hepsiglobal.sandbox.fire import fire
    from engine.definitions.loader import load_project
    from engine.inbound.serve import webhook_operations

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "config").mkdir()
        (home / "pipelines").mkdir()
        auth = '{bearer: bench-token}' if use_wrk else '{hmac: {secret: bench-secret}}'
        (home / "config" / "hgsync.yaml").write_text(CONFIG.replace("{auth}", auth))
        if not os.environ.get("BENCH_NO_APPLY"):
            (home / "pipelines" / "stock-received.yaml").write_text((ROOT / "pipelines" / "stock-received.yaml").read_text())
        with sqlite3.connect(home / "marketplace.db") as db:
            db.execute(
                "CREATE TABLE stock_levels (sku TEXT, company_id INTEGER, stock INTEGER, updated_at TEXT,"
                " PRIMARY KEY (sku, company_id))"
            )
        project = load_project(home)
        settings = project.settings
        assert settings is not None and settings.receiver is not None, project.errors
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "hgsync"), "--home", str(home), "--log-level", "warning", "serve"],
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            url = None
            assert server.stderr is not None
            for line in server.stderr:
                found = re.search(r"on (http://\S+)", line)
                if found:
                    url = found.group(1)
                    break
            if url is None:
                print("the receiver did not start", file=sys.stderr)
                return 1
            if use_wrk:
                acknowledged, seconds = _wrk(url, home, args)
                how = "wrk, bearer auth"
            else:
                operations = [webhook_operations(settings)["stock_update"]]
                report = asyncio.run(
                    fire(url, operations, settings.receiver.auth, count=args.events, concurrency=args.concurrency, seed=1)
                )
                acknowledged = sum(n for (_, status), n in report.answers.items() if status == 200)
                seconds = report.seconds
                how = "Python client, HMAC auth"
                if report.unexpected:
                    print(f"  unexpected answers: {len(report.unexpected)}, e.g. {report.unexpected[:3]}")
            print(
                f"receiver: {acknowledged} events acknowledged in {seconds:.2f} s = {acknowledged / seconds:,.0f} "
                f"events/s ({args.concurrency} in flight, {how}, SQLite inbox)"
            )
            started = time.perf_counter()
            state = sqlite3.connect(home / "state.db")
            while not os.environ.get("BENCH_NO_APPLY") and state.execute(
                "SELECT COUNT(*) FROM hgsync_inbox WHERE status = 'pending'"
            ).fetchone()[0]:
                time.sleep(0.05)
            applied = state.execute("SELECT COUNT(*) FROM hgsync_inbox WHERE status = 'applied'").fetchone()[0]
            print(f"applied: {applied} events; the last {time.perf_counter() - started:.2f} s after the last answer")
            metrics = httpx.get(f"{url}/metrics").text
            print(textwrap.indent(_latency(metrics), "  "))
        finally:
            server.terminate()
            server.wait(10)
    return 0


def _wrk(url: str, home: Path, args: argparse.Namespace) -> tuple[int, float]:
    script = home / "stock.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{args.concurrency}", f"-d{args.seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in ([0-9.]+)(m?s)", out).group(1))
    found = re.search(r"(\d+) requests in ([0-9.]+)(m?s)", out)
    seconds = float(found.group(2)) / (1000 if found.group(3) == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = int(bad.group(1)) if bad else 0
    if failed:
        print(f"  wrk: {failed} answers were not 2xx")
    return total - failed, seconds


def _latency(metrics: str) -> str:
    """Latency quantiles, roughly, from the receiver's histogram."""
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r'hgsync_webhook_seconds_bucket\{le="([0-9.e+-]+)",operation="stock_update"\} (\S+)', metrics)
    ]
    total = buckets[-1][1] if buckets else 0
    lines = []
    for share in (0.5, 0.9, 0.99):
        bound = next((le for le, n in buckets if n >= share * total), float("inf"))
        lines.append(f"p{int(share * 100)} latency ≤ {bound * 1000:g} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
