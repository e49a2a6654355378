"""The demo's second half: HG calling the marketplace. The sandbox fires webhook events at
hgsync's receiver (with repeats, forged signatures and broken bodies among them), the
inbound pipelines apply them to ``demo/marketplace.db``, and the demo prints what landed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import click

from connectors.hepsiglobal.sandbox.fire import fire
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


def receive_demo(
    project: Project, state: StateStore, db: Path, service: InboundService | None, *, count: int = 60
) -> int:
    """Fire ``count`` calls at the running receiver, wait until they are applied, print what
    landed. Returns 0, or 1 when an answer or an event was not as expected."""
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
    click.echo(f"  {report.summary()}")
    settle(project, state)
    counts = state.inbox_counts()
    applied = sum(by.get("applied", 0) for by in counts.values())
    failed = sum(by.get("failed", 0) + by.get("pending", 0) for by in counts.values())
    click.echo(f"  the inbox holds {applied} applied event(s) ({failed} not applied); in {db}:")
    with sqlite3.connect(db) as conn:
        for table in TABLES:
            click.echo(f"    {table}: {conn.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0]} row(s)")
    return 1 if report.unexpected or failed else 0


def settle(project: Project, state: StateStore, timeout: float = 20) -> None:
    """Wait until the inbox holds no event due to be applied (at most ``timeout`` seconds)."""
    handled = [p.operation.name for p in project.inbound.values()]
    deadline = time.monotonic() + timeout
    while state.inbox_due(handled, limit=1) and time.monotonic() < deadline:
        time.sleep(0.05)
