#!/usr/bin/env python3
"""`make bench`: the read benchmark (1,000,000 rows through the SQL source, peak memory under
300 MB) on PostgreSQL, or SQLite when the server is down, then the run benchmark (10,000 rows
through `hgsync run` against the built-in sandbox), then the webhook receiver's (acknowledged
events a second, 15 s of load). Figures only: nothing here is a test.

The scripts take options of their own (``--help``): bench_read.py, bench_run.py,
bench_receiver.py; and, not run here, bench_send.py (the send loop beside a bare httpx
sender) and bench_nochange.py (a rerun where nothing changed, 100k+ rows).
"""

from __future__ import annotations

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
    database = "postgres"
    if (reason := postgres_down()) is not None:
        print(f"bench: PostgreSQL is not reachable ({reason}); reading from SQLite instead")
        print("  (scripts/ensure-services starts it)")
        database = "sqlite"
    codes = [
        subprocess.run(
            [sys.executable, str(HERE / "bench_read.py"), "--db", database], check=False
        ).returncode,
        subprocess.run([sys.executable, str(HERE / "bench_run.py")], check=False).returncode,
        subprocess.run([sys.executable, str(HERE / "bench_receiver.py"), "--seconds", "15"], check=False).returncode,
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
