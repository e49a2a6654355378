"""The ``hgsync`` command. Verbs follow the life of a pipeline:

validate → ops → plan → run → history, and sandbox / demo / daemon around them.

Only the CLI catches broadly (:func:`engine.cli.context.guarded`): it prints the message, a
remedy, and exits 0 (all good), 1 (some rows failed, or a source or the state store could not
be used), 2 (config error) or 3 (another process holds the pipeline or the state store).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from engine.cli.context import EXIT_CONFIG, EXIT_ROWS_FAILED, Context, guarded
from engine.cli.history import history, resolve
from engine.cli.inbound_commands import inbox, serve
from engine.cli.init import complete_pipeline
from engine.cli.ops_command import ops
from engine.cli.sandbox_command import sandbox
from engine.errors import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hgsync", prog_name="hgsync", message="%(prog)s %(version)s")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("HGSYNC_HOME", "."),
    show_default="current folder, or $HGSYNC_HOME",
    help="The project folder holding config/hgsync.yaml and pipelines/.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Overrides config."
)
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), help="Overrides config.")
@click.pass_context
def main(ctx: click.Context, home: Path, log_level: str | None, log_format: str | None) -> None:
    """hgsync: keep a marketplace in sync with HepsiGlobal, from YAML pipelines."""
    from engine import logging as hglog  # here, not at the top: `hgsync --help` stays quick

    hglog.configure(
        json=None if log_format in (None, "auto") else log_format == "json", level=log_level or "info"
    )
    ctx.obj = Context(home.resolve(), log_level, log_format)


main.add_command(history)
main.add_command(resolve)
main.add_command(sandbox)
main.add_command(serve)
main.add_command(inbox)
main.add_command(ops)


@main.command()
@click.option("--offline", is_flag=True, help="Do not open sources: no column check, no rows rendered.")
@click.option(
    "--rows",
    "sample",
    default=20,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many rows of each source to render and check against HG's models (0: none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON, for scripts and CI.")
@click.pass_obj
@guarded
def validate(obj: Context, offline: bool, sample: int, as_json: bool) -> None:
    """Check config and every pipeline file; print every problem as file:line:col path: message.

    Never talks to HepsiGlobal. Checks each request body template against its operation's
    fields. Unless --offline, opens each source (a database, a CSV folder) to check that the
    columns templates use exist, and renders its first rows (--rows) into requests, each
    checked as HG would: a problem names the template leaf, the row, and the fix. Exits 0
    when clean, 2 when not.
    """
    from engine.definitions.body_check import body_problems
    from engine.outbound.check import sample_problems

    project = obj.project(columns=not offline, strict=False)
    unreachable = {p.file for p in project.problems if p.message.startswith("columns not checked")}
    for pipeline in list(project.pipelines.values()):
        project.problems.extend(body_problems(pipeline))
        if not offline and sample and project.settings is not None and pipeline.file not in unreachable:
            project.problems.extend(sample_problems(project, pipeline, sample))
    if as_json:
        from dataclasses import asdict

        problems = [asdict(p) for p in sorted(project.problems)]
        ok = not project.errors
        click.echo(json.dumps({"ok": ok, "pipelines": sorted(project.pipelines), "problems": problems}))
        sys.exit(0 if ok else EXIT_CONFIG)
    for problem in sorted(project.problems):
        click.echo(str(problem))
    errors = project.errors
    if errors:
        click.echo(f"{len(errors)} problem(s) in {len({p.file for p in errors})} file(s)", err=True)
        sys.exit(EXIT_CONFIG)
    inbound = len(project.inbound) + len(project.answers)
    click.echo(
        f"ok: config and {len(project.pipelines)} pipeline(s)" + (f", {inbound} inbound" if inbound else ""),
        err=True,
    )


@main.command()
@click.argument("pipeline", shell_complete=complete_pipeline)
@click.option("--retry-failed", is_flag=True, help="Count keys HG rejected earlier as due again.")
@click.option("--show", default=3, show_default=True, help="How many requests to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON, for scripts and CI.")
@click.pass_obj
@guarded
def plan(obj: Context, pipeline: str, retry_failed: bool, show: int, as_json: bool) -> None:
    """Show what `run` would send, sending nothing: new, changed, unchanged, failing rows.

    Exits 0 when every row renders, 1 when some fail to (as `run` would), 2 on a config error.
    """
    from engine.cli.report import plan_json, plan_text
    from engine.logging import redact_text
    from engine.outbound.run import plan_pipeline

    project = obj.project()
    pipe = project.pipeline(pipeline)
    state = obj.state(project)
    try:
        with plan_pipeline(project, pipe.name, state, retry_failed=retry_failed) as result:
            assert project.settings is not None
            base_url = project.settings.targets[pipe.target].base_url
            if as_json:
                text = json.dumps(plan_json(result, show=show, base_url=base_url), default=str)
            else:
                text = plan_text(result, show=show, base_url=base_url)
            click.echo(redact_text(text))  # a template may have put a secret in a request
            failing = result.counts.get("error", 0)
    finally:
        state.close()
    if failing:
        sys.exit(EXIT_ROWS_FAILED)


@main.command()
@click.argument("pipelines", nargs=-1, shell_complete=complete_pipeline)
@click.option("--all", "run_all", is_flag=True, help="Run every pipeline, in name order.")
@click.option("--retry-failed", is_flag=True, help="Send keys HG rejected earlier again, even if unchanged.")
@click.option(
    "--wait",
    "wait_seconds",
    type=float,
    default=0,
    show_default=True,
    help="If another process is running the pipeline, wait this many seconds for it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON lines, one per pipeline.")
@click.pass_obj
@guarded
def run(
    obj: Context,
    pipelines: tuple[str, ...],
    run_all: bool,
    retry_failed: bool,
    wait_seconds: float,
    as_json: bool,
) -> None:
    """Run pipelines for real: send what is new or changed, record outcomes, print a summary.

    Exits 0 when every row was delivered or unchanged, 1 when some failed, 2 on a config
    error, 3 when another process (the daemon) is running the pipeline.
    """
    from engine.cli.runner import run_many

    if bool(pipelines) == run_all:
        raise click.UsageError("name one or more pipelines, or give --all")
    project = obj.project()
    names = sorted(project.files) if run_all else list(pipelines)
    if run_all:
        project.raise_for_errors()
    else:
        for name in names:
            project.pipeline(name)
    state = obj.state(project)
    try:
        import asyncio

        code = asyncio.run(
            run_many(
                project,
                names,
                state,
                retry_failed=retry_failed,
                wait=wait_seconds,
                progress=not as_json,
                as_json=as_json,
            )
        )
    finally:
        state.close()
    sys.exit(code)


@main.command()
@click.option("--port", default=0, help="Port of the demo's sandbox (0: any free port).")
@click.pass_obj
@guarded
def demo(obj: Context, port: int) -> None:
    """Create the demo marketplace database, start a sandbox, run every example pipeline twice."""
    from engine.cli.demo import run_demo

    sys.exit(run_demo(obj.home, port=port))


@main.command()
@click.option(
    "--port", type=int, help="Port of /healthz, /metrics and the status page (overrides config; 0: any)."
)
@click.option(
    "--reload-interval", default=1.0, show_default=True, help="Seconds between checks for edited files."
)
@click.option(
    "--standby/--no-standby",
    default=None,
    help="When another daemon is active on the state store: wait and take over when it dies "
    "(default on a PostgreSQL store), or exit 3 (default on SQLite).",
)
@click.pass_obj
@guarded
def daemon(obj: Context, port: int | None, reload_interval: float, standby: bool | None) -> None:
    """Run every scheduled pipeline on its schedule until SIGTERM, reloading edited files.

    One daemon per state store. SIGTERM or Ctrl-C: requests in flight finish, then exit 0;
    a second signal stops at once. Status at http://127.0.0.1:8790/ by default.
    """
    from engine.service.scheduler import run_daemon

    obj.project()  # configures logging; the daemon loads the files itself
    sys.exit(run_daemon(obj.home, http_port=port, reload_interval=reload_interval, standby=standby))


@main.command()
@click.argument("what", type=click.Choice(["pipeline", "inbound", "config"]))
@click.pass_obj
def schema(obj: Context, what: str) -> None:
    """Print the JSON Schema of pipeline files or of config/hgsync.yaml, for editors; pipeline
    bodies follow the corrections of config/hgsync.yaml's target when it has one (`hgsync ops`)."""
    from engine.cli.ops_command import effective, read_settings
    from engine.definitions.schema import json_schema

    settings, _ = read_settings(obj.home) if what == "pipeline" else (None, None)
    targets = list(settings.targets) if settings is not None else []
    hg = [n for n in targets if settings is not None and settings.targets[n].kind == "hepsiglobal"]
    operations = effective(settings, hg[0]) if len(hg) == 1 else None
    click.echo(json.dumps(json_schema(what, operations), indent=2))  # type: ignore[arg-type]


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option(
    "-o",
    "--operation",
    "operations",
    multiple=True,
    metavar="NAME",
    help="An operation to draft a pipeline for (again for more); asked for on a terminal if none.",
)
@click.option("--force", is_flag=True, help="Replace files that exist.")
def init(folder: Path, operations: tuple[str, ...], force: bool) -> None:
    """Start a project in FOLDER: config, a pipeline per operation, JSON Schemas for editors.

    Each YAML file starts with `# yaml-language-server: $schema=...`, so editors complete and
    check it. Then: `hgsync --home FOLDER validate --offline`.
    """
    from engine.cli.init import write_project
    from engine.definitions.operations import UnknownOperationError
    from engine.definitions.plugins import known_operations

    usable = [name for name, op in known_operations().items() if op.pipeline]
    picked = list(operations)
    if not picked and sys.stdin.isatty():
        click.echo("operations: " + ", ".join(usable))
        answer = click.prompt("which ones (comma-separated)", default=usable[0])
        picked = [name.strip() for name in answer.split(",") if name.strip()]
    try:
        written = write_project(folder, picked, force)
    except UnknownOperationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"next: `hgsync --home {folder} validate --offline`, then point connections.marketplace at your data"
    )


