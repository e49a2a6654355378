"""The daemon's lease on a state store: one active daemon, the others standing by.

The active daemon holds the ``daemon`` lock and renews it every ``lease / 3`` seconds. A
second daemon on a shared (PostgreSQL) store waits as standby: it tries the lock every
couple of seconds and takes it over once the holder is gone — a dead pid on its own node at
once, any other holder after ``lease`` seconds without a heartbeat. On taking over it frees
every lock the old holder kept (its pipelines' runs), so its own runs start at once.

Fencing: every request a run starts is first marked ``sending`` in a transaction that
checks the run still holds its pipeline's lock (:func:`engine.store.locks.check_held`). A
daemon that stalled past its lease (paused, cut off) and was taken over finds its locks
gone: it sends nothing more and stops (:class:`engine.errors.LockLost`). So two daemons
never run one pipeline; at most the requests already on the wire when the stall began are
answered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime
from typing import Any

from engine.errors import LockedError
from engine.logging import get_logger
from engine.store import StateStore
from engine.store.locks import node

log = get_logger("hgsync.daemon")
DAEMON_LOCK = "daemon"
STANDBY_POLL = 2.0


class Lease:
    def __init__(self, state: StateStore, seconds: float):
        self.state = state
        self.seconds = seconds
        self.role = "starting"  # standby | active
        self.since: datetime | None = None
        self.active: dict[str, Any] | None = None  # who holds it, while standing by

    async def take(self, *, standby: bool, stop: asyncio.Event) -> bool:
        """Hold the lease; with ``standby``, wait for it until ``stop`` is set (then False).
        Without, a lease held by a live daemon raises LockedError."""
        announced = False
        while not stop.is_set():
            try:
                replaced = await asyncio.to_thread(
                    self.state.acquire, DAEMON_LOCK, f"hgsync daemon on {node()}", stale_after=self.seconds
                )
            except LockedError as exc:
                if not standby:
                    raise LockedError(f"another daemon runs on this state store: {exc}") from None
                self.role, self.active = "standby", await asyncio.to_thread(self.state.holder, DAEMON_LOCK)
                if not announced:
                    log.info(
                        "daemon_standby",
                        active=str(exc),
                        takes_over_after=f"{self.seconds:g}s without a heartbeat",
                    )
                    announced = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), STANDBY_POLL)
                continue
            if replaced is not None:
                freed = await asyncio.to_thread(self.state.release_held_by, *replaced)
                log.warning(
                    "daemon_took_over", previous=f"pid {replaced[1]} on {replaced[0]}", locks_freed=freed
                )
            self.role, self.active = "active", None
            self.since = datetime.now().astimezone()
            log.info("daemon_active", node=node(), pid=os.getpid())
            return True
        return False

    async def keep(self, on_lost: Any) -> None:
        """Renew the lease every third of its length until cancelled; ``on_lost()`` when it
        was taken over (this daemon stalled past it)."""
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                held = await asyncio.to_thread(self.state.heartbeat, DAEMON_LOCK)
            except Exception as exc:  # the store is unreachable: try again, the lease may still hold
                log.error("heartbeat_failed", error=str(exc))
                continue
            if not held:
                log.error("lease_lost", why="another daemon took over: this one stalled past its lease")
                self.role = "lost"
                on_lost()
                return

    def release(self) -> None:
        if self.role == "active":
            self.state.release(DAEMON_LOCK)

    def describe(self) -> dict[str, Any]:
        """For the status page: this daemon's role and, standing by, who is active."""
        active = None
        if self.active is not None:
            active = {k: str(self.active.get(k)) for k in ("owner", "host", "pid", "heartbeat_at")}
        return {"role": self.role, "node": node(), "lease_seconds": self.seconds, "active": active}
