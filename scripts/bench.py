#!/usr/bin/env python3
"""`make bench`: every benchmark of the project, one after the other, figures only (nothing
here is a test). A few minutes in all:

1. bench_read.py: 1,000,000 rows through the SQL source, peak memory (PostgreSQL, or SQLite
   when the server is down);
2. bench_run.py: 10,000 rows through `hgsync run` against the built-in sandbox, then again
   with nothing changed;
3. bench_send.py: the send loop next to a bare httpx sender, 10,000 rows at 0 and 20 ms of
   latency, the sandbox in its own process;
4. bench_nochange.py: a rerun of 100,000 delivered rows with nothing changed, then with 1%
   changed, and a profile summary of the no-change pass (cProfile, top functions by
   cumulative time); ``--million`` adds the same over 1,000,000 rows (several minutes more,
   most of it seeding);
5. bench_receiver.py: the webhook receiver, acknowledged events a second over 15 s.

Each script takes options of its own (``--help``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def postgres_down() -> str | None:
    import sqlalchemy as sa
    from bench_read import URLS

    engine = sa.create_engine(URLS["postgres"], connect_args={"connect_timeout": 3}, poolclass=sa.NullPool)
    try:
        with engine.connect():
            return None
    except sa.exc.SQLAlchemyError as exc:
        return " ".join(str(exc.orig or exc).split())[:200]
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description="`make bench`: every benchmark of the project in turn, figures only; a few minutes.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--million", action="store_true", help="also the no-change pass over 1,000,000 rows")
    args = parser.parse_args()

    database = "postgres"
    if (reason := postgres_down()) is not None:
        print(f"bench: PostgreSQL is not reachable ({reason}); reading from SQLite instead")
        print("  (scripts/ensure-services starts it)")
        database = "sqlite"
    scripts = [
        ["bench_read.py", "--db", database],
        ["bench_run.py"],
        ["bench_send.py"],
        ["bench_nochange.py", "--profile"],
        *([["bench_nochange.py", "--rows", "1000000"]] if args.million else []),
        ["bench_receiver.py", "--seconds", "15"],
    ]
    codes = []
    for script, *options in scripts:
        print(flush=True)
        codes.append(subprocess.run([sys.executable, str(HERE / script), *options], check=False).returncode)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
