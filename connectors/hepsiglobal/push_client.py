"""The client that calls a marketplace's webhook endpoints as HG does (a ``kind: marketplace`` target).

It is :class:`~connectors.hepsiglobal.client.HGClient` (rate limit, concurrency, retries with
backoff on 429, 5xx and network errors, idempotency header, the same outcomes) with the
marketplace's own credentials in place of HG's tokens: a bearer token, basic auth, or an
HMAC-SHA256 signature of ``<timestamp>.<raw body>`` in the configured headers, the scheme
hgsync's receiver checks (:func:`engine.definitions.receiver.signature`). The body is
serialised once per attempt, signed, and sent as those very bytes. A 401 means the
marketplace refused these credentials: there is no token to renew, so the run stops (exit 2)
at the first one.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from connectors.hepsiglobal.client import HGClient
from engine.definitions.receiver import signature
from engine.definitions.target_kinds import MarketplaceTarget
from engine.definitions.targets import TargetSettings
from engine.errors import CredentialsRefused
from engine.logging import redact_text, register_secret


class MarketplaceRefused(CredentialsRefused):
    """The marketplace answered 401: it does not take the configured credentials."""

    remedy = "check the target's auth block in config/hgsync.yaml (and the receiver's, on the other side)"


class MarketplaceClient(HGClient):
    """An HTTP client for one marketplace target; use it as ``async with MarketplaceClient(settings)``."""

    max_reauths = 0  # static credentials: the first 401 is a refusal

    def __init__(self, settings: MarketplaceTarget, *, clock: Callable[[], float] = time.time, **kwargs: Any):
        self.target = settings
        self._wall = clock  # the signature's timestamp is wall-clock Unix seconds
        super().__init__(settings, **kwargs)  # type: ignore[arg-type]

    def _register_secrets(self) -> None:
        auth = self.target.auth
        basic, signed = auth.basic.password if auth.basic else None, auth.hmac.secret if auth.hmac else None
        for secret in (auth.bearer, basic, signed):
            if secret is not None:
                register_secret(secret.get_secret_value())

    async def _bearer(self, stale: str | None = None) -> str:
        return ""  # no token: the credentials go with every request (see _credentials)

    def _credentials(self, token: str | None, raw: bytes) -> dict[str, str]:
        """The marketplace's own credentials: a bearer token, basic auth, or the body's signature."""
        auth = self.target.auth
        if auth.bearer is not None:
            return {"Authorization": f"Bearer {auth.bearer.get_secret_value()}"}
        if auth.basic is not None:
            pair = f"{auth.basic.username}:{auth.basic.password.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        assert auth.hmac is not None
        stamp = str(int(self._wall()))
        digest = signature(auth.hmac.secret.get_secret_value(), stamp, raw)
        return {auth.hmac.timestamp_header: stamp, auth.hmac.signature_header: f"sha256={digest}"}

    def _refused(self, why: str, *, by: str | None = None) -> MarketplaceRefused:  # type: ignore[override]
        where = by or self.target.base_url
        kind = next(k for k in ("bearer", "basic", "hmac") if getattr(self.target.auth, k) is not None)
        error = MarketplaceRefused(
            redact_text(f"{where} answered 401: it refuses the target's {kind} credentials")
        )
        self._auth_error = error  # type: ignore[assignment]
        return error


def client_for(settings: TargetSettings | MarketplaceTarget, **kwargs: Any) -> HGClient:
    """The client of a target, by its kind."""
    if isinstance(settings, MarketplaceTarget):
        return MarketplaceClient(settings, **kwargs)
    return HGClient(settings, **kwargs)
