"""The second half of a run: send what the plan says, and commit the outcomes as they arrive.

A fixed pool of workers (the target's concurrency) takes units from the spool in the order
they were read: a row each, or for a bulk operation a batch of rows sent in one request
(:mod:`engine.outbound.batches`; each row's outcome is still its own). Before requests go
out their keys are marked ``sending`` with the requests' idempotency keys, a window of units
(the concurrency) per transaction; outcomes are committed
in groups, every COMMIT_EVERY (50 ms) or as soon as there are as many waiting as workers. After a
crash, the keys left ``sending`` are in doubt (sent again, same idempotency key), and HG
has received twice at most the requests on the wire plus the outcomes not yet committed:
two times the concurrency. Setting ``stop`` lets requests on the wire finish and starts no
new ones: what was not sent is put back as it was, to be sent by the next run.

A request whose answer was lost is *in doubt*: HG may have it. For an idempotent operation
that changes nothing (it is sent again). For one that is not, the key is left ``in_doubt``:
sent again with the same idempotency key by a pipeline that resends, held for a person by
one that holds (the client is told to stop at the first doubt). When HG answers a resend of
an in-doubt request with one of the operation's "already have it" answers (a 409...), the
key counts as delivered. When the target refuses our credentials, every worker stops, the
keys whose requests never left are put back as they were, and the error ends the run. Each
``sending`` mark is fenced by the pipeline's lock: a process that stalled and was taken over
(a standby daemon took its place) finds it gone and stops sending at once (LockLost).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from engine.definitions.operations import Operation
from engine.errors import CredentialsRefused, LockLost
from engine.logging import get_logger
from engine.outbound.batches import Unit, batch_size, send_unit, units
from engine.outbound.plan import Plan
from engine.outbound.spool import SpoolRow
from engine.store import Mark, Settled, StateStore

log = get_logger("hgsync.deliver")
HEARTBEAT_EVERY = 15.0
COMMIT_EVERY = 0.05  # seconds an outcome may wait for its commit


class Outcome(Protocol):
    kind: str  # delivered | rejected | failed | in_doubt
    status: int | None
    message: str | None
    attempts: int
    doubted: bool
    data: Any  # HG's answer (its ``data``), when delivered


def _answer(operation: Operation, outcome: Outcome) -> tuple[str | None, str | None]:
    """HG's answer to a delivered request as kept in the store (JSON text), and the reference in
    it that a later webhook names (Create Refund's request id)."""
    data = getattr(outcome, "data", None)
    if data is None or data == {}:
        return None, None
    return json.dumps(data, ensure_ascii=False, default=str), operation.reference_in(data)


class Sender(Protocol):
    async def send(
        self, method: str, path: str, body: Any, *, idempotency_key: str | None, stop_when_in_doubt: bool
    ) -> Outcome: ...


async def deliver(
    plan: Plan,
    *,
    client: Sender,
    state: StateStore,
    run_id: str,
    workers: int,
    stop: asyncio.Event | None = None,
    on_outcome: Callable[[SpoolRow, Outcome], None] | None = None,
    lock: str | None = None,
) -> Counter[str]:
    """Send every row the plan marked new, changed or retry; count outcomes by kind."""
    pipeline = plan.pipeline
    outer = stop or asyncio.Event()
    stop = asyncio.Event()  # the caller's stop, or this delivery's own (credentials refused)
    counts: Counter[str] = Counter()
    queue: asyncio.Queue[Unit | None] = asyncio.Queue(maxsize=workers)
    size = batch_size(pipeline) or 1  # a unit's rows are committed together
    commits = _Commits(state, plan, run_id, lock, limit=max(workers, size), stop=stop)
    unsent: list[SpoolRow] = []  # marked ``sending``, never sent: put back as they were

    async def queue_window(window: list[Unit]) -> bool:
        """Mark a window of units' rows ``sending`` in one transaction, then hand them to the workers."""
        if stop.is_set():
            return False
        marks = [
            Mark(row.key, row.fingerprint, row.origin, unit.key)  # type: ignore[arg-type]
            for unit in window
            for row in unit.rows
        ]
        try:
            commits.mark(marks)
        except LockLost as exc:  # another process took this pipeline over: send nothing more
            ended.append(exc)
            stop.set()
            return False
        queued = 0
        try:
            for unit in window:  # workers take units after a stop too: they put their rows back
                await queue.put(unit)
                queued += 1
        except asyncio.CancelledError:  # the run ends with an error: marked, never sent, put back
            unsent.extend(row for unit in window[queued:] for row in unit.rows)
            raise
        return not stop.is_set()

    async def feed() -> None:
        window: list[Unit] = []
        for unit in units(plan.spool.to_send(), pipeline):
            window.append(unit)
            if len(window) >= workers:
                if not await queue_window(window):
                    return
                window = []
        if window:
            await queue_window(window)

    async def produce() -> None:
        await feed()
        # only when feeding ended as it should: after an error the workers are cancelled, and
        # waiting here for room in the queue would wait for ever
        for _ in range(workers):
            await queue.put(None)

    operation = pipeline.operation
    hold = pipeline.holds_in_doubt
    ended: list[CredentialsRefused | LockLost] = []  # why the workers stopped on their own

    async def work() -> None:
        while (unit := await queue.get()) is not None:
            if stop.is_set():
                unsent.extend(unit.rows)
                continue
            if unit.bulk:
                await send_bulk(unit)
                continue
            row, request_key = unit.rows[0], unit.key
            request = row.request or {}
            assert row.key is not None and row.fingerprint is not None
            # the client's own events (request_retried, request_rejected) then name the row too
            with structlog.contextvars.bound_contextvars(key=row.key, origin=row.origin):
                try:
                    outcome = await client.send(
                        request["method"],
                        request["path"],
                        request.get("body"),
                        idempotency_key=request_key,
                        stop_when_in_doubt=hold,
                    )
                except CredentialsRefused as exc:
                    unsent.append(row)
                    ended.append(exc)
                    stop.set()
                    continue
            finish(row, request_key, outcome)

    async def send_bulk(unit: Unit) -> None:
        """A unit of a bulk operation: its requests (split when refused), each row's outcome
        committed with the other rows of its request."""

        def settle(rows: list[SpoolRow], outcome: Outcome) -> None:
            for row in rows:
                finish(row, unit.key, outcome, logged=False)
            commits.flush()

        try:
            made = await send_unit(
                unit,
                client,
                pipeline=pipeline.name,
                hold=hold,
                settle=settle,
                stopped=stop.is_set,
                unsent=unsent.extend,
            )
            counts["requests"] += made  # after the await: workers add to it concurrently
        except CredentialsRefused as exc:
            ended.append(exc)
            stop.set()

    def finish(row: SpoolRow, request_key: str, outcome: Outcome, *, logged: bool = True) -> None:
        """Commit what became of ``row``'s request (``logged``: a failure is logged per row)."""
        assert row.key is not None and row.fingerprint is not None
        kind, message = _settle(outcome, row)
        settled = Settled(
            row.key,
            kind,
            row.fingerprint,
            row.request_json or "null",
            outcome.status,
            message,
            outcome.attempts,
            row.origin,
            row.digest if kind == "delivered" else None,
            *(_answer(operation, outcome) if kind == "delivered" else (None, None)),
            apply_response=kind == "delivered" and pipeline.response is not None,
        )
        try:
            # a request in doubt is committed before anything else happens
            commits.outcome(settled, row.seq, now=kind == "in_doubt")
        except LockLost as exc:  # the outcome is committed; nothing more is sent
            ended.append(exc)
            stop.set()
        counts[kind] += 1
        if kind == "failed" and logged:
            log.warning(
                "request_failed",
                key=row.key,
                origin=row.origin,
                status=outcome.status,
                reason=message,
                attempts=outcome.attempts,
                next="sent again by the next run",
            )
        elif kind == "in_doubt" and logged:
            log.warning(
                "request_in_doubt",
                key=row.key,
                origin=row.origin,
                reason=message,
                idempotency_key=request_key,
                next="held: `hgsync resolve` settles it" if hold else "sent again by the next run, same key",
            )
        if on_outcome is not None:
            on_outcome(row, outcome)

    def _settle(outcome: Outcome, row: SpoolRow) -> tuple[str, str | None]:
        """What the key becomes: the outcome's kind, but ``delivered`` for HG's "already have
        it" to a request in doubt, and ``in_doubt`` for a non-idempotent request that failed
        after an attempt that may have reached HG."""
        was_in_doubt = outcome.doubted or row.state in ("in_doubt", "sending")
        if (
            outcome.kind == "rejected"
            and was_in_doubt
            and operation.is_duplicate_answer(outcome.status, outcome.message)
        ):
            log.info("request_duplicate_refused", key=row.key, status=outcome.status, message=outcome.message)
            counts["duplicates"] += 1
            return "delivered", f"duplicate refused by HG (HTTP {outcome.status}): {outcome.message}"
        if outcome.kind == "failed" and outcome.doubted and not operation.idempotent:
            return "in_doubt", outcome.message
        return outcome.kind, outcome.message

    async def follow_outer() -> None:
        await outer.wait()
        stop.set()

    follower = asyncio.create_task(follow_outer())
    producer = asyncio.create_task(produce())
    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    try:
        await asyncio.gather(producer, *tasks)
    except BaseException:
        producer.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(producer, *tasks, return_exceptions=True)
        raise
    finally:
        follower.cancel()
        while not queue.empty():
            if (item := queue.get_nowait()) is not None:
                unsent.extend(item.rows)
        commits.close()
        if unsent:
            state.revert_sending(pipeline.name, run_id, [(row.key, row.state) for row in unsent])  # type: ignore[misc]
    counts["unsent"] = plan.to_send - sum(counts[k] for k in ("delivered", "rejected", "failed", "in_doubt"))
    if ended:
        raise ended[0]
    if commits.error is not None:
        raise commits.error
    return counts


class _Commits:
    """Outcomes committed in groups, marks in windows. A window of rows is marked ``sending``
    in one transaction (with the outcomes waiting) before any of them goes out; outcomes are
    committed every COMMIT_EVERY seconds, or at once when ``limit`` are waiting or one is in
    doubt. All on the event loop's thread: a writer thread would contend with it for the GIL.
    A crash loses at most the outcomes waiting (``limit``) on top of the requests on the wire."""

    def __init__(
        self, state: StateStore, plan: Plan, run_id: str, lock: str | None, *, limit: int, stop: asyncio.Event
    ):
        self.state, self.spool, self.pipeline = state, plan.spool, plan.pipeline.name
        self.run_id, self.lock, self.limit, self.stop = run_id, lock, max(1, limit), stop
        self.loop = asyncio.get_running_loop()
        self.last_beat = self.loop.time()
        self.outcomes: list[Settled] = []
        self.seqs: list[int] = []
        self.timer: asyncio.TimerHandle | None = None
        self.error: Exception | None = None  # of a commit made on the timer

    def mark(self, marks: list[Mark]) -> None:
        """Commit the waiting outcomes and mark ``marks`` ``sending`` (LockLost: not marked)."""
        self._commit(marks)

    def outcome(self, settled: Settled, seq: int, *, now: bool = False) -> None:
        self.outcomes.append(settled)
        self.seqs.append(seq)
        if now or len(self.outcomes) >= self.limit:
            self._commit()
        elif self.timer is None:
            self.timer = self.loop.call_later(COMMIT_EVERY, self._on_timer)

    def close(self) -> None:
        """Commit what is waiting; an error is kept in ``error``."""
        self._on_timer()

    flush = close  # the outcomes of a bulk request, committed together

    def _spool(self, outcomes: list[Settled], seqs: list[int]) -> None:
        if outcomes:
            self.spool.set_outcomes(
                [
                    (o.kind, None if o.kind == "delivered" else o.message, seq)
                    for o, seq in zip(outcomes, seqs, strict=True)
                ]
            )

    def _on_timer(self) -> None:
        self.timer = None
        try:
            self._commit()
        except Exception as exc:  # LockLost or StateError: no more requests; the run ends with it
            self.error = self.error or exc
            self.stop.set()

    def _commit(self, marks: list[Mark] | None = None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        outcomes, seqs = self.outcomes, self.seqs
        self.outcomes, self.seqs = [], []
        held = True
        if self.lock is not None and self.loop.time() - self.last_beat > HEARTBEAT_EVERY:
            self.last_beat = self.loop.time()
            held = self.state.heartbeat(self.lock)
        try:
            self.state.write_batch(self.pipeline, self.run_id, marks or (), outcomes, fence=self.lock)
        except LockLost:  # the outcomes were committed, the marks were not
            self._spool(outcomes, seqs)
            raise
        self._spool(outcomes, seqs)
        if not held:
            raise LockLost(f"{self.lock} was taken over by another process; this one stops")
