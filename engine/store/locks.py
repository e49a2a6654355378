"""Named locks with a holder and a heartbeat: one daemon per store, one run per pipeline.

A holder is a process: its node (the host name, or ``$HGSYNC_NODE`` where host names are
not unique, as in containers) and its pid. A lock whose holder is gone — a dead pid on this
node, or no heartbeat for ``stale_after`` seconds — is taken over. A holder that finds its
lock taken (its heartbeat changes nothing) has lost it, and must stop writing: see
:meth:`Locks.holds`, which the state writes of a run check.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine.errors import LockedError, LockLost
from engine.store.base import StoreBase, aware, state_error, utcnow
from engine.store.schema import locks


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def node() -> str:
    """This process's node name in locks."""
    return os.environ.get("HGSYNC_NODE") or socket.gethostname()


def mine(name: str) -> sa.ColumnElement[bool]:
    """The lock ``name``, held by this process."""
    return (locks.c.name == name) & (locks.c.pid == os.getpid()) & (locks.c.host == node())


_HELD = sa.select(locks.c.name).where(
    locks.c.name == sa.bindparam("lock_name"),
    locks.c.pid == sa.bindparam("lock_pid"),
    locks.c.host == sa.bindparam("lock_host"),
)


def check_held(conn: sa.Connection, name: str) -> None:
    """Inside a write's transaction: raise LockLost unless this process still holds ``name``
    (the fence that keeps a process that was taken over from writing on)."""
    held = conn.execute(_HELD, {"lock_name": name, "lock_pid": os.getpid(), "lock_host": node()}).first()
    if held is None:
        raise LockLost(f"{name} was taken over by another process; this one stops")


class Locks(StoreBase):
    """The ``hgsync_locks`` table."""

    def acquire(self, name: str, owner: str, *, stale_after: float = 120.0) -> tuple[str, int] | None:
        """Take the lock ``name`` or raise LockedError saying who holds it. A lock whose holder
        is gone (a dead pid on this node, or no heartbeat for ``stale_after`` seconds) is taken
        over: then the gone holder's (node, pid) is returned, else None."""
        host, pid, now = node(), os.getpid(), utcnow()
        replaced = None
        row = {
            "name": name,
            "owner": owner,
            "host": host,
            "pid": pid,
            "acquired_at": now,
            "heartbeat_at": now,
        }
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(locks.insert().values(**row))
                return replaced
            except IntegrityError:
                pass
            except SQLAlchemyError as exc:
                raise state_error(exc) from None
            with self._begin() as conn:
                held = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
                if held is None:
                    continue
                beat = aware(held.heartbeat_at) or now
                cutoff = now - timedelta(seconds=stale_after)
                gone_pid = held.host == host and held.pid != pid and not _pid_alive(held.pid)
                if not gone_pid and (beat >= cutoff or (held.host == host and held.pid == pid)):
                    since = aware(held.acquired_at)
                    raise LockedError(
                        f"{name} is held by {held.owner} (pid {held.pid} on {held.host}, since "
                        f"{since:%Y-%m-%d %H:%M:%S} UTC)"
                    )
                holder = (locks.c.name == name) & (locks.c.pid == held.pid) & (locks.c.host == held.host)
                if not gone_pid:  # a stalled holder that renewed meanwhile keeps its lock
                    holder = holder & (locks.c.heartbeat_at < cutoff)
                gone = conn.execute(locks.delete().where(holder)).rowcount
                if gone:
                    replaced = (held.host, held.pid)
        raise LockedError(f"{name} is contended; try again")

    def heartbeat(self, name: str) -> bool:
        """Renew this process's lock; False when it no longer holds it (taken over)."""
        with self._begin() as conn:
            return conn.execute(locks.update().where(mine(name)).values(heartbeat_at=utcnow())).rowcount > 0

    def holder(self, name: str) -> dict[str, object] | None:
        """Who holds ``name``: owner, host, pid, acquired_at, heartbeat_at; None when free."""
        with self._begin() as conn:
            row = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
        if row is None:
            return None
        found = dict(row._mapping)
        found["acquired_at"], found["heartbeat_at"] = aware(row.acquired_at), aware(row.heartbeat_at)
        return found

    def release_held_by(self, host: str, pid: int) -> int:
        """Free every lock of a holder that is gone (a daemon that was taken over)."""
        with self._begin() as conn:
            return conn.execute(locks.delete().where(locks.c.host == host, locks.c.pid == pid)).rowcount

    def release(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(locks.delete().where(mine(name)))

    @contextmanager
    def locked(self, name: str, owner: str) -> Iterator[None]:
        self.acquire(name, owner)
        try:
            yield
        finally:
            self.release(name)
