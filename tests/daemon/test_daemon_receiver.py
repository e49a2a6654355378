"""The daemon serves the webhook receiver when config has a receiver: block: events are
applied while it runs, the status page and status.json show the inbox, a failed event is
listed with its reason."""

from __future__ import annotations

import json
import socket
import sqlite3
import time

import httpx

from engine.definitions.receiver import signature

SECRET = "daemon-webhook-secret"

STOCK = """\
receive: stock_update
each: items
into:
  table: {connection: marketplace, table: stock, mode: upsert, key: [sku]}
columns:
  sku: "{{ item.sku }}"
  stock: "{{ item.stock }}"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _send(url: str, body: dict, event_id: str) -> httpx.Response:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    headers = {
        "X-HG-Signature": "sha256=" + signature(SECRET, stamp, raw),
        "X-HG-Timestamp": stamp,
        "X-HG-Event-Id": event_id,
        "Content-Type": "application/json",
    }
    return httpx.put(f"{url}/webhooks/stock-update", content=raw, headers=headers, timeout=10)


def _until(http: httpx.Client, done) -> dict:
    """The inbox of status.json once ``done(stock_update's counts)`` holds."""
    deadline = time.monotonic() + 20
    while True:
        inbox = http.get("/status.json").json()["inbox"]
        counts = {w["operation"]: w for w in inbox["webhooks"]}
        if done(counts.get("stock_update", {})):
            return inbox
        assert time.monotonic() < deadline, inbox
        time.sleep(0.1)


def test_the_daemon_receives_applies_and_shows_the_inbox(project, sandbox, daemon_factory):
    port = _free_port()
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(
        config.read_text()
        + f"receiver:\n  host: 127.0.0.1\n  port: {port}\n  auth: {{hmac: {{secret: {SECRET}}}}}\n"
        + "  retry: {attempts: 2, base: 0.05, max: 0.1}\n"
    )
    project.sql("CREATE TABLE stock (sku TEXT PRIMARY KEY, stock INTEGER)")
    project.pipeline("stock-in", STOCK)
    daemon = daemon_factory()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            answer = _send(url, {"items": [{"sku": "A", "stock": 5}, {"sku": "B", "stock": 0}]}, "ev-1")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the daemon's receiver never listened"
            time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    with httpx.Client(base_url=daemon.url, timeout=10) as http:
        _until(http, lambda by: by.get("applied") == 1)
    # an event the table cannot take: text into an INTEGER column is fine in SQLite, a
    # missing column is not
    project.sql("ALTER TABLE stock RENAME TO stock_old; CREATE TABLE stock (sku TEXT PRIMARY KEY)")
    assert _send(url, {"items": [{"sku": "C", "stock": 1}]}, "ev-2").status_code == 200
    with httpx.Client(base_url=daemon.url, timeout=10) as http:
        inbox = _until(http, lambda by: by.get("failed") == 1)
        counts = {w["operation"]: w for w in inbox["webhooks"]}
        assert counts["stock_update"]["applied"] == 1 and counts["stock_update"]["pipeline"] == "stock-in"
        assert inbox["failed"][0]["event_id"] == "ev-2" and "stock" in inbox["failed"][0]["error"]
        page = http.get("/").text
        assert "Webhook inbox" in page and "hgsync inbox replay --failed" in page and "ev-2" in page
    with sqlite3.connect(project.db_path) as db:
        assert db.execute("SELECT sku, stock FROM stock_old ORDER BY sku").fetchall() == [("A", 5), ("B", 0)]
    daemon.signal()
    assert daemon.wait() == 0
