"""`hgsync sandbox`: HG's MP→HG API on loopback, with faults on demand."""

from __future__ import annotations

import os
import sys

import click

from engine.cli.context import EXIT_ROWS_FAILED


@click.command()
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
def sandbox(
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
) -> None:
    """Serve the HG sandbox on loopback: the MP→HG API as the spec describes, with faults on demand.

    Accepted requests are listed at /_sandbox/requests; faults can be changed at run time
    with PUT /_sandbox/faults.
    """
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
    server = Sandbox(
        host,
        port,
        client_id=client_id,
        client_secret=client_secret,
        token_ttl=token_ttl,
        faults=faults,
        refuse_repeats=refuse_repeats,
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
