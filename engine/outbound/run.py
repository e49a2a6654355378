"""One run of one pipeline, from source to summary: lock, plan, deliver, record.

``plan_pipeline`` is the dry half (``hgsync plan``); ``run_pipeline`` does it for real and
returns a :class:`RunResult` whose ``exit_code`` the CLI uses: 0 when every row was
delivered or unchanged, 1 when some rows failed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.hepsiglobal.push_client import client_for
from connectors.sources.base import CursorRead, SourceConnector
from engine.definitions.loader import Project
from engine.definitions.pipeline import Pipeline, check_columns
from engine.definitions.values import parse_lookback
from engine.errors import ConfigError, Interrupted
from engine.logging import get_logger
from engine.outbound import cursor
from engine.outbound.deliver import Outcome, Sender, deliver
from engine.outbound.plan import Plan, build_plan
from engine.outbound.responses import apply_responses
from engine.outbound.spool import Spool, SpoolRow
from engine.store import StateStore

log = get_logger("hgsync.run")
ROW_ERRORS_LOGGED = 100


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


@dataclass
class RunResult:
    run_id: str
    pipeline: str
    status: str  # ok | failed | interrupted
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)  # a sample of row errors
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first keys HG rejected or failed
    elapsed: float = 0.0  # seconds, from taking the lock to the last outcome

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "ok" else 1


def _lock_name(pipeline: str) -> str:
    return f"pipeline:{pipeline}"


@contextmanager
def _opened(project: Project, pipeline: Pipeline, state: StateStore) -> Iterator[SourceConnector]:
    """The pipeline's source, its columns checked against the templates, closed afterwards."""
    assert project.settings is not None
    source = pipeline.make_source(project.settings, project.home, state)
    try:
        columns = source.columns()
        if columns is not None and (problems := check_columns(pipeline, columns)):
            raise ConfigError(problems)
        yield source
    finally:
        source.close()


def _cursor_read(pipeline: Pipeline, source: SourceConnector, state: StateStore) -> CursorRead | None:
    """The incremental read to make: from the saved cursor minus the look-back (all rows the first time)."""
    incremental = source.incremental
    if incremental is None:
        return None
    saved = state.get_cursor(pipeline.name)
    if saved is None:
        return CursorRead(incremental.column, None)
    column, text = saved
    if column != incremental.column:
        log.warning("cursor_column_changed", saved=column, now=incremental.column, action="reading every row")
        return CursorRead(incremental.column, None)
    try:
        since = cursor.rewind(cursor.decode(text), parse_lookback(incremental.lookback))
    except ValueError as exc:
        raise ConfigError(f"{pipeline.file}: source cursor: {exc}") from None
    log.info("incremental_read", column=column, since=str(since))
    return CursorRead(incremental.column, since)


def _advance_cursor(plan: Plan, state: StateStore, run_id: str) -> None:
    """Save the cursor once every outcome is recorded: the highest value read, but never past
    a row that failed for a reason worth retrying (the next run must read it again)."""
    if plan.since is None or plan.cursor is None:
        return
    pending = [cursor.decode(text) for text in plan.spool.unfinished_cursors()]
    value = min(pending) if pending else plan.cursor
    state.save_cursor(plan.pipeline.name, plan.since.column, cursor.encode(value), run_id)


def _save_digests(plan: Plan, state: StateStore) -> None:
    """Keys whose rows rendered to their delivered requests keep the rows' digests, so that
    the next run finds them unchanged without rendering."""
    for page in plan.spool.refreshed_digests():
        state.save_digests(plan.pipeline.name, page)


@contextmanager
def plan_pipeline(
    project: Project, name: str, state: StateStore, *, retry_failed: bool = False
) -> Iterator[Plan]:
    """What a run would send, without sending or recording anything."""
    pipeline = project.pipeline(name)
    with (
        structlog.contextvars.bound_contextvars(pipeline=pipeline.name),
        _opened(project, pipeline, state) as source,
        Spool() as spool,
    ):
        since = _cursor_read(pipeline, source, state)
        yield build_plan(pipeline, source, state, spool, retry_failed=retry_failed, cursor=since)


