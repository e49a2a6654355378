"""`hgsync run` for one or more pipelines: one after another, each with a summary.

Waits for a pipeline another process is running when asked to (``--wait``), shows a
progress bar on a terminal for long runs, and turns the results into one exit code. The
first Ctrl-C (or SIGTERM) lets requests in flight finish and records them, then stops; a
second one stops at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import click

from engine import logging as hglog
from engine import signals
from engine.cli.report import run_json, run_text
from engine.definitions.loader import Project
from engine.errors import Interrupted, LockedError, SourceConfigError, SourceError
from engine.outbound.plan import Plan
from engine.outbound.run import run_pipeline
from engine.store import StateStore

PROGRESS_FROM = 50  # rows to send before a progress bar is worth showing
LOCK_POLL = 0.5


async def _run_waiting(project: Project, name: str, state: StateStore, wait: float, **kwargs: Any):
    deadline = time.monotonic() + wait
    while True:
        try:
            return await run_pipeline(project, name, state, **kwargs)
        except LockedError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(LOCK_POLL)


class _Progress:
    """A rich progress bar for one run: rows sent of those to send, rate, time left.

    Drawn on the console log lines go to (:func:`engine.logging.console`), so that retry
    warnings print above the bar; shown only on a terminal and only for long runs."""

    def __init__(self, name: str, enabled: bool):
        self.name, self.enabled = name, enabled
        self.bar: Any = None
        self.task: Any = None

    def planned(self, plan: Plan) -> None:
        terminal = hglog.console()
        if not (self.enabled and terminal is not None and plan.to_send >= PROGRESS_FROM):
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=terminal,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(f"{self.name}: sending", total=plan.to_send, rate="-")

    def sent(self, _row: object, _outcome: object) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
            speed = self.bar.tasks[0].speed
            self.bar.update(self.task, rate=f"{speed:,.0f}" if speed else "-")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


async def run_many(
    project: Project,
    names: list[str],
    state: StateStore,
    *,
    retry_failed: bool,
    wait: float,
    progress: bool,
    as_json: bool = False,
) -> int:
    """Run ``names`` in order; the exit code is the worst of their outcomes (0, 1 or 3)."""
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None

    def stop_cleanly(_sig: object) -> None:
        click.echo("stopping once the requests in flight are answered (again to stop at once)", err=True)
        stop.set()

    restore = signals.install(stop_cleanly, lambda _sig: main.cancel())
    try:
        return await _run_all(
            project,
            names,
            state,
            stop,
            retry_failed=retry_failed,
            wait=wait,
            progress=progress,
            as_json=as_json,
        )
    finally:
        restore()


async def _run_all(
    project: Project,
    names: list[str],
    state: StateStore,
    stop: asyncio.Event,
    *,
    retry_failed: bool,
    wait: float,
    progress: bool,
    as_json: bool,
) -> int:
    code = 0
    for name in names:
        if stop.is_set():
            click.echo(f"{name}: not run: stopped", err=True)
            code = max(code, 1)
            continue
        bar = _Progress(name, progress)
        try:
            result = await _run_waiting(
                project,
                name,
                state,
                wait,
                retry_failed=retry_failed,
                stop=stop,
                on_planned=bar.planned,
                on_outcome=bar.sent,
            )
        except LockedError as exc:
            click.echo(f"{name}: not run: {exc}", err=True)
            click.echo("  → wait for it to finish, or pass --wait SECONDS", err=True)
            code = max(code, 3)
            continue
        except SourceConfigError as exc:
            click.echo(f"{name}: not run: {exc}", err=True)
            click.echo(f"  → {exc.remedy}", err=True)
            code = max(code, 2)
            continue
        except (SourceError, Interrupted) as exc:
            click.echo(f"{name}: not run: {exc}", err=True)
            code = max(code, 1)
            continue
        finally:
            bar.close()
        click.echo(json.dumps(run_json(result)) if as_json else run_text(result))
        code = max(code, result.exit_code)
    return code
