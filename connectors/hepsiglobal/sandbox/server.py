"""The built-in HG sandbox: a local HTTP stand-in for HepsiGlobal's MP→HG API.

:class:`Sandbox` holds the state and the life cycle (on :class:`engine.http_server.BackgroundServer`);
:mod:`.handler` speaks HTTP.

- ``POST /v1/auth/token`` issues bearer tokens for the configured client credentials;
  every operation needs a valid, unexpired one.
- Each request body is checked by the sandbox's own rules (:mod:`.rules`); a violation is a
  400 ``{"message": "Unsuccessful Response", "errors": [...]}``.
- Every accepted (2xx) operation request is recorded, so demos and tests can count what arrived.
- :class:`~.faults.Faults` injects 429 (with ``Retry-After``), 5xx, dropped connections and
  slow answers, decided before a request is checked, so a faulted request is never recorded.
- ``/_sandbox/...`` is an admin API (no token): ``health``, ``requests``, ``stats``, ``faults``.

Usage: ``with Sandbox().start() as sb: httpx.post(sb.url + "/v1/auth/token", ...)``.
"""

from __future__ import annotations

import copy
import hmac
import random
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from connectors.hepsiglobal.sandbox.faults import FAULT_KINDS, Fate, Faults, draw_fault
from connectors.hepsiglobal.sandbox.handler import SandboxServer
from connectors.hepsiglobal.sandbox.operations import OPERATION_NAMES
from engine.http_server import BackgroundServer


class Sandbox:
    """A local HG stand-in. ``start()`` serves in a thread; ``serve_forever()`` blocks.

    ``with Sandbox() as sb:`` starts it (unless started already) and stops it at the end.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str = "sandbox",
        client_secret: str = "sandbox",
        token_ttl: float = 3600,
        faults: Faults | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.client_id, self._client_secret, self.token_ttl = client_id, client_secret, token_ttl
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> time.monotonic() of expiry
        self._records: list[dict[str, Any]] = []
        self._next_id = 1
        self._responses: Counter[str] = Counter()
        self._faulted: Counter[str] = Counter()
        self._tokens_issued = 0
        self.set_faults(faults or Faults())
        self._background = BackgroundServer(
            lambda: SandboxServer((self.host, self.port), self),
            what="the sandbox",
            thread_name="hg-sandbox",
            poll_interval=0.05,
            started_event="sandbox_started",
            stopped_event="sandbox_stopped",
        )

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Serve in a background thread; returns self."""
        self._background.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another thread, or Ctrl-C.

        After :meth:`start`, it only waits (Ctrl-C still ends the wait) until the sandbox stops.
        """
        self._background.serve_forever(poll_interval=0.2, listening_event="sandbox_listening")

    def stop(self) -> None:
        """Stop serving and close every open connection; safe to call twice."""
        self._background.stop()

    def __enter__(self) -> Sandbox:
        return self if self._background.serving else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:54321``: the base URL, with the real port once started."""
        return self._background.url

    # --- what tests and demos read and change -------------------------------------------------

    def records(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Accepted operation requests, oldest first; only ``operation``'s when given.

        Each: ``id``, ``operation``, ``method``, ``path``, ``path_params``, ``body``,
        ``received_at`` (ISO UTC), ``status`` and ``response`` (the ``data`` answered).
        """
        if operation is not None and operation not in OPERATION_NAMES:
            known = ", ".join(OPERATION_NAMES)
            raise ValueError(f"unknown operation {operation!r} (known: {known})")
        with self._lock:
            found = [r for r in self._records if operation in (None, r["operation"])]
            return copy.deepcopy(found)

    def reset(self) -> int:
        """Forget the records and the stats (tokens stay valid); returns how many records went."""
        with self._lock:
            cleared = len(self._records)
            self._records.clear()
            self._next_id = 1
            self._responses.clear()
            self._faulted.clear()
            self._tokens_issued = 0
            return cleared

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; the random choices restart from ``faults.seed``."""
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)

    def stats(self) -> dict[str, Any]:
        """Responses by status code, faults by kind, tokens issued, requests recorded."""
        with self._lock:
            return {
                "responses": dict(sorted(self._responses.items())),
                "faults": {kind: self._faulted[kind] for kind in FAULT_KINDS},
                "tokens_issued": self._tokens_issued,
                "requests_recorded": len(self._records),
            }

    def issue_token(self) -> str:
        """A valid access token, without an HTTP call (for tests)."""
        token = self._issue_token(self.client_id, self._client_secret)
        assert token is not None
        return token

    # --- used by the request handler ----------------------------------------------------------

    def _issue_token(self, client_id: Any, client_secret: Any) -> str | None:
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            return None
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self._client_secret.encode())
        if not (id_ok and secret_ok):
            return None
        token, now = secrets.token_urlsafe(32), time.monotonic()
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now - 3600}
            self._tokens[token] = now + self.token_ttl
            self._tokens_issued += 1
        return token

    def _check_token(self, header: str | None) -> str | None:
        """None when ``header`` carries a valid token, else what is wrong with it."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing bearer token: send 'Authorization: Bearer <access_token>'"
        with self._lock:
            expiry = self._tokens.get(token.strip())
        if expiry is None:
            return "invalid access token"
        if expiry <= time.monotonic():
            return "access token expired"
        return None

    def _draw_fault(self) -> Fate:
        with self._lock:
            fate = draw_fault(self._faults, self._random)
            if fate.delay:
                self._faulted["delay"] += 1
            if fate.kind:
                self._faulted[fate.kind] += 1
            return fate

    def _record(
        self, operation: str, method: str, path: str, params: dict, body: Any, status: int, data: Any
    ) -> None:
        record = {
            "operation": operation,
            "method": method,
            "path": path,
            "path_params": params,
            "body": body,
            "received_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "status": status,
            "response": data,
        }
        with self._lock:
            self._records.append({"id": self._next_id, **record})
            self._next_id += 1

    def _count(self, status: int) -> None:
        with self._lock:
            self._responses[str(status)] += 1
