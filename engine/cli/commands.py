"""The ``hgsync`` command. Verbs follow the life of a pipeline:

validate → ops → plan → run → history, and sandbox / demo / daemon around them.

Only this module catches broadly: it prints the message, a remedy, and exits 0 (all good),
1 (some rows failed, or a source or the state store could not be used), 2 (config error) or
3 (another process holds the pipeline or the state store).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from engine import logging as hglog
from engine.definitions.loader import Project, load_project
from engine.definitions.settings import resolve_url
from engine.errors import ConfigError, CredentialsRefused, HgsyncError, LockedError, SourceConfigError
from engine.store import StateStore

EXIT_OK, EXIT_ROWS_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3


def _fail(exc: HgsyncError) -> NoReturn:
    click.echo(f"error: {exc}", err=True)
    if exc.remedy:
        click.echo(f"  → {exc.remedy}", err=True)
    if isinstance(exc, ConfigError | CredentialsRefused | SourceConfigError):
        sys.exit(EXIT_CONFIG)
    sys.exit(EXIT_LOCKED if isinstance(exc, LockedError) else EXIT_ROWS_FAILED)


class Context:
    def __init__(self, home: Path, log_level: str | None, log_format: str | None):
        self.home = home
        self.log_level = log_level
        self.log_format = log_format

    def project(self, *, columns: bool = False, strict: bool = True) -> Project:
        project = load_project(self.home, columns=columns)
        if project.settings is not None:
            settings = project.settings.logging
            fmt = self.log_format or settings.format
            hglog.configure(
                json=None if fmt == "auto" else fmt == "json", level=self.log_level or settings.level
            )
        if strict and project.settings is None:
            raise ConfigError(project.errors)
        return project

    def state(self, project: Project) -> StateStore:
        assert project.settings is not None
        return StateStore(resolve_url(project.settings.state, project.home))


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HgsyncError as exc:
            _fail(exc)
        except (KeyboardInterrupt, asyncio.CancelledError):
            click.echo("interrupted", err=True)
            sys.exit(130)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    hglog.configure(
        json=None if log_format in (None, "auto") else log_format == "json", level=log_level or "info"
    )
    ctx.obj = Context(home.resolve(), log_level, log_format)


@main.command()
@click.option("--offline", is_flag=True, help="Do not open sources to check the columns templates use.")
@click.pass_obj
@guarded
def validate(obj: Context, offline: bool) -> None:
    """Check config and every pipeline file; print every problem as file:line:col path: message.

    Never talks to HepsiGlobal. Unless --offline, opens each source (a database, a CSV
    folder) to check that the columns templates use exist. Exits 0 when clean, 2 when not.
    """
    project = obj.project(columns=not offline, strict=False)
    for problem in sorted(project.problems):
        click.echo(str(problem))
    errors = project.errors
    if errors:
        click.echo(f"{len(errors)} problem(s) in {len({p.file for p in errors})} file(s)", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"ok: config and {len(project.pipelines)} pipeline(s)", err=True)


@main.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="The catalog (or one operation) as JSON.")
def ops(name: str | None, as_json: bool) -> None:
    """List the HepsiGlobal operations pipelines can use, or show one (method, path, fields, example)."""
    from engine.cli.ops_text import describe
    from engine.definitions.operations import UnknownOperationError
    from engine.definitions.plugins import known_operations, resolve

    catalog = known_operations()

    if name is None:
        if as_json:
            rows = [
                {
                    "name": o.name,
                    "title": o.title,
                    "method": o.method,
                    "path": o.path,
                    "certainty": o.certainty,
                    "pipeline": o.pipeline,
                }
                for o in catalog.values()
            ]
            click.echo(json.dumps(rows, indent=2))
            return
        width = max(len(o.name) for o in catalog.values())
        for op in catalog.values():
            note = "" if op.pipeline else "  (used by hgsync itself)"
            click.echo(f"{op.name:<{width}}  {op.method:<4} {op.path:<62} {op.title}{note}")
        return
    try:
        op = resolve(name)
    except UnknownOperationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    if as_json:
        schema = op.model.model_json_schema() if op.model else None
        click.echo(
            json.dumps(
                {
                    "name": op.name,
                    "method": op.method,
                    "path": op.path,
                    "schema": schema,
                    "example": op.example,
                },
                indent=2,
            )
        )
        return
    click.echo(describe(op))


@main.command()
@click.argument("pipeline")
@click.option("--retry-failed", is_flag=True, help="Count keys HG rejected earlier as due again.")
@click.option("--show", default=3, show_default=True, help="How many requests to show.")
@click.pass_obj
@guarded
def plan(obj: Context, pipeline: str, retry_failed: bool, show: int) -> None:
    """Show what `run` would send, sending nothing: new, changed, unchanged, failing rows."""
    from engine.cli.report import plan_text
    from engine.outbound.run import plan_pipeline

    project = obj.project()
    pipe = project.pipeline(pipeline)
    state = obj.state(project)
    try:
        with plan_pipeline(project, pipe.name, state, retry_failed=retry_failed) as result:
            assert project.settings is not None
            click.echo(plan_text(result, show=show, base_url=project.settings.targets[pipe.target].base_url))
    finally:
        state.close()


@main.command()
@click.argument("pipelines", nargs=-1)
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
@click.pass_obj
@guarded
def run(
    obj: Context, pipelines: tuple[str, ...], run_all: bool, retry_failed: bool, wait_seconds: float
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
        code = asyncio.run(
            run_many(
                project,
                names,
                state,
                retry_failed=retry_failed,
                wait=wait_seconds,
                progress=sys.stdout.isatty(),
            )
        )
    finally:
        state.close()
    sys.exit(code)


@main.command()
@click.argument("pipeline", required=False)
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--errors", "errors_of", metavar="RUN_ID", help="List the row errors of one run.")
@click.option("--failing", is_flag=True, help="List the keys whose last request was rejected or failed.")
@click.pass_obj
@guarded
def history(obj: Context, pipeline: str | None, limit: int, errors_of: str | None, failing: bool) -> None:
    """List past runs with their counts (newest first), or one run's row errors."""
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
        click.echo(history_text(state.history(pipeline, limit)))
    finally:
        state.close()


@main.command()
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
            delay=delay,
            rate_delay=slow,
            seed=seed,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    server = Sandbox(
        host, port, client_id=client_id, client_secret=client_secret, token_ttl=token_ttl, faults=faults
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
@click.pass_obj
@guarded
def daemon(obj: Context, port: int | None, reload_interval: float) -> None:
    """Run every scheduled pipeline on its schedule until SIGTERM, reloading edited files.

    One daemon per state store. SIGTERM or Ctrl-C: requests in flight finish, then exit 0;
    a second signal stops at once. Status at http://127.0.0.1:8790/ by default.
    """
    from engine.service.scheduler import run_daemon

    obj.project()  # configures logging; the daemon loads the files itself
    sys.exit(run_daemon(obj.home, http_port=port, reload_interval=reload_interval))


@main.command()
@click.argument("what", type=click.Choice(["pipeline", "config"]))
def schema(what: str) -> None:
    """Print the JSON Schema of pipeline files or of config/hgsync.yaml, for editors."""
    from engine.definitions.schema import json_schema

    click.echo(json.dumps(json_schema(what), indent=2))  # type: ignore[arg-type]