@main.command("test")
@click.argument("pipeline", required=False, shell_complete=complete_pipeline)
@click.pass_obj
@guarded
def test_command(obj: Context, pipeline: str | None) -> None:
    """Run the mapping tests in pipelines/tests/: rows in, expected requests or row errors out
    (for an inbound pipeline: an event in, the rows it becomes out).

    Each pipelines/tests/NAME.yaml holds cases for pipelines/NAME.yaml; nothing is read,
    sent or written. Exits 0 when every case passes, 1 when one fails (with a diff), 2 on a bad file.
    """
    from engine.cli.report import cases_text
    from engine.definitions.cases import cases_file, load_cases
    from engine.definitions.loader import PIPELINES_DIR
    from engine.inbound import cases as inbound_cases
    from engine.outbound import cases as outbound_cases

    project = obj.project()
    if pipeline is None:
        project.raise_for_errors()
        names = sorted([*project.pipelines, *project.inbound])
    elif pipeline in project.inbound:
        names = [pipeline]
    else:
        names = [project.pipeline(pipeline).name]
    folder = project.home / PIPELINES_DIR
    failed = total = files = 0
    for name in names:
        path = cases_file(folder, name)
        if not path.exists():
            if pipeline:
                raise ConfigError(f"no cases for {name}: write {path.relative_to(project.home)}")
            continue
        display = str(path.relative_to(project.home))
        if name in project.inbound:
            cases = load_cases(path, display, "event", inbound_cases.EXPECTATIONS)
            results = inbound_cases.run_cases(project.inbound[name], cases)
        else:
            results = outbound_cases.run_cases(project.pipelines[name], load_cases(path, display))
        click.echo(cases_text(name, display, results))
        files += 1
        total += len(results)
        failed += sum(not r.passed for r in results)
    if not files:
        raise ConfigError(f"no cases in {folder.relative_to(project.home)}/tests/; see `hgsync test --help`")
    click.echo(f"{total} case(s) in {files} file(s): {total - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