def summarize(plan: Plan, sent: Counter[str]) -> dict[str, int]:
    counts = {
        "read": plan.read,
        **{
            k: plan.counts.get(k, 0)
            for k in (
                "new",
                "changed",
                "unchanged",
                "retry",
                "rejected",
                "held",
                "filtered",
                "error",
                "superseded",
            )
        },
    }
    counts["sent"] = sum(sent[k] for k in ("delivered", "rejected", "failed", "in_doubt"))
    counts["delivered"] = sent["delivered"]
    counts["duplicates"] = sent["duplicates"]  # delivered: HG already had them
    counts["send_rejected"] = sent["rejected"]
    counts["send_failed"] = sent["failed"]
    counts["in_doubt"] = sent["in_doubt"]
    counts["unsent"] = sent["unsent"]
    if "requests" in sent:  # a bulk operation: rows went out in fewer requests
        counts["requests"] = sent["requests"]
    return counts


async def run_pipeline(
    project: Project,
    name: str,
    state: StateStore,
    *,
    retry_failed: bool = False,
    trigger: str = "cli",
    stop: asyncio.Event | None = None,
    client: Sender | None = None,
    on_planned: Callable[[Plan], None] | None = None,
    on_outcome: Callable[[SpoolRow, Outcome], None] | None = None,
) -> RunResult:
    """Run one pipeline: take its lock, plan, send, and record the run.

    ``stop`` set: no new request is started (requests on the wire finish) and the run ends
    ``interrupted``. ``client``: a shared HG client (the daemon's, which keeps its token and
    rate limit across runs); by default the run opens its own.
    """
    pipeline = project.pipeline(name)
    assert project.settings is not None
    began = time.monotonic()
    run_id = new_run_id()
    lock = _lock_name(pipeline.name)
    state.acquire(lock, owner=f"hgsync {trigger} run {run_id}")
    try:
        settled = state.settle_in_flight(pipeline.name)
        abandoned = state.close_abandoned_runs(pipeline.name)
        with structlog.contextvars.bound_contextvars(pipeline=pipeline.name, run_id=run_id):
            if abandoned:
                log.warning("abandoned_runs_closed", runs=abandoned)
            if settled:
                log.warning(
                    "requests_in_doubt",
                    keys=settled,
                    why="a process stopped with these requests on the wire",
                    next="held for `hgsync resolve`" if pipeline.holds_in_doubt else "sent again, same key",
                )
            state.start_run(run_id, pipeline.name, trigger)
            log.info(
                "run_started", operation=pipeline.operation.name, mode=pipeline.spec.mode, trigger=trigger
            )
            context = _RunContext(project, pipeline, state, run_id, lock, stop or asyncio.Event())
            try:
                result = await context.run(retry_failed, client, on_planned, on_outcome)
                result.elapsed = round(time.monotonic() - began, 3)
            except (Interrupted, asyncio.CancelledError, KeyboardInterrupt) as exc:
                state.finish_run(
                    run_id,
                    "interrupted",
                    None,
                    "stopped before the plan was complete" if isinstance(exc, Interrupted) else "stopped",
                )
                log.warning("run_finished", status="interrupted")
                raise
            except BaseException as exc:
                state.finish_run(run_id, "error", None, f"{type(exc).__name__}: {exc}")
                log.error("run_finished", status="error", error=f"{type(exc).__name__}: {exc}")
                raise
            state.finish_run(run_id, result.status, result.counts)
            log.info("run_finished", status=result.status, seconds=result.elapsed, **result.counts)
            return result
    finally:
        state.release(lock)


class _Tally:
    """Follows each outcome as it arrives: requests retried, attempts beyond the first, the
    first keys HG rejected or that failed, then hands the outcome on."""

    SAMPLE = 5

    def __init__(self, pipeline: Pipeline, then: Callable[[SpoolRow, Outcome], None] | None):
        self.operation, self.then = pipeline.operation, then
        self.retried = self.retries = 0
        self.rejected: list[dict[str, Any]] = []
        self.last: Outcome | None = None  # the rows of one bulk request share its outcome

    def __call__(self, row: SpoolRow, outcome: Outcome) -> None:
        if outcome.attempts > 1 and outcome is not self.last:
            self.retried += 1
            self.retries += outcome.attempts - 1
        self.last = outcome
        duplicate = outcome.kind == "rejected" and self.operation.is_duplicate_answer(
            outcome.status, outcome.message
        )
        if outcome.kind != "delivered" and not duplicate and len(self.rejected) < self.SAMPLE:
            self.rejected.append(
                {
                    "key": row.key,
                    "origin": row.origin,
                    "kind": outcome.kind,
                    "status": outcome.status,
                    "message": outcome.message,
                }
            )
        if self.then is not None:
            self.then(row, outcome)


