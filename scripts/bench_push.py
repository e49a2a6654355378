#!/usr/bin/env python3
"""Pushing price updates to a marketplace target: `hgsync run` of a CSV drop of N price lines
(2,500 by default) against `hgsync serve` in its own process (HMAC-signed calls, SQLite inbox,
the example prices-received pipeline applying every event to a table). Prints the requests
sent and their sizes, the run's time, the time until the receiver applied everything, and
a second run's (nothing changed). With --max-body smaller than a full batch, the receiver
answers 413 and the batches split: the figures show what that costs. Figures only: nothing
here is a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HGSYNC = str(Path(sys.executable).parent / "hgsync")
RECEIVER = """\
connections:
  marketplace: sqlite:///marketplace.db
state: sqlite:///state.db
receiver:
  host: 127.0.0.1
  port: 0
  max_body: {max_body}
  auth: {{hmac: {{secret: bench-secret}}}}
"""
PUSHER = """\
targets:
  marketplace:
    kind: marketplace
    base_url: {url}
    auth: {{hmac: {{secret: bench-secret}}}}
    rate_limit: null
    concurrency: {concurrency}
state: sqlite:///state.db
"""
PIPELINE = """\
source:
  csv: {{folder: drop, settle_seconds: 0, columns: {{sku: text, company_id: integer, price: decimal, currency: text}}}}
key: "{{{{ row.sku }}}}_{{{{ row.company_id }}}}"
operation: price_update
mode: upsert
batch: {{size: {size}}}
request:
  body:
    items:
      - {{sku: "{{{{ row.sku }}}}", company_id: "{{{{ row.company_id }}}}", price: "{{{{ row.price | money }}}}", currency: USD}}
"""


def _hgsync(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HGSYNC, "--home", str(home), "--log-level", "warning", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )


def _applied(state: Path) -> tuple[int, list[int]]:
    with sqlite3.connect(state) as db:
        rows = db.execute("SELECT status, body FROM hgsync_inbox ORDER BY id").fetchall()
    return sum(s == "applied" for s, _ in rows), [len(json.loads(b)["items"]) for _, b in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--size", type=int, default=1000, help="the pipeline's batch size")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--max-body", default="1MB", help="the receiver's body limit (413 above it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        receiver, pusher = Path(tmp) / "receiver", Path(tmp) / "pusher"
        for home in (receiver, pusher):
            (home / "config").mkdir(parents=True)
            (home / "pipelines").mkdir()
        (receiver / "config" / "hgsync.yaml").write_text(RECEIVER.format(max_body=args.max_body))
        (receiver / "pipelines" / "prices-received.yaml").write_text(
            (ROOT / "pipelines" / "prices-received.yaml").read_text()
        )
        with sqlite3.connect(receiver / "marketplace.db") as db:
            db.execute(
                "CREATE TABLE prices (sku TEXT, company_id INTEGER, price NUMERIC, retail_price NUMERIC,"
                " currency TEXT, channel TEXT, updated_at TEXT, PRIMARY KEY (sku, company_id))"
            )
        server = subprocess.Popen(
            [HGSYNC, "--home", str(receiver), "--log-level", "warning", "serve"],
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert server.stderr is not None
            url = next(
                (m.group(1) for line in server.stderr if (m := re.search(r"on (http://\S+)", line))), None
            )
            if url is None:
                print("the receiver did not start", file=sys.stderr)
                return 1
            (pusher / "config" / "hgsync.yaml").write_text(
                PUSHER.format(url=url, concurrency=args.concurrency)
            )
            (pusher / "pipelines" / "prices-out.yaml").write_text(PIPELINE.format(size=args.size))
            (pusher / "drop").mkdir()
            with (pusher / "drop" / "prices.csv").open("w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["sku", "company_id", "price", "currency"])
                writer.writerows(
                    (f"HBV{i:010d}", 2001 + i % 4, f"{5 + i % 300}.{i % 100:02d}", "USD")
                    for i in range(args.rows)
                )
            began = time.perf_counter()
            done = _hgsync(pusher, "run", "prices-out", "--json")
            took = time.perf_counter() - began
            if done.returncode not in (0, 1):
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout.splitlines()[-1])
            counts = result["counts"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                applied, sizes = _applied(receiver / "state.db")
                if applied == len(sizes) and sum(sizes) >= counts["delivered"]:
                    break
                time.sleep(0.05)
            landed = time.perf_counter() - began
            (pusher / "drop" / "archive" / "prices.csv").rename(pusher / "drop" / "prices-again.csv")
            began = time.perf_counter()
            again = _hgsync(pusher, "run", "prices-out", "--json")
            second = time.perf_counter() - began
            repeat = json.loads(again.stdout.splitlines()[-1])
            unchanged = repeat["counts"]["unchanged"]
        finally:
            server.terminate()
            server.wait(10)
    print(
        f"pushed {args.rows} price rows, batch size {args.size}, concurrency {args.concurrency}, receiver max_body {args.max_body}"
    )
    print(
        f"  requests sent: {counts.get('requests', 0)} (rows delivered {counts['delivered']}, rejected {counts['send_rejected']})"
    )
    print(f"  items per accepted request: {sizes}")
    print(
        f"  `hgsync run`: {took:.2f} s from process start to exit, the run itself {result['seconds']:.2f} s; "
        f"every event applied by the receiver {landed:.2f} s after the start"
    )
    print(
        f"  the same rows again ({unchanged} unchanged): {second:.2f} s, the run {repeat['seconds']:.2f} s, "
        f"{repeat['counts'].get('requests', 0)} requests"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
