"""The database servers some tests need, and a private corner of each for one test.

PostgreSQL and MariaDB run on this machine (``scripts/ensure-services`` starts them). Each
test gets its own PostgreSQL schema (the URL sets ``search_path`` to it) or its own MariaDB
database, dropped afterwards, so tests never see each other's tables.

When a server is unreachable the test is skipped, or fails when ``HGSYNC_REQUIRE_SERVICES``
is set (``make test`` sets it), so that CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("HGSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HGSYNC_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SERVERS = {"postgres": ("PostgreSQL", POSTGRES_URL), "mariadb": ("MariaDB", MARIADB_URL)}


@cache
def unreachable(kind: str) -> str | None:
    """Why the server of ``kind`` cannot be used, or None when it answers (checked once)."""
    name, url = SERVERS[kind]
    parsed = sa.make_url(url)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means: not usable
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        return (
            f"{name} is not reachable at {parsed.host}:{parsed.port} ({reason}); "
            "start it with scripts/ensure-services"
        )
    finally:
        engine.dispose()
    return None


def require(kind: str) -> None:
    """Skip the test when the server is down, or fail it when services are required."""
    reason = unreachable(kind)
    if reason is None:
        return
    if os.environ.get("HGSYNC_REQUIRE_SERVICES"):
        pytest.fail(f"{reason} (HGSYNC_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Space:
    """A schema (PostgreSQL), a database (MariaDB) or a file (SQLite) of one test.

    ``url`` reaches it with unqualified table names; ``engine`` is for the test's own setup.
    """

    kind: str
    name: str
    url: str
    engine: sa.Engine

    def run(self, sql: str, params: list[dict[str, Any]] | dict[str, Any] | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()


def _name() -> str:
    return f"hgt_{secrets.token_hex(5)}"


@contextmanager
def postgres_schema() -> Iterator[Space]:
    """A fresh schema; the URL's ``search_path`` is that schema alone."""
    require("postgres")
    name = _name()
    admin = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={name}')}"
        engine = sa.create_engine(url)
        try:
            yield Space("postgres", name, url, engine)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(sa.text("SET lock_timeout = '10s'"))
                conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def mariadb_database() -> Iterator[Space]:
    """A fresh database."""
    require("mariadb")
    name = _name()
    admin = sa.create_engine(MARIADB_URL, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        url = sa.make_url(MARIADB_URL).set(database=name).render_as_string(hide_password=False)
        engine = sa.create_engine(url)
        try:
            yield Space("mariadb", name, url, engine)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(sa.text("SET SESSION lock_wait_timeout = 10"))
                conn.execute(sa.text(f"DROP DATABASE `{name}`"))
    finally:
        admin.dispose()
