"""Named locks with a holder and a heartbeat: one daemon per store, one run per pipeline."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine.errors import LockedError
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


class Locks(StoreBase):
    """The ``hgsync_locks`` table."""

    def acquire(self, name: str, owner: str, *, stale_after: float = 120.0) -> None:
        """Take the lock ``name`` or raise LockedError saying who holds it. A lock whose holder
        is gone (a dead pid on this host, or no heartbeat for ``stale_after`` seconds) is taken over."""
        host, pid, now = socket.gethostname(), os.getpid(), utcnow()
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
                return
            except IntegrityError:
                pass
            except SQLAlchemyError as exc:
                raise state_error(exc) from None
            with self._begin() as conn:
                held = conn.execute(sa.select(locks).where(locks.c.name == name)).first()
                if held is None:
                    continue
                beat = aware(held.heartbeat_at) or now
                dead = (held.host == host and not _pid_alive(held.pid)) or now - beat > timedelta(
                    seconds=stale_after
                )
                if held.host == host and held.pid == pid:
                    dead = False
                if not dead:
                    since = aware(held.acquired_at)
                    raise LockedError(
                        f"{name} is held by {held.owner} (pid {held.pid} on {held.host}, since "
                        f"{since:%Y-%m-%d %H:%M:%S} UTC)"
                    )
                conn.execute(
                    locks.delete().where(
                        locks.c.name == name, locks.c.pid == held.pid, locks.c.host == held.host
                    )
                )
        raise LockedError(f"{name} is contended; try again")

    def heartbeat(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(
                locks.update()
                .where(locks.c.name == name, locks.c.pid == os.getpid(), locks.c.host == socket.gethostname())
                .values(heartbeat_at=utcnow())
            )

    def release(self, name: str) -> None:
        with self._begin() as conn:
            conn.execute(
                locks.delete().where(
                    locks.c.name == name, locks.c.pid == os.getpid(), locks.c.host == socket.gethostname()
                )
            )

    @contextmanager
    def locked(self, name: str, owner: str) -> Iterator[None]:
        self.acquire(name, owner)
        try:
            yield
        finally:
            self.release(name)
