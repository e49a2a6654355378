"""What the sandbox knows: client credentials and the tokens it issued, the requests it
accepted, its response counts, and the faults it injects. Thread-safe; the request handler
(:mod:`.handler`) reads and writes it, :class:`~.server.Sandbox` serves it.
"""

from __future__ import annotations

import copy
import hmac
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.hepsiglobal.sandbox.corrections import corrected_operations
from connectors.hepsiglobal.sandbox.faults import FAULT_KINDS, Fate, Faults, draw_fault
from connectors.hepsiglobal.sandbox.operations import OPERATION_NAMES


class SandboxState:
    """The sandbox's state, shared by every connection's handler thread."""

    def __init__(
        self,
        *,
        client_id: str = "sandbox",
        client_secret: str = "sandbox",
        token_ttl: float = 3600,
        faults: Faults | None = None,
        refuse_repeats: bool = False,
        idempotency_header: str = "Idempotency-Key",
        corrections: Mapping[str, Any] | None = None,
    ) -> None:
        # config's corrections of the catalog (targets.<name>.operations): where each operation
        # is served and how its body is checked; a correction that cannot apply is a ValueError
        self.operations = corrected_operations(corrections or {})
        self.client_id, self._client_secret, self.token_ttl = client_id, client_secret, token_ttl
        self.refuse_repeats = refuse_repeats  # a second order, refund or label of one number: 409
        self.idempotency_header = idempotency_header  # recorded with each request, as sent
        self._identities: set[str] = set()
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> time.monotonic() of expiry
        self._records: list[dict[str, Any]] = []
        self._next_id = 1
        self._responses: Counter[str] = Counter()
        self._faulted: Counter[str] = Counter()
        self._tokens_issued = 0
        self.set_faults(faults or Faults())

    # --- what tests and demos read and change -------------------------------------------------

    def records(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Accepted operation requests, oldest first; only ``operation``'s when given.

        Each: ``id``, ``operation``, ``method``, ``path``, ``path_params``, ``body``,
        ``idempotency_key`` (the header as sent, or None),
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
            self._identities.clear()
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

    def _claim(self, identity: str | None) -> bool:
        """False when ``identity`` was accepted before and repeats are refused."""
        if identity is None or not self.refuse_repeats:
            return True
        with self._lock:
            if identity in self._identities:
                return False
            self._identities.add(identity)
            return True

    def _record(
        self,
        operation: str,
        method: str,
        path: str,
        params: dict,
        body: Any,
        status: int,
        data: Any,
        idempotency_key: str | None = None,
    ) -> None:
        record = {
            "idempotency_key": idempotency_key,
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
