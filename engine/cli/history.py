"""`hgsync history` and `hgsync resolve`: what runs did, which keys fail, which are in doubt."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from engine.cli.context import Context, guarded
from engine.cli.init import complete_pipeline
from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.store import StateStore


@click.command()
@click.argument("pipeline", required=False, shell_complete=complete_pipeline)
@click.option("--limit", default=20, show_default=True, help="How many runs (or keys per pipeline) to list.")
@click.option("--errors", "errors_of", metavar="RUN_ID", help="List the row errors of one run.")
@click.option(
    "--failing",
    is_flag=True,
    help="List the keys whose last request was rejected or failed, and the rows that failed to "
    "render in each pipeline's last run.",
)
@click.option(
    "--in-doubt",
    "in_doubt",
    is_flag=True,
    help="List the keys whose last request may have reached HG unanswered.",
)
@click.option(
    "--results",
    is_flag=True,
    help="List the results HG reported later by webhook (refunds: accepted, rejected with the reason, "
    "or still awaited), by request id.",
)
@click.option("--key", metavar="KEY", help="Show one key of PIPELINE: its request, HG's answer, the result.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.pass_obj
@guarded
def history(
    obj: Context,
    pipeline: str | None,
    limit: int,
    errors_of: str | None,
    failing: bool,
    in_doubt: bool,
    results: bool,
    key: str | None,
    as_json: bool,
) -> None:
    """List past runs with their counts (newest first), one run's row errors, the failing keys,
    the keys in doubt, the results HG reported, or one key."""
    from engine.cli.report import failing_table, history_text, run_record_json

    project = obj.project()
    state = obj.state(project)
    names = [pipeline] if pipeline else sorted(project.files)
    try:
        if errors_of:
            record = state.find_run(errors_of)
            if record is None:
                raise ConfigError(f"no single run matches {errors_of!r}; `hgsync history` lists them")
            rows = state.run_errors(record.run_id)
            if as_json:
                click.echo(json.dumps({"run_id": record.run_id, "pipeline": record.pipeline, "errors": rows}))
                return
            click.echo(f"{len(rows)} row error(s) in run {record.run_id} of {record.pipeline}")
            for row in rows:
                click.echo(f"  {row['origin']}  key {row['key']!r}: {row['reason']}")
            return
        if failing:
            found = [row for name in names for row in _failing(state, name, limit)]
            if as_json:
                click.echo(json.dumps(found, default=str))
            elif found:
                click.echo(failing_table(found))
            else:
                click.echo("no failing keys and no row errors in the last runs", err=True)
            return
        if in_doubt:
            _print_in_doubt(state, names, limit, as_json)
            return
        if key is not None:
            if pipeline is None:
                raise click.UsageError("--key needs a PIPELINE")
            _print_key(state, project.pipeline(pipeline).name, key, as_json)
            return
        awaited = [n for n in names if n in project.pipelines and project.pipelines[n].operation.reference]
        if results:
            _print_results(state, awaited, limit, as_json)
            return
        records = state.history(pipeline, limit)
        if as_json:
            click.echo(json.dumps([run_record_json(r) for r in records]))
            return
        click.echo(history_text(records))
        for name in awaited if pipeline else []:
            counts = state.result_counts(name)
            if counts:
                shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
                click.echo(f"\nresults HG reported for {name}: {shown} (`hgsync history {name} --results`)")
    finally:
        state.close()


def _failing(state: StateStore, name: str, limit: int) -> list[dict[str, Any]]:
    """The pipeline's failing keys, then the rows its last finished run could not render."""
    rows: list[dict[str, Any]] = [
        {"pipeline": name, **row, "reason": row.pop("last_error")} for row in state.failing(name, limit)
    ]
    last = next((r for r in state.history(name, 5) if r.status != "running"), None)
    if last is not None:
        for error in state.run_errors(last.run_id, limit):
            rows.append(
                {
                    "pipeline": name,
                    "key": error["key"],
                    "status": "row error",
                    "attempts": None,
                    "last_status": None,
                    "origin": error["origin"],
                    "updated_at": last.started_at,
                    "reason": error["reason"],
                    "run_id": last.run_id,
                }
            )
    return rows


def _print_results(state: StateStore, names: list[str], limit: int, as_json: bool) -> None:
    found = [{"pipeline": name, **row} for name in names for row in state.results(name, limit)]
    if as_json:
        click.echo(json.dumps(found, default=str))
        return
    if not found:
        click.echo("no delivered requests await a result (only create_refund has one)", err=True)
        return
    head = f"{'PIPELINE':<20} {'KEY':<24} {'REQUEST ID':<38} {'RESULT':<10} {'DELIVERED':<20} REASON"
    click.echo(head)
    for row in found:
        delivered = row["delivered_at"].strftime("%Y-%m-%d %H:%M:%S") if row["delivered_at"] else ""
        click.echo(
            f"{row['pipeline']:<20} {row['key']:<24} {row['reference']:<38} {row['result']:<10} "
            f"{delivered:<20} {row['reason'] or ''}".rstrip()
        )


def _print_key(state: StateStore, name: str, key: str, as_json: bool) -> None:
    row = state.delivery(name, key)
    if row is None:
        raise ConfigError(f"{name} has no key {key!r} in the state store")
    if as_json:
        click.echo(json.dumps(row, default=str))
        return
    for field in (
        "status",
        "attempts",
        "last_status",
        "last_error",
        "idempotency_key",
        "origin",
        "delivered_at",
    ):
        if row.get(field) not in (None, ""):
            click.echo(f"{field}: {row[field]}")
    if row.get("reference"):
        result = row.get("result") or "awaiting"
        reason = f" ({row['result_reason']})" if row.get("result_reason") else ""
        click.echo(f"reference: {row['reference']}, result: {result}{reason}")
    for field, title in (("request", "request"), ("response", "HG's answer")):
        if row.get(field):
            click.echo(f"{title}:\n{json.dumps(json.loads(row[field]), indent=2, ensure_ascii=False)}")


def _print_in_doubt(state: StateStore, names: list[str], limit: int, as_json: bool) -> None:
    found = [{"pipeline": name, **row} for name in names for row in state.in_doubt(name, limit)]
    if as_json:
        click.echo(json.dumps(found, default=str))
        return
    for row in found:
        since = row["updated_at"].strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{row['pipeline']}  key {row['key']!r}  in doubt since {since} UTC (run {row['run_id']}, "
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
