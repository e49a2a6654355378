"""A project that receives webhooks: receiver config, a marketplace SQLite file, inbound pipelines,
and the receiver itself on a free loopback port (real uvicorn, real HTTP)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.definitions.loader import load_project
from engine.definitions.receiver import signature
from engine.definitions.settings import resolve_url
from engine.inbound.serve import InboundService
from engine.store import StateStore
from tests.conftest import ProjectDir

SECRET = "hmac-secret-for-tests"

RECEIVER = """\
connections:
  marketplace: {marketplace}
state: {state}
receiver:
  host: 127.0.0.1
  port: 0
  max_body: 64KB
  auth:
    hmac: {{secret: "${{env:TEST_WEBHOOK_SECRET:-{secret}}}"}}
  retry: {{attempts: 3, base: 0.05, max: 0.2}}
"""

STOCK_PIPELINE = """\
description: stock levels HG sends, into the stock table
receive: stock_update
each: items
into:
  table: {connection: marketplace, table: stock, mode: upsert, key: [sku, company_id]}
columns:
  sku: "{{ item.sku }}"
  company_id: "{{ item.company_id }}"
  stock: "{{ item.stock if item.stock is not none else item.quantity }}"
  event_id: "{{ meta.event_id }}"
"""

CANCEL_PIPELINE = """\
description: items sellers cancelled
receive: order_cancel_by_seller
into:
  table: {connection: marketplace, table: seller_cancels, mode: insert}
columns:
  cancel_id: "{{ event.cancel_id }}"
  order_item_number: "{{ event.order_item_number }}"
  quantity: "{{ event.cancel_quantity }}"
  reason: "{{ event.reason }}"
"""

PRICE_CSV_PIPELINE = """\
receive: price_update
each: items
into:
  csv: {path: received/prices.csv}
columns:
  sku: "{{ item.sku }}"
  price: "{{ item.price }}"
  currency: "{{ item.currency }}"
"""

LISTING_PIPELINE = """\
answer: variant_listing_status
query:
  connection: marketplace
  sql: SELECT company_id, sku, mp_sku, status, report_date FROM listings
"""

COUNT_PIPELINE = """\
answer: variant_listing_count
query:
  connection: marketplace
  sql: SELECT company_id, sku, mp_sku, status, report_date FROM listings
"""

MARKETPLACE = """\
CREATE TABLE stock (sku TEXT NOT NULL, company_id INTEGER NOT NULL, stock INTEGER, event_id TEXT,
                    PRIMARY KEY (sku, company_id));
CREATE TABLE seller_cancels (id INTEGER PRIMARY KEY, cancel_id INTEGER, order_item_number TEXT,
                             quantity INTEGER, reason TEXT);
CREATE TABLE listings (company_id INTEGER, sku TEXT, mp_sku TEXT, status TEXT, report_date TEXT);
"""


class Receiver:
    """A started receiver of a project, and a client that signs like HG."""

    def __init__(self, project: ProjectDir, service: InboundService, store: StateStore):
        self.project = project
        self.service = service
        self.store = store
        self.url = service.url
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def headers(
        self, raw: bytes, *, secret: str = SECRET, stamp: float | None = None, event_id: str | None = None
    ) -> dict[str, str]:
        moment = str(int(time.time() if stamp is None else stamp))
        headers = {"X-HG-Signature": "sha256=" + signature(secret, moment, raw), "X-HG-Timestamp": moment}
        if event_id is not None:
            headers["X-HG-Event-Id"] = event_id
        return headers

    def send(
        self, method: str, path: str, body: Any, *, event_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**self.headers(raw, event_id=event_id, **kwargs), "Content-Type": "application/json"}
        return self.client.request(method, path, content=raw, headers=headers)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no event is pending and not waiting for a retry."""
        deadline = time.monotonic() + timeout
        applier = self.service.applier
        handled = [p.operation.name for p in applier.pipelines().values()] + list(applier.results)
        while time.monotonic() < deadline:
            if not self.store.inbox_due(handled, limit=1):
                return
            time.sleep(0.02)
        raise AssertionError("events still pending")

    def rows(self, sql: str) -> list[tuple]:
        import sqlite3

        db = sqlite3.connect(self.project.db_path)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()


@pytest.fixture
def inbound_project(tmp_path: Path) -> ProjectDir:
    project = ProjectDir(tmp_path / "project", "http://127.0.0.1:9")
    project.write_config(
        RECEIVER.format(
            marketplace="sqlite:///marketplace.db", state="sqlite:///state/state.db", secret=SECRET
        )
    )
    project.sql(MARKETPLACE)
    project.pipeline("stock-in", STOCK_PIPELINE)
    project.pipeline("seller-cancels-in", CANCEL_PIPELINE)
    project.pipeline("prices-in", PRICE_CSV_PIPELINE)
    project.pipeline("listing-status", LISTING_PIPELINE)
    project.pipeline("listing-count", COUNT_PIPELINE)
    return project


@pytest.fixture
def start_receiver() -> Iterator[Callable[[ProjectDir], Receiver]]:
    started: list[Receiver] = []

    def start(project: ProjectDir) -> Receiver:
        loaded = load_project(project.home)
        assert not loaded.errors, loaded.errors
        assert loaded.settings is not None
        store = StateStore(resolve_url(loaded.settings.state, loaded.home))
        service = InboundService(
            loaded.settings, loaded.home, store, lambda: loaded.inbound, lambda: loaded.answers
        )
        service.start()
        receiver = Receiver(project, service, store)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.client.close()
        receiver.service.stop()
        receiver.store.close()
