"""The second half of a run: send what the plan says, and commit each outcome as it arrives.

A fixed pool of workers (the target's concurrency) takes rows from the spool in the order
they were read. Before a request goes out its key is marked ``sending`` with the request's
idempotency key; when the answer comes the outcome is committed at once. Setting ``stop``
lets requests on the wire finish and starts no new ones: what was not sent stays as it was,
to be sent by the next run.

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
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from engine.errors import CredentialsRefused, LockLost
from engine.logging import get_logger
from engine.outbound.diff import idempotency_key
from engine.outbound.plan import Plan
from engine.outbound.spool import SpoolRow
from engine.store import Mark, Settled, StateStore

log = get_logger("hgsync.deliver")
HEARTBEAT_EVERY = 15.0


class Outcome(Protocol):
    kind: str  # delivered | rejected | failed | in_doubt
    status: int | None
    message: str | None
    attempts: int
    doubted: bool


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
    queue: asyncio.Queue[SpoolRow | None] = asyncio.Queue(maxsize=workers * 2)
    committer = _GroupCommit(state, plan, run_id, lock)

    async def produce() -> None:
        try:
            for row in plan.spool.to_send():
                if stop.is_set():
                    break
                put = asyncio.ensure_future(queue.put(row))
                stopped = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({put, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if put not in done:
                    put.cancel()
                    break
        finally:
            for _ in range(workers):
                await queue.put(None)

    operation = pipeline.operation
    hold = pipeline.holds_in_doubt
    ended: list[CredentialsRefused | LockLost] = []  # why the workers stopped on their own

    async def work() -> None:
        while (row := await queue.get()) is not None:
            if stop.is_set():
                continue
            request = row.request or {}
            assert row.key is not None and row.fingerprint is not None
            request_key = idempotency_key(pipeline.name, row.key, row.fingerprint)
            try:
                await committer.submit(mark=Mark(row.key, row.fingerprint, row.origin, request_key))
            except LockLost as exc:  # another process took this pipeline over: send nothing more
                ended.append(exc)
                stop.set()
                continue
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
                    state.revert_sending(pipeline.name, row.key, run_id, row.state)
                    ended.append(exc)
                    stop.set()
                    continue
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
            )
            try:
                await committer.submit(outcome=settled, seq=row.seq)
            except LockLost as exc:  # the outcome is committed; nothing more is sent
                ended.append(exc)
                stop.set()
            counts[kind] += 1
            if kind == "failed":
                log.warning(
                    "request_failed",
                    key=row.key,
                    origin=row.origin,
                    status=outcome.status,
                    reason=message,
                    attempts=outcome.attempts,
                    next="sent again by the next run",
                )
            elif kind == "in_doubt":
                log.warning(
                    "request_in_doubt",
                    key=row.key,
                    origin=row.origin,
                    reason=message,
                    idempotency_key=request_key,
                    next="held: `hgsync resolve` settles it"
                    if hold
                    else "sent again by the next run, same key",
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
    counts["unsent"] = plan.to_send - sum(counts[k] for k in ("delivered", "rejected", "failed", "in_doubt"))
    if ended:
        raise ended[0]
    return counts


class _GroupCommit:
    """State writes of the workers, committed together: each worker hands in a mark (before
    its request goes out) or an outcome (when its answer came) and waits for the commit that
    holds it. The commit runs on the event loop as soon as the workers that are ready have
    handed theirs in, so under load one transaction carries many keys, and alone one key
    waits for no timer. A worker sends its next request only once its last outcome is
    committed, so a crash leaves at most one uncommitted request per worker: duplicates stay
    within the concurrency, as when each key was committed on its own."""

    def __init__(self, state: StateStore, plan: Plan, run_id: str, lock: str | None):
        self.state, self.spool, self.pipeline = state, plan.spool, plan.pipeline.name
        self.run_id, self.lock = run_id, lock
        self.loop = asyncio.get_running_loop()
        self.last_beat = self.loop.time()
        self.marks: list[Mark] = []
        self.outcomes: list[Settled] = []
        self.seqs: list[int] = []
        self.done: asyncio.Future[None] | None = None

    def submit(
        self, *, mark: Mark | None = None, outcome: Settled | None = None, seq: int = 0
    ) -> asyncio.Future[None]:
        if mark is not None:
            self.marks.append(mark)
        if outcome is not None:
            self.outcomes.append(outcome)
            self.seqs.append(seq)
        if self.done is None:
            self.done = self.loop.create_future()
            self.loop.call_soon(self._commit)
        return self.done

    def _commit(self) -> None:
        done, self.done = self.done, None
        marks, outcomes, seqs = self.marks, self.outcomes, self.seqs
        self.marks, self.outcomes, self.seqs = [], [], []
        assert done is not None
        error: BaseException | None = None
        held = True
        if self.lock is not None and self.loop.time() - self.last_beat > HEARTBEAT_EVERY:
            self.last_beat = self.loop.time()
            held = self.state.heartbeat(self.lock)
        try:
            self.state.write_batch(self.pipeline, self.run_id, marks, outcomes, fence=self.lock)
            if not held:
                error = LockLost(f"{self.lock} was taken over by another process; this one stops")
        except LockLost as exc:  # the outcomes were committed, the marks were not
            error = exc
        except Exception as exc:
            done.set_exception(exc)
            return
        if outcomes:
            self.spool.set_outcomes(
                [
                    (o.kind, None if o.kind == "delivered" else o.message, seq)
                    for o, seq in zip(outcomes, seqs, strict=True)
                ]
            )
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)
