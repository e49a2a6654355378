"""The demo's second half: HG calling the marketplace. The sandbox fires webhook events at
hgsync's receiver (with repeats, forged signatures and broken bodies among them), the
inbound pipelines apply them to ``demo/marketplace.db``, and the demo prints what landed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import click
import httpx

from connectors.hepsiglobal.sandbox.fire import credentials, fire
from engine.definitions.loader import Project
from engine.inbound.serve import InboundService
from engine.store import StateStore

WEBHOOKS = ("stock_update", "price_update", "product_update", "order_cancel_by_seller")
TABLES = ("stock_levels", "prices", "product_variants", "seller_cancellations")


def serve_demo(project: Project, state: StateStore) -> InboundService | None:
    """The receiver on a free loopback port, started; None without a receiver: block or inbound pipelines."""
    settings = project.settings
    assert settings is not None
    if settings.receiver is None or not project.inbound:
        return None
    settings = settings.model_copy(
        update={"receiver": settings.receiver.model_copy(update={"host": "127.0.0.1", "port": 0})}
    )
    service = InboundService(settings, project.home, state, lambda: project.inbound, lambda: project.answers)
    service.start()
    return service


def _refund_results(url: str, service: InboundService, db: Path) -> int:
    """Play HG's Refund create result for each refund sent (two in three accepted): the request
    ids come from the refunds table, where create-refunds wrote HG's answers back."""
    with sqlite3.connect(db) as conn:
        sent = conn.execute(
            "SELECT refund_number, hg_request_id FROM refunds WHERE hg_request_id IS NOT NULL ORDER BY 1"
        ).fetchall()
    operation = service.operations["refund_create_result"]
    auth = service.receiver.auth
    with httpx.Client(base_url=url, timeout=10) as http:
        for n, (number, request_id) in enumerate(sent):
            body: dict[str, Any] = {"request_id": request_id, "refund_number": number, "status": "ACCEPTED"}
            if n % 3 == 2:
                body.update(status="REJECTED", reason="the item was not returned")
            raw = json.dumps(body).encode()
            headers = {**credentials(auth, raw, forged=False), "Content-Type": "application/json"}
            http.request(operation.method, operation.path, content=raw, headers=headers).raise_for_status()
    return len(sent)


def receive_demo(
    project: Project, state: StateStore, db: Path, service: InboundService | None, *, count: int = 60
) -> int:
    """Fire ``count`` calls at the running receiver (``serve_demo``), play refund results, wait
    until they are applied, print what landed. Returns 0, or 1 when an answer or an event was
    not as expected."""
    settings = project.settings
    assert settings is not None
    if service is None or settings.receiver is None:
        click.echo("(no receiver: block in config/hgsync.yaml, so the demo receives nothing)")
        return 0
    url = service.url
    click.echo(f"  hgsync receives HG's webhooks on {url}; the sandbox fires {count} calls at it")
    operations = [service.operations[name] for name in WEBHOOKS]
    report = asyncio.run(
        fire(
            url,
            operations,
            settings.receiver.auth,
            count=count,
            duplicates=0.1,
            forged=0.05,
            invalid=0.05,
            seed=7,
        )
    )
    click.echo(f"  {report.line()}")
    for line in report.unexpected[:10]:
        click.echo(f"    {line}")
    results = _refund_results(url, service, db)
    settle(project, state)
    counts = state.inbox_counts()
    applied = sum(by.get("applied", 0) for by in counts.values())
    failed = sum(by.get("failed", 0) + by.get("pending", 0) for by in counts.values())
    click.echo(f"  the inbox holds {applied} applied event(s) ({failed} not applied); in {db}:")
    with sqlite3.connect(db) as conn:
        for table in TABLES:
            click.echo(f"    {table}: {conn.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0]} row(s)")
        if results:
            found = conn.execute("SELECT hg_status, COUNT(*) FROM refunds GROUP BY 1 ORDER BY 1").fetchall()
            shown = ", ".join(f"{n} {status or 'awaiting'}" for status, n in found)
            click.echo(f"    refunds: {shown} (HG's results, matched by the request id written back)")
        tracked = conn.execute("SELECT COUNT(*) FROM tracking_events").fetchone()[0]
        click.echo(f"    tracking_events: {tracked} row(s) (HG's answers to shipment-tracking, written back)")
    return 1 if report.unexpected or failed else 0


def settle(project: Project, state: StateStore, timeout: float = 20) -> None:
    """Wait until the inbox holds no event due to be applied (at most ``timeout`` seconds)."""
    handled = [p.operation.name for p in project.inbound.values()]
    deadline = time.monotonic() + timeout
    while state.inbox_due(handled, limit=1) and time.monotonic() < deadline:
        time.sleep(0.05)
