#!/usr/bin/env python3
"""How fast the SQL source reads a large table, and how much memory that takes.

    .venv/bin/python scripts/bench_read.py                  # 1,000,000 rows on PostgreSQL
    .venv/bin/python scripts/bench_read.py --db mariadb --rows 200000
    .venv/bin/python scripts/bench_read.py --db sqlite

Creates a table of ``--rows`` cancellations (id, order_number, sku, reason, amount,
updated_at) in the chosen database, then reads it through ``connectors.sources.sql.SqlSource.read()``
in a fresh subprocess, so that creating the table does not count, and prints rows per
second and the reader's peak resident memory (``ru_maxrss``). Exits 1 if the peak is over
``--max-mb`` (300 MB by default): rows must stream, not pile up. The table is dropped
afterwards unless ``--keep``.

PostgreSQL and MariaDB are the servers the tests use (``scripts/ensure-services`` starts
them); other URLs can be given with ``--url``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

URLS = {
    "postgres": os.environ.get(
        "HGSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("HGSYNC_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
TABLE = "hgsync_bench_read"

# One INSERT ... SELECT per database, generating the rows on the server.
FILL = {
    "postgresql": f"""
        CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, order_number TEXT NOT NULL, sku TEXT NOT NULL,
            reason TEXT NOT NULL, amount NUMERIC(10, 2) NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
        INSERT INTO {TABLE}
        SELECT i, (7000000 + i / 3)::text, 'HBV' || lpad(i::text, 8, '0'),
               (ARRAY['customer_demand', 'out_of_stock', 'late_shipment'])[i % 3 + 1],
               (i % 10000) / 100.0 + 1, TIMESTAMPTZ '2026-11-01 00:00:00+00' + i * INTERVAL '1 second'
        FROM generate_series(1, :rows) AS i""",
    "mysql": f"""
        CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, order_number VARCHAR(20) NOT NULL,
            sku VARCHAR(20) NOT NULL, reason VARCHAR(40) NOT NULL, amount DECIMAL(10, 2) NOT NULL,
            updated_at DATETIME(6) NOT NULL);
        INSERT INTO {TABLE}
        SELECT seq, CAST(7000000 + seq DIV 3 AS CHAR), CONCAT('HBV', LPAD(seq, 8, '0')),
               ELT(seq % 3 + 1, 'customer_demand', 'out_of_stock', 'late_shipment'),
               (seq % 10000) / 100.0 + 1, TIMESTAMP '2026-11-01 00:00:00' + INTERVAL seq SECOND
        FROM seq_1_to_{{rows}}""",
    "sqlite": f"""
        CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, order_number TEXT NOT NULL, sku TEXT NOT NULL,
            reason TEXT NOT NULL, amount NUMERIC(10, 2) NOT NULL, updated_at TIMESTAMP NOT NULL);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
        INSERT INTO {TABLE}
        SELECT i, CAST(7000000 + i / 3 AS TEXT), 'HBV' || substr('00000000' || i, -8),
               CASE i % 3 WHEN 0 THEN 'customer_demand' WHEN 1 THEN 'out_of_stock' ELSE 'late_shipment' END,
               (i % 10000) / 100.0 + 1, datetime('2026-11-01 00:00:00', '+' || i || ' seconds')
        FROM n""",
}


def create_table(url: str, rows: int) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
            for statement in FILL[engine.dialect.name].replace("{rows}", str(rows)).split(";"):
                conn.execute(sa.text(statement), {"rows": rows} if ":rows" in statement else {})
    finally:
        engine.dispose()
    return time.perf_counter() - started


def drop_table(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    finally:
        engine.dispose()


def read_child(url: str, chunk: int) -> None:
    """In the subprocess: read the table through the SQL source and print figures as JSON."""
    from connectors.sources.base import SourceContext
    from connectors.sources.sql import SqlSource, SqlSourceConfig

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = SqlSourceConfig(connection="bench", table=TABLE, chunk_size=chunk)
    source = SqlSource(config, SourceContext(home=ROOT, connections={"bench": url}))
    count, amount = 0, 0
    started = time.perf_counter()
    try:
        for row in source.read():
            count += 1
            amount += row.values["id"]  # touch every row, as a run does
    finally:
        source.close()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": count, "seconds": seconds, "rss_before_kb": before, "rss_peak_kb": peak}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "mariadb", "sqlite"], default="postgres")
    parser.add_argument("--url", help="a SQLAlchemy URL instead of the --db default")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1000, help="the source's chunk_size")
    parser.add_argument("--max-mb", type=float, default=300.0, help="fail above this peak RSS")
    parser.add_argument("--keep", action="store_true", help="keep the table (and reuse it next time)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        read_child(args.url, args.chunk)
        return 0

    with tempfile.TemporaryDirectory(prefix="hgsync-bench-") as folder:
        url = args.url or URLS.get(args.db) or f"sqlite:///{Path(folder) / 'bench.db'}"
        shown = url.split("@")[-1]
        print(f"bench_read: {args.rows:,} rows, {args.db} ({shown}), chunk_size {args.chunk}")
        made = create_table(url, args.rows)
        print(f"  table created in {made:.1f}s")
        try:
            child = subprocess.run(
                [sys.executable, __file__, "--child", "--url", url, "--chunk", str(args.chunk)],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            if not args.keep:
                drop_table(url)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 2
        figures = json.loads(child.stdout.strip().splitlines()[-1])

    peak_mb = figures["rss_peak_kb"] / 1024
    base_mb = figures["rss_before_kb"] / 1024
    rate = figures["rows"] / figures["seconds"]
    print(f"  read {figures['rows']:,} rows in {figures['seconds']:.1f}s: {rate:,.0f} rows/s")
    print(f"  peak RSS {peak_mb:.0f} MB (after imports, before reading: {base_mb:.0f} MB)")
    if figures["rows"] != args.rows:
        print(f"FAIL: read {figures['rows']:,} rows, expected {args.rows:,}")
        return 1
    if peak_mb > args.max_mb:
        print(f"FAIL: peak RSS {peak_mb:.0f} MB is over {args.max_mb:.0f} MB")
        return 1
    print(f"  ok: under {args.max_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
