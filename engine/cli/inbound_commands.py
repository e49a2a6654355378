"""`hgsync serve` and `hgsync inbox`: receiving HG's webhooks, and what became of each event."""

from __future__ import annotations

import json
import signal
import threading

import click

from engine.cli.context import Context, guarded
from engine.errors import ConfigError


@click.command()
@click.option("--host", help="Address to listen on (default: receiver.host of config).")
@click.option(
    "--port", type=int, help="Port to listen on (default: receiver.port of config; 0: any free one)."
)
@click.pass_obj
@guarded
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Receive HG's webhooks: authenticate, validate, store each event before acknowledging it,
    and apply it through the inbound pipelines (`receive:`); answer HG's queries (`answer:`).

    Runs until Ctrl-C or SIGTERM; calls in progress are answered first.
    """
    from engine.inbound.serve import InboundService

    project = obj.project()
    project.raise_for_errors()
    assert project.settings is not None
    state = obj.state(project)
    service = InboundService(
        project.settings,
        project.home,
        state,
        lambda: project.inbound,
        lambda: project.answers,
        host=host,
        port=port,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        url = service.start()
        click.echo(f"receiving HG's webhooks on {url} ({len(service.operations)} webhooks)", err=True)
        for name, pipeline in sorted({**project.inbound, **project.answers}.items()):
            click.echo(f"  {pipeline.operation.method} {pipeline.operation.path} → {name}", err=True)
        unhandled = sorted(
            set(service.operations)
            - {p.operation.name for p in [*project.inbound.values(), *project.answers.values()]}
        )
        if unhandled:
            click.echo(
                f"  kept in the inbox until a pipeline receives them: {', '.join(unhandled)}", err=True
            )
        while not stop.wait(0.5):
            if not service.alive:
                raise ConfigError("the receiver stopped unexpectedly; see the log above")
    finally:
        service.stop()
        state.close()


@click.group(invoke_without_command=True)
@click.option(
    "--status", type=click.Choice(["pending", "applied", "failed"]), help="Only events in this state."
)
@click.option("--operation", help="Only events of this webhook.")
@click.option("--limit", default=20, show_default=True, help="How many events to list (newest first).")
@click.option("--json", "as_json", is_flag=True, help="As JSON lines.")
@click.pass_context
def inbox(ctx: click.Context, status: str | None, operation: str | None, limit: int, as_json: bool) -> None:
    """The webhook events received: counts by webhook and state, then the newest events."""
    if ctx.invoked_subcommand is None:
        _list(ctx.obj, status, operation, limit, as_json)


@guarded
def _list(obj: Context, status: str | None, operation: str | None, limit: int, as_json: bool) -> None:
    project = obj.project()
    state = obj.state(project)
    try:
        events = state.inbox_events(status=status, operation=operation, limit=limit)
        if as_json:
            for event in events:
                click.echo(json.dumps(_event_json(event), default=str))
            return
        counts = state.inbox_counts()
        if not counts:
            click.echo("the inbox is empty: no webhook event received yet")
            return
        handled = {p.operation.name for p in project.inbound.values()}
        click.echo(f"{'webhook':<28} {'pending':>8} {'applied':>8} {'failed':>8}")
        for name, by_status in sorted(counts.items()):
            note = "" if name in handled else "  (no pipeline receives it: kept pending)"
            click.echo(
                f"{name:<28} {by_status.get('pending', 0):>8} {by_status.get('applied', 0):>8} "
                f"{by_status.get('failed', 0):>8}{note}"
            )
        if events:
            click.echo("")
            for event in events:
                when = event.received_at.strftime("%Y-%m-%d %H:%M:%S")
                reason = f"  after {event.attempts} attempt(s): {event.error}" if event.error else ""
                click.echo(
                    f"#{event.id}  {when} UTC  {event.operation}  {event.event_id}  {event.status}{reason}"
                )
        if any(by_status.get("failed") for by_status in counts.values()):
            click.echo("\nreplay failed events once fixed: hgsync inbox replay --failed", err=True)
    finally:
        state.close()


def _event_json(event: object) -> dict[str, object]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}  # type: ignore[attr-defined]


@inbox.command()
@click.argument("event", type=int)
@click.pass_obj
@guarded
def show(obj: Context, event: int) -> None:
    """One event as received, with its state (EVENT is the #number `hgsync inbox` lists)."""
    project = obj.project()
    state = obj.state(project)
    try:
        found = state.inbox_event(event)
        if found is None:
            raise ConfigError(f"no event #{event} in the inbox; `hgsync inbox` lists them")
        click.echo(json.dumps(_event_json(found), default=str, indent=2, ensure_ascii=False))
    finally:
        state.close()


@inbox.command()
@click.argument("events", type=int, nargs=-1)
@click.option("--failed", is_flag=True, help="Every event that failed for good.")
@click.pass_obj
@guarded
def replay(obj: Context, events: tuple[int, ...], failed: bool) -> None:
    """Apply events again: the given #numbers, or every failed one. A running `hgsync serve` or
    daemon applies them within a second; events are never applied twice to a table that keeps
    applied event ids (the default)."""
    if bool(events) == failed:
        raise click.UsageError("name event numbers, or give --failed")
    project = obj.project()
    state = obj.state(project)
    try:
        count = state.inbox_replay(events, failed=failed)
        click.echo(f"{count} event(s) due again")
        if events and count < len(events):
            raise ConfigError(f"{len(events) - count} of the numbers given are not in the inbox")
    finally:
        state.close()
