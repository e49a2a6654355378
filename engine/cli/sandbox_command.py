"""`hgsync sandbox`: HG's MP→HG API on loopback, with faults on demand."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from engine.cli.context import EXIT_CONFIG, EXIT_ROWS_FAILED, Context, guarded
from engine.errors import ConfigError


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--client-id", default="sandbox", show_default=True)
@click.option(
    "--client-secret",
    default=lambda: os.environ.get("HG_SANDBOX_SECRET", "sandbox"),
    show_default="sandbox, or $HG_SANDBOX_SECRET",
)
@click.option("--token-ttl", default=3600.0, show_default=True, help="Seconds a token lives.")
@click.option("--fail-429", default=0.0, help="Share of requests answered 429 (0 to 1).")
@click.option("--retry-after", default=1.0, show_default=True, help="Retry-After of those 429s, in seconds.")
@click.option("--fail-500", default=0.0, help="Share of requests answered 500/502/503.")
@click.option("--drop", default=0.0, help="Share of connections closed without an answer.")
@click.option("--lost", default=0.0, help="Share of requests handled whose answer is then lost.")
@click.option(
    "--refuse-repeats", is_flag=True, help="Answer 409 to a second order, refund or label of one number."
)
@click.option("--delay", default=0.0, help="Seconds a slow answer waits.")
@click.option("--slow", default=0.0, help="Share of answers that wait --delay seconds.")
@click.option("--seed", type=int, help="Seed of the fault choices, for repeatable runs.")
@click.option(
    "--target",
    help="Serve the catalog as this target of config/hgsync.yaml corrects it (its operations: "
    "method, path, fields, choices), as the client sends and checks it.",
)
@click.pass_context
def sandbox(
    ctx: click.Context,
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    token_ttl: float,
    fail_429: float,
    retry_after: float,
    fail_500: float,
    drop: float,
    lost: float,
    refuse_repeats: bool,
    delay: float,
    slow: float,
    seed: int | None,
    target: str | None,
) -> None:
    """Serve the HG sandbox on loopback: the MP→HG API as the spec describes, with faults on demand.

    Accepted requests are listed at /_sandbox/requests; faults can be changed at run time
    with PUT /_sandbox/faults. `hgsync sandbox fire` plays HG the other way: it fires webhook
    events at a receiver.
    """
    if ctx.invoked_subcommand is not None:
        return
    from connectors.hepsiglobal.sandbox import Faults, Sandbox

    try:
        faults = Faults(
            rate_429=fail_429,
            retry_after=retry_after,
            rate_500=fail_500,
            rate_drop=drop,
            rate_lost=lost,
            delay=delay,
            rate_delay=slow,
            seed=seed,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    corrections = _corrections(ctx.obj, target)
    server = Sandbox(
        host,
        port,
        client_id=client_id,
        client_secret=client_secret,
        token_ttl=token_ttl,
        faults=faults,
        refuse_repeats=refuse_repeats,
        corrections=corrections,
    )
    try:
        server.start()
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        sys.exit(EXIT_ROWS_FAILED)
    click.echo(f"HG sandbox listening on {server.url} (client id {client_id!r}); Ctrl-C stops it", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _corrections(obj: Context, target: str | None) -> dict[str, Any]:
    """``--target``'s corrections of the catalog (an unreadable config or unknown target: exit 2)."""
    from engine.cli.ops_command import pick_target, read_settings

    if target is None:
        settings, _ = read_settings(obj.home)
        targets = (settings.targets if settings else {}).items()
        correcting = [n for n, t in targets if t.operations and t.kind == "hepsiglobal"]
        if correcting:
            click.echo(
                f"note: config/hgsync.yaml corrects operations of target {correcting[0]!r}; serving the "
                f"catalog as built in (--target {correcting[0]} serves the corrections)",
                err=True,
            )
        return {}

    settings, why = read_settings(obj.home)
    if settings is None:
        click.echo(f"error: --target needs the config: {why or 'no config/hgsync.yaml'}", err=True)
        sys.exit(EXIT_CONFIG)
    name = pick_target(settings, target)
    assert name is not None
    corrections = dict(settings.targets[name].operations)
    if corrections:
        click.echo(f"serving the corrections of target {name!r}: {', '.join(corrections)}", err=True)
    return corrections


@sandbox.command()
@click.option("--to", "url", help="The receiver's URL (default: receiver.host and port of config).")
@click.option("--count", default=100, show_default=True, help="How many calls to fire.")
@click.option(
    "--only",
    "only",
    multiple=True,
    help="Fire only these webhooks (repeatable; default: all with an example).",
)
@click.option("--duplicates", default=0.0, help="Share of calls that repeat an earlier event exactly.")
@click.option("--bad-auth", default=0.0, help="Share of calls with a wrong signature, token or password.")
@click.option("--invalid", default=0.0, help="Share of calls whose body is not valid.")
@click.option("--concurrency", default=16, show_default=True, help="Calls in flight at once.")
@click.option("--seed", type=int, help="Seed of the choices, for repeatable runs.")
@click.pass_obj
@guarded
def fire(
    obj: Context,
    url: str | None,
    count: int,
    only: tuple[str, ...],
    duplicates: float,
    bad_auth: float,
    invalid: float,
    concurrency: int,
    seed: int | None,
) -> None:
    """Fire webhook events at a receiver as HG would, signed with the receiver's credentials
    from config; print how each kind of call was answered. Exits 1 on any unexpected answer."""
    from connectors.hepsiglobal.sandbox.fire import fire as fire_events
    from engine.inbound.serve import webhook_operations

    project = obj.project()
    settings = project.settings
    assert settings is not None
    if settings.receiver is None:
        raise ConfigError(
            "config/hgsync.yaml has no receiver: block, so there are no credentials to fire with"
        )
    operations = webhook_operations(settings)
    unknown = sorted(set(only) - set(operations))
    if unknown:
        raise ConfigError(f"no webhook named {', '.join(unknown)} (`hgsync ops` lists them)")
    receiver = settings.receiver
    target = url or f"http://{receiver.host}:{receiver.port}"
    mix = {name: 1.0 for name in only} if only else None
    import asyncio

    report = asyncio.run(
        fire_events(
            target,
            list(operations.values()),
            receiver.auth,
            count=count,
            duplicates=duplicates,
            forged=bad_auth,
            invalid=invalid,
            concurrency=concurrency,
            event_id_header=receiver.event_id_header,
            seed=seed,
            mix=mix,
        )
    )
    click.echo(report.summary())
    if report.unexpected:
        sys.exit(EXIT_ROWS_FAILED)
