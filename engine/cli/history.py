"""`hgsync history` and `hgsync resolve`: what runs did, which keys fail, which are in doubt."""

from __future__ import annotations

import click

from engine.cli.context import Context, guarded
from engine.errors import ConfigError


@click.command()
@click.argument("pipeline", required=False)
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--errors", "errors_of", metavar="RUN_ID", help="List the row errors of one run.")
@click.option("--failing", is_flag=True, help="List the keys whose last request was rejected or failed.")
@click.option(
    "--in-doubt",
    "in_doubt",
    is_flag=True,
    help="List the keys whose last request may have reached HG unanswered.",
)
@click.pass_obj
@guarded
def history(
    obj: Context, pipeline: str | None, limit: int, errors_of: str | None, failing: bool, in_doubt: bool
) -> None:
    """List past runs with their counts (newest first), one run's row errors, the failing keys
    or the keys in doubt."""
    from engine.cli.report import history_text

    project = obj.project()
    state = obj.state(project)
    try:
        if errors_of:
            record = state.find_run(errors_of)
            if record is None:
                raise ConfigError(f"no single run matches {errors_of!r}; `hgsync history` lists them")
            rows = state.run_errors(record.run_id)
            click.echo(f"{len(rows)} row error(s) in run {record.run_id} of {record.pipeline}")
            for row in rows:
                click.echo(f"  {row['origin']}  key {row['key']!r}: {row['reason']}")
            return
        if failing:
            names = [pipeline] if pipeline else sorted(project.files)
            for name in names:
                for row in state.failing(name, limit):
                    click.echo(
                        f"{name}  key {row['key']!r}  {row['status']} after {row['attempts']} attempt(s)"
                        f" (HTTP {row['last_status']}): {row['last_error']}  [{row['origin']}]"
                    )
            return
        if in_doubt:
            names = [pipeline] if pipeline else sorted(project.files)
            found = 0
            for name in names:
                for row in state.in_doubt(name, limit):
                    found += 1
                    since = row["updated_at"].strftime("%Y-%m-%d %H:%M:%S")
                    click.echo(
                        f"{name}  key {row['key']!r}  in doubt since {since} UTC (run {row['run_id']}, "
                        f"idempotency key {row['idempotency_key']}): {row['last_error']}  [{row['origin']}]"
                    )
            if found:
                click.echo(
                    "settle each: `hgsync resolve PIPELINE KEY --delivered` when HG has it, "
                    "`--resend` to send it again with the same idempotency key",
                    err=True,
                )
            else:
                click.echo("no keys in doubt", err=True)
            return
        click.echo(history_text(state.history(pipeline, limit)))
    finally:
        state.close()


@click.command()
@click.argument("pipeline")
@click.argument("key")
@click.option("--delivered", "how", flag_value="delivered", help="HG has it: count it delivered.")
@click.option(
    "--resend", "how", flag_value="resend", help="Send it again (same idempotency key) on the next run."
)
@click.pass_obj
@guarded
def resolve(obj: Context, pipeline: str, key: str, how: str | None) -> None:
    """Settle a key whose request is in doubt (its answer was lost): delivered, or to resend.

    Check with HG first (its order, refund or label of that number): `--delivered` when HG
    has it, `--resend` when it does not.
    """
    if how is None:
        raise click.UsageError("say what HG has: --delivered or --resend")
    project = obj.project()
    name = project.pipeline(pipeline).name
    state = obj.state(project)
    try:
        with state.locked(f"pipeline:{name}", owner="hgsync resolve"):
            try:
                was = state.resolve(name, key, delivered=how == "delivered", note=f"resolved by hand: {how}")
            except KeyError as exc:
                status = exc.args[0]
                what = "has no such key" if status is None else f"has it {status}, not in doubt"
                raise ConfigError(
                    f"{name} {what}: {key!r}; `hgsync history {name} --in-doubt` lists them"
                ) from None
    finally:
        state.close()
    then = "delivered" if how == "delivered" else "due to be sent again by the next run"
    click.echo(f"{name} key {key!r}: was {was}, now {then}")
