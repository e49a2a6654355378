"""The built-in HG sandbox: a local HTTP stand-in for HepsiGlobal's MP→HG API.

:class:`Sandbox` is the life cycle (on :class:`engine.http_server.BackgroundServer`) of the
state in :mod:`.state`; :mod:`.handler` speaks HTTP.

- ``POST /v1/auth/token`` issues bearer tokens for the configured client credentials;
  every operation needs a valid, unexpired one.
- Each request body is checked by the sandbox's own rules (:mod:`.rules`); a violation is a
  400 ``{"message": "Unsuccessful Response", "errors": [...]}``.
- Every accepted (2xx) operation request is recorded, so demos and tests can count what arrived.
- :class:`~.faults.Faults` injects 429 (with ``Retry-After``), 5xx, dropped connections and
  slow answers, decided before a request is checked, so a faulted request is never recorded;
  and lost answers: the request is handled and recorded, then the connection closes unanswered.
- ``corrections``: config's corrections of the catalog (``targets.<name>.operations``: method,
  path, fields, accepted values), served and checked as the client applies them (:mod:`.corrections`).
- ``refuse_repeats``: a second order, refund or shipment label with a number already accepted
  is answered 409, as an API that deduplicates would; every record keeps its idempotency key.
- ``/_sandbox/...`` is an admin API (no token): ``health``, ``requests``, ``stats``, ``faults``.

Usage: ``with Sandbox().start() as sb: httpx.post(sb.url + "/v1/auth/token", ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.hepsiglobal.sandbox.faults import Faults
from connectors.hepsiglobal.sandbox.handler import SandboxServer
from connectors.hepsiglobal.sandbox.state import SandboxState
from engine.http_server import BackgroundServer


class Sandbox(SandboxState):
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
        refuse_repeats: bool = False,
        idempotency_header: str = "Idempotency-Key",
        corrections: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            corrections=corrections,
            client_id=client_id,
            client_secret=client_secret,
            token_ttl=token_ttl,
            faults=faults,
            refuse_repeats=refuse_repeats,
            idempotency_header=idempotency_header,
        )
        self.host, self.port = host, port
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