@dataclass
class _RunContext:
    project: Project
    pipeline: Pipeline
    state: StateStore
    run_id: str
    lock: str
    stop: asyncio.Event

    async def run(
        self,
        retry_failed: bool,
        client: Sender | None,
        on_planned: Callable[[Plan], None] | None,
        on_outcome: Callable[[SpoolRow, Outcome], None] | None,
    ) -> RunResult:
        assert self.project.settings is not None
        pipeline, state = self.pipeline, self.state
        target = self.project.settings.targets[pipeline.target]
        with _opened(self.project, pipeline, state) as source, Spool() as spool:
            since = _cursor_read(pipeline, source, state)
            # reading and rendering is blocking work: keep it off the event loop
            plan = await asyncio.to_thread(
                build_plan,
                pipeline,
                source,
                state,
                spool,
                retry_failed=retry_failed,
                cursor=since,
                stop=self.stop.is_set,
            )
            errors = self._report_plan(plan)
            await asyncio.to_thread(_save_digests, plan, state)
            if on_planned is not None:
                on_planned(plan)
            tally = _Tally(pipeline, on_outcome)
            sent: Counter[str] = Counter()
            if plan.to_send and not self.stop.is_set():
                async with AsyncExitStack() as stack:
                    sender = (
                        client if client is not None else await stack.enter_async_context(client_for(target))
                    )
                    sent = await deliver(
                        plan,
                        client=sender,
                        state=state,
                        run_id=self.run_id,
                        workers=target.concurrency,
                        stop=self.stop,
                        on_outcome=tally,
                        lock=self.lock,
                    )
            else:
                sent["unsent"] = plan.to_send
            counts = summarize(plan, sent)
            counts["requests_retried"] = tally.retried
            counts["retries"] = tally.retries
            if pipeline.response is not None:
                answers = apply_responses, pipeline, state, self.project.settings, self.project.home
                counts["responses_applied"], counts["responses_failed"] = await asyncio.to_thread(*answers)
            await asyncio.to_thread(
                source.finish,
                spool.batches(),
                complete=not counts["unsent"],
                errors=list(spool.undeliverable()),
            )
            if not counts["unsent"]:
                _advance_cursor(plan, state, self.run_id)
        failed = (
            counts["error"]
            + counts["rejected"]
            + counts["held"]
            + counts["send_rejected"]
            + counts["send_failed"]
            + counts["in_doubt"]
            + counts.get("responses_failed", 0)
        )
        status = "interrupted" if counts["unsent"] else ("failed" if failed else "ok")
        sample = [{"key": e.key, "origin": e.origin, "reason": e.reason} for e in errors[:10]]
        return RunResult(self.run_id, pipeline.name, status, counts, sample, tally.rejected)

    def _report_plan(self, plan: Plan) -> list[SpoolRow]:
        """Record and log the row errors and what the plan holds."""
        errors = list(plan.spool.errors())
        self.state.record_row_errors(
            self.run_id, self.pipeline.name, [(e.key, e.origin, e.reason or "") for e in errors]
        )
        for error in errors[:ROW_ERRORS_LOGGED]:
            log.warning("row_error", key=error.key, origin=error.origin, reason=error.reason)
        if len(errors) > ROW_ERRORS_LOGGED:
            log.warning("row_errors_truncated", shown=ROW_ERRORS_LOGGED, total=len(errors))
        if plan.counts.get("rejected"):
            log.info(
                "rejected_keys_skipped",
                count=plan.counts["rejected"],
                hint="use --retry-failed to send them again",
            )
        if plan.counts.get("held"):
            log.warning(
                "in_doubt_keys_held",
                count=plan.counts["held"],
                hint="`hgsync history --in-doubt` lists them; `hgsync resolve` settles each",
            )
        log.info("run_planned", read=plan.read, to_send=plan.to_send, **dict(plan.counts))
        self.state.record_counts(self.run_id, {"read": plan.read, **dict(plan.counts)})
        return errors
