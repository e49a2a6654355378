"""`hgsync demo`: the whole loop on a fresh machine, with nothing to set up.

Creates the demo marketplace database, starts the HG sandbox on a free loopback port,
runs every pipeline in ``pipelines/``, prints the summary, then runs them all again to
show that nothing is sent twice. It uses its own state store (``demo/state.db``, made
anew each time) so that it can be run again and again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from connectors.hepsiglobal.sandbox import Sandbox
from engine.cli.demo_data import create_demo_database, write_carrier_drop
from engine.cli.demo_inbound import receive_demo
from engine.cli.report import run_text
from engine.definitions.loader import load_project
from engine.errors import ConfigError
from engine.outbound.run import RunResult, run_pipeline
from engine.store import StateStore

DEMO_DB = Path("demo") / "marketplace.db"
DEMO_STATE = Path("demo") / "state.db"
CARRIER_DROP = Path("demo") / "carrier-drop"


def _point_at(project, sandbox: Sandbox, home: Path) -> None:
    """Aim every target at the demo's sandbox and the marketplace connection at the demo DB."""
    settings = project.settings
    targets = {name: t.model_copy(update={"base_url": sandbox.url}) for name, t in settings.targets.items()}
    connections = {**settings.connections, "marketplace": f"sqlite:///{(home / DEMO_DB).resolve()}"}
    project.settings = settings.model_copy(update={"targets": targets, "connections": connections})


async def _pass(project, state: StateStore, names: list[str]) -> list[RunResult]:
    return [await run_pipeline(project, name, state, trigger="demo") for name in names]


def run_demo(home: Path, *, port: int = 0) -> int:
    counts = create_demo_database(home / DEMO_DB)
    click.echo(f"demo marketplace database {DEMO_DB}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    dropped = write_carrier_drop(home / DEMO_DB, home / CARRIER_DROP)
    click.echo(f"a carrier's CSV file in {CARRIER_DROP}/: {dropped} delivered items")
    project = load_project(home, columns=True)
    project.raise_for_errors()
    if not project.pipelines:
        raise ConfigError(f"no pipelines in {home / 'pipelines'}")
    (home / DEMO_STATE).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (home / f"{DEMO_STATE}{suffix}").unlink(missing_ok=True)
    target = next(iter(project.settings.targets.values()))
    with Sandbox(
        port=port, client_id=target.client_id, client_secret=target.client_secret.get_secret_value()
    ) as sandbox:
        _point_at(project, sandbox, home)
        click.echo(f"HG sandbox on {sandbox.url}\n")
        state = StateStore(f"sqlite:///{(home / DEMO_STATE).resolve()}")
        names = sorted(project.pipelines)
        try:
            click.echo("== first run: everything is new ==")
            first = asyncio.run(_pass(project, state, names))
            for result in first:
                click.echo(run_text(result))
            received = len(sandbox.records())
            click.echo(f"\nthe sandbox accepted {received} request(s)\n")
            click.echo("== second run: nothing changed, so nothing is sent ==")
            second = asyncio.run(_pass(project, state, names))
            for result in second:
                click.echo(run_text(result))
            again = len(sandbox.records()) - received
            click.echo(f"\nthe sandbox accepted {again} more request(s) on the second run")
            click.echo("\n== the other way: HG calls the marketplace ==")
            inbound = receive_demo(project, state, home / DEMO_DB)
        finally:
            state.close()
    worst = max(r.exit_code for r in first + second)
    return max(worst, inbound)
