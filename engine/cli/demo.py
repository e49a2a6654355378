"""`hgsync demo`: the whole loop on a fresh machine, with nothing to set up.

Creates the demo marketplace database, starts the HG sandbox on a free loopback port,
runs every pipeline in ``pipelines/``, prints the summary, then runs them all again to
show that nothing is sent twice. It uses its own state store (``demo/state.db``, made
anew each time) so that it can be run again and again.

It tells the story on stdout (what was read, sent and received, what the second pass
skipped) one line per pipeline; the JSON log lines go to ``demo/demo.log``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from connectors.hepsiglobal.sandbox import Sandbox
from engine import logging as hglog
from engine.cli.demo_data import create_demo_database, write_carrier_drop
from engine.cli.demo_inbound import receive_demo, serve_demo
from engine.cli.demo_push import PRICE_DROP, STOCK_DROP, aim_marketplaces, write_supplier_drops
from engine.cli.report import run_text, seconds_text
from engine.definitions.loader import load_project
from engine.definitions.target_kinds import MarketplaceTarget
from engine.errors import ConfigError
from engine.outbound.run import RunResult, run_pipeline
from engine.store import StateStore

DEMO_DB = Path("demo") / "marketplace.db"
DEMO_STATE = Path("demo") / "state.db"
CARRIER_DROP = Path("demo") / "carrier-drop"
DEMO_LOG = Path("demo") / "demo.log"
_HEAD = f"  {'pipeline':<24}{'operation':<30}{'read':>5}{'new':>5}{'unchanged':>10}{'sent':>6}{'delivered':>10}  took"


def _point_at(project, sandbox: Sandbox, home: Path) -> None:
    """Aim every target at the demo's sandbox and the marketplace connection at the demo DB."""
    settings = project.settings
    targets = {
        name: t if isinstance(t, MarketplaceTarget) else t.model_copy(update={"base_url": sandbox.url})
        for name, t in settings.targets.items()
    }
    connections = {**settings.connections, "marketplace": f"sqlite:///{(home / DEMO_DB).resolve()}"}
    project.settings = settings.model_copy(update={"targets": targets, "connections": connections})


async def _pass(project, state: StateStore, names: list[str]) -> list[RunResult]:
    return [await run_pipeline(project, name, state, trigger="demo") for name in names]


def _line(result: RunResult, operation: str) -> str:
    c = result.counts
    return (
        f"  {result.pipeline:<24}{operation:<30}{c.get('read', 0):>5}{c.get('new', 0):>5}"
        f"{c.get('unchanged', 0):>10}{c.get('sent', 0):>6}{c.get('delivered', 0):>10}  {seconds_text(result.elapsed)}"
        + (f"  (in {c['requests']} requests)" if c.get("requests") else "")  # a bulk operation's batches
    )


def _table(project, results: list[RunResult]) -> None:
    click.echo(_HEAD)
    for result in results:
        click.echo(_line(result, project.pipelines[result.pipeline].operation.name))
    for result in results:
        if result.status != "ok":  # the whole summary of a run that did not go well
            click.echo(run_text(result))


def _received(records: list[dict]) -> str:
    by_operation: dict[str, int] = {}
    for record in records:
        by_operation[record["operation"]] = by_operation.get(record["operation"], 0) + 1
    return ", ".join(f"{n} {op}" for op, n in sorted(by_operation.items()))


def run_demo(home: Path, *, port: int = 0) -> int:
    counts = create_demo_database(home / DEMO_DB)
    click.echo(f"demo marketplace database {DEMO_DB}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    dropped = write_carrier_drop(home / DEMO_DB, home / CARRIER_DROP)
    priced, stocked = write_supplier_drops(home)
    click.echo(
        f"CSV files dropped: a carrier's {dropped} deliveries in {CARRIER_DROP}/, a supplier's {priced} prices "
        f"in {PRICE_DROP}/, a warehouse's {stocked} stock levels in {STOCK_DROP}/"
    )
    project = load_project(home, columns=True)
    project.raise_for_errors()
    if not project.pipelines:
        raise ConfigError(f"no pipelines in {home / 'pipelines'}")
    (home / DEMO_STATE).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (home / f"{DEMO_STATE}{suffix}").unlink(missing_ok=True)
    target = next(t for t in project.settings.targets.values() if not isinstance(t, MarketplaceTarget))
    with (
        (home / DEMO_LOG).open("w", encoding="utf-8") as log_file,
        Sandbox(
            port=port,
            client_id=target.client_id,
            client_secret=target.client_secret.get_secret_value(),
            corrections=target.operations,
        ) as sandbox,
    ):
        hglog.configure(json=True, level="info", stream=log_file)
        _point_at(project, sandbox, home)
        state = StateStore(f"sqlite:///{(home / DEMO_STATE).resolve()}")
        names = sorted(project.pipelines)
        receiver = serve_demo(project, state)  # the marketplace that stock and prices are pushed to
        if receiver is not None:
            aim_marketplaces(project, receiver.url)
        pushed_to = f", the marketplace's webhooks (hgsync's receiver) on {receiver.url}" if receiver else ""
        click.echo(f"HG sandbox on {sandbox.url}{pushed_to}; the log (JSON lines) goes to {DEMO_LOG}\n")
        try:
            click.echo("1. First pass: every row is new, so every row is sent")
            first = asyncio.run(_pass(project, state, names))
            _table(project, first)
            records = sandbox.records()
            received = len(records)
            click.echo(f"  the sandbox accepted {received} request(s): {_received(records)}\n")
            click.echo("2. Second pass: nothing changed, so nothing is sent")
            second = asyncio.run(_pass(project, state, names))
            _table(project, second)
            again = len(sandbox.records()) - received
            skipped = sum(r.counts.get("unchanged", 0) for r in second)
            click.echo(
                f"  {skipped} unchanged row(s) skipped; the carrier's CSV file was read once and archived; "
                f"the sandbox accepted {again} more request(s)"
            )
            click.echo("\n3. The other way: HG calls the marketplace")
            inbound = receive_demo(project, state, home / DEMO_DB, receiver)
        finally:
            if receiver is not None:
                receiver.stop()
            state.close()
            hglog.configure(json=True, stream=sys.stderr)
    click.echo(
        "\nnext: `hgsync plan create-orders` shows what a run would send, `hgsync history` the runs, "
        "`hgsync daemon` runs them on their schedules"
    )
    worst = max(r.exit_code for r in first + second)
    return max(worst, inbound)
