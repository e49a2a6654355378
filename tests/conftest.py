"""Shared fixtures: a real HG sandbox on loopback, and throwaway hgsync project folders."""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from connectors.hepsiglobal.sandbox import Faults, Sandbox
from engine import logging as hglog


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    with Sandbox(port=0, client_id="test-client", client_secret="test-secret-value") as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[Sandbox]:
    """The session's sandbox, emptied and without faults for each test."""
    sandbox_server.reset()
    sandbox_server.set_faults(Faults())
    yield sandbox_server
    sandbox_server.set_faults(Faults())


CONFIG = """\
connections:
  marketplace: sqlite:///marketplace.db
targets:
  hepsiglobal:
    base_url: {url}
    client_id: test-client
    client_secret: ${{env:TEST_HG_SECRET:-test-secret-value}}
    rate_limit: null
    concurrency: 8
    max_attempts: 6
    backoff: {{base: 0.01, max: 0.2}}
state: sqlite:///state/state.db
"""


class ProjectDir:
    """A throwaway hgsync project: config pointing at the test sandbox, a SQLite marketplace."""

    def __init__(self, home: Path, url: str):
        self.home = home
        (home / "config").mkdir(parents=True)
        (home / "pipelines").mkdir()
        self.write_config(CONFIG.format(url=url))

    @property
    def db_path(self) -> Path:
        return self.home / "marketplace.db"

    def write_config(self, text: str) -> Path:
        path = self.home / "config" / "hgsync.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def pipeline(self, name: str, text: str) -> Path:
        path = self.home / "pipelines" / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def sql(self, script: str, params: list[tuple] | None = None) -> None:
        db = sqlite3.connect(self.db_path)
        try:
            if params is None:
                db.executescript(script)
            else:
                db.executemany(script, params)
            db.commit()
        finally:
            db.close()

    def cli(self, *args: str) -> Result:
        """Run the hgsync command in-process, as a user would type it."""
        result = CliRunner().invoke(_main(), ["--home", str(self.home), *args], catch_exceptions=False)
        hglog.configure(json=True)
        return result


def _main():
    from engine.cli.commands import main

    return main


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox) -> ProjectDir:
    return ProjectDir(tmp_path / "project", sandbox.url)


CANCEL_PIPELINE = """\
description: cancellations
source:
  sql:
    connection: marketplace
    table: cancels
key: "{{ row.order_number }}_{{ row.sku }}"
operation: cancel_order_item
mode: %s
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body:
    reason: "{{ row.reason }}"
"""


@pytest.fixture
def cancels(project: ProjectDir):
    """A project with a `cancels` table of ``n`` rows and an insert or upsert pipeline over it."""

    def make(n: int, mode: str = "insert") -> ProjectDir:
        project.sql("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT)")
        project.sql(
            "INSERT INTO cancels VALUES (?, ?, ?, ?)",
            [(i, f"{100000 + i // 3}", f"HBV{i:08d}", "customer_demand") for i in range(1, n + 1)],
        )
        project.pipeline("cancels", CANCEL_PIPELINE % mode)
        return project

    return make
