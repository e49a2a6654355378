"""The second half of a run: send what the plan says, and commit each outcome as it arrives.

A fixed pool of workers (the target's concurrency) takes rows from the spool in the order
they were read. Before a request goes out its key is marked ``sending``; when the answer
comes the outcome is committed at once. Setting ``stop`` lets requests on the wire finish
and starts no new ones: what was not sent stays as it was, to be sent by the next run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from engine.logging import get_logger
from engine.outbound.diff import canonical
from engine.outbound.plan import Plan
from engine.outbound.spool import SpoolRow
from engine.store import StateStore

log = get_logger("hgsync.deliver")
HEARTBEAT_EVERY = 15.0


class Outcome(Protocol):
    kind: str
    status: int | None
    message: str | None
    attempts: int


class Sender(Protocol):
    async def send(self, method: str, path: str, body: Any) -> Outcome: ...


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
    stop = stop or asyncio.Event()
    counts: Counter[str] = Counter()
    queue: asyncio.Queue[SpoolRow | None] = asyncio.Queue(maxsize=workers * 2)
    loop = asyncio.get_running_loop()
    last_beat = loop.time()

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

    async def work() -> None:
        nonlocal last_beat
        while (row := await queue.get()) is not None:
            if stop.is_set():
                continue
            request = row.request or {}
            assert row.key is not None and row.fingerprint is not None
            state.mark_sending(pipeline.name, row.key, row.fingerprint, row.origin, run_id)
            # the client's own events (request_retried, request_rejected) then name the row too
            with structlog.contextvars.bound_contextvars(key=row.key, origin=row.origin):
                outcome = await client.send(request["method"], request["path"], request.get("body"))
            state.record_outcome(
                pipeline.name,
                row.key,
                kind=outcome.kind,
                fingerprint=row.fingerprint,
                request=canonical(request),
                http_status=outcome.status,
                message=outcome.message,
                attempts=outcome.attempts,
                origin=row.origin,
                run_id=run_id,
            )
            plan.spool.set_outcome(
                row.seq, outcome.kind, None if outcome.kind == "delivered" else outcome.message
            )
            counts[outcome.kind] += 1
            if outcome.kind == "failed":
                log.warning(
                    "request_failed",
                    key=row.key,
                    origin=row.origin,
                    status=outcome.status,
                    reason=outcome.message,
                    attempts=outcome.attempts,
                    next="sent again by the next run",
                )
            if on_outcome is not None:
                on_outcome(row, outcome)
            if lock is not None and loop.time() - last_beat > HEARTBEAT_EVERY:
                last_beat = loop.time()
                state.heartbeat(lock)

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
    counts["unsent"] = plan.to_send - sum(counts[k] for k in ("delivered", "rejected", "failed"))
    return counts
