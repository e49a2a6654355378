"""Events into the inbox, committed before they are acknowledged, many per transaction.

Each request hands its event to :class:`Intake` and waits. One writer takes whatever has
queued up (up to ``max_batch``), stores it in one transaction in a worker thread while the
event loop keeps reading requests, then answers every waiting request: a commit per batch
instead of per event, and no 2xx before the commit. Events are stored in the order they
were handed over, which is the order the applier applies them in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.store.inbox import NewEvent
from engine.store.state_store import StateStore


class Intake:
    """The inbox writer of one receiver. ``await submit(event)`` → True (new) or False (a repeat)."""

    def __init__(self, store: StateStore, on_stored: Callable[[], None] = lambda: None, max_batch: int = 500):
        self.store = store
        self.on_stored = on_stored
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[NewEvent, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._write())

    async def stop(self) -> None:
        """Store what is queued, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            self._task = None

    async def submit(self, event: NewEvent) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                added = await asyncio.to_thread(self.store.inbox_add, [event for event, _ in batch])
            except Exception as exc:  # the store is down: no request of the batch is acknowledged
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), new in zip(batch, added, strict=True):
                    if not future.done():
                        future.set_result(new)
                if any(added):
                    self.on_stored()
            finally:
                for _ in batch:
                    self._queue.task_done()
