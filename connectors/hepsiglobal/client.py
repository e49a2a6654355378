"""The async HepsiGlobal client: tokens, rate limit, bounded concurrency, retries.

One :class:`HGClient` per run and target::

    async with HGClient(settings) as hg:
        outcome = await hg.send("PUT", op.render_path(params), body, idempotency_key=key)

:meth:`HGClient.send` never raises for what HG answers: it returns an :class:`Outcome`,
``delivered`` (2xx), ``rejected`` (another 4xx: the row is wrong, do not resend it as is),
``failed`` (429, 5xx or network errors until ``max_attempts`` ran out: try again in a later
run) or ``in_doubt`` (asked to stop at the first attempt that may have reached HG without an
answer coming back). ``Outcome.doubted`` tells whether any attempt may have reached HG: a
transport error after the request may have left (connection dropped or reset, read
timeout), as opposed to one before (connect errors and timeouts, pool timeouts). Every
attempt of one request carries the same ``Idempotency-Key`` header (name from the target's
settings), so an API that deduplicates can.

Each attempt uses a valid token: tokens are fetched lazily, once for any number of
concurrent sends, refreshed ``token_refresh_margin`` seconds before they expire, and fetched
again when an operation answers 401; a 401 is never a row's rejection. The client raises
:class:`AuthenticationError` only when HG refuses the credentials (the token endpoint, or
operations refusing freshly fetched tokens), because then every row would fail and the run
must stop. All status handling is in :func:`classify`. Secrets and tokens are registered
with :func:`engine.logging.register_secret` and never put in a log event or an Outcome.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx

from connectors.hepsiglobal.ratelimit import RateLimiter
from connectors.hepsiglobal.responses import (
    json_bytes,
    json_or_none,
    jsonable,
    network_text,
    response_message,
    retry_after_seconds,
    short,
    token_lifetime,
)
from connectors.hepsiglobal.transport import AiohttpTransport
from engine.definitions.targets import TargetSettings
from engine.errors import CredentialsRefused
from engine.logging import get_logger, redact_text, register_secret

log = get_logger("hgsync.hepsiglobal")

_HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "hgsync"}
MAX_REAUTHS = 3  # fresh tokens refused in a row, for one request, before the credentials count as refused
Verdict = Literal["ok", "retry", "reauth", "reject"]
# transport errors raised before any byte of the request could reach HG
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


def may_have_arrived(error: BaseException) -> bool:
    """Whether a request that failed with this transport error may have reached HG."""
    return not isinstance(error, _NOT_SENT)


def classify(status: int) -> Verdict:
    """What an HTTP status means for a request: the one place statuses are interpreted."""
    if 200 <= status < 300:
        return "ok"
    if status == 401:
        return "reauth"
    if status in (408, 429) or 500 <= status < 600:
        return "retry"
    return "reject"


@dataclass(frozen=True)
class Outcome:
    """What became of one request, after every attempt it was given."""

    kind: Literal["delivered", "rejected", "failed", "in_doubt"]
    status: int | None
    message: str | None
    attempts: int
    data: Any = None
    doubted: bool = False  # an attempt may have reached HG without its answer coming back


class AuthenticationError(CredentialsRefused):
    """HG refused the client credentials: every request would fail."""

    remedy = "check client_id and client_secret of the target in config/hgsync.yaml"


class _TokenUnavailable(Exception):
    """The token endpoint could not be reached (5xx, 429, network) within max_attempts."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float


class HGClient:
    """An HTTP client for one HG target; use it as ``async with HGClient(settings) as hg``."""

    def __init__(
        self,
        settings: TargetSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        on_attempt: Callable[[bool, int | None, float], None] | None = None,
    ) -> None:
        """``on_attempt(token, status, seconds)``: told of every HTTP attempt once answered (or
        not: status None), ``token`` True for the token endpoint's, with its time on the wire."""
        self.settings = settings
        self._on_attempt = on_attempt
        self.stats: Counter[str] = Counter()
        self._transport = transport
        self._sleep, self._rand, self._clock = sleep, rand, clock
        self._limiter = RateLimiter(settings.rate_limit, clock=clock, sleep=sleep)
        self._wire = asyncio.Semaphore(settings.concurrency)
        # the transport in use while open: requests go to it directly (no cookies, redirects
        # or hooks: HG's API needs none, and httpx.AsyncClient's handling of them costs more
        # CPU per request than the transport itself)
        self._wire_transport: httpx.AsyncBaseTransport | None = None
        self._timeout = httpx.Timeout(settings.timeout).as_dict()
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._token_rounds = 0  # token fetches finished, successful or not
        self._token_failure: Outcome | None = None  # of the latest fetch, if it failed
        self._auth_error: AuthenticationError | None = None
        self._register_secrets()

    max_reauths = MAX_REAUTHS  # 401s answered to fresh credentials, in a row, before they count as refused

    def _register_secrets(self) -> None:
        register_secret(self.settings.client_secret.get_secret_value())

    async def __aenter__(self) -> HGClient:
        if self._wire_transport is not None:
            raise RuntimeError("this HGClient is already open")
        self._wire_transport = self._transport or AiohttpTransport(connections=self.settings.concurrency)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._wire_transport is not None:
            transport, self._wire_transport = self._wire_transport, None
            await transport.aclose()

    async def send(
        self,
        method: str,
        path: str,
        body: object | None,
        *,
        idempotency_key: str | None = None,
        stop_when_in_doubt: bool = False,
    ) -> Outcome:
        """Send one request (GET sends no body) with retries; see the module docstring.

        ``stop_when_in_doubt``: return ``in_doubt`` at the first attempt that may have reached
        HG without an answer, instead of sending it again (for requests a person must settle).
        """
        if self._auth_error is not None:
            raise self._auth_error
        method = method.upper()
        payload = None if method == "GET" or body is None else jsonable(body)
        headers = {}
        if idempotency_key and self.settings.idempotency_header:
            headers[self.settings.idempotency_header] = idempotency_key
        try:
            outcome, _ = await self._exchange(
                method, path, payload, auth=True, headers=headers, stop_when_in_doubt=stop_when_in_doubt
            )
        except _TokenUnavailable as exc:
            return exc.outcome
        return outcome

    async def _exchange(
        self,
        method: str,
        path: str,
        payload: Any,
        *,
        auth: bool,
        headers: dict[str, str] | None = None,
        stop_when_in_doubt: bool = False,
    ) -> tuple[Outcome, Any]:
        """Attempts of one request until an answer is final; the outcome and the response JSON.

        With ``auth``, every attempt asks for a valid token (a back-off or a 429 can outlast
        one); a 401 forgets the token and tries again, without counting as a failed attempt."""
        stale: str | None = None
        sent = failures = reauths = 0
        doubted = False
        while True:
            token = await self._bearer(stale=stale) if auth else None
            sent += 1
            response, error = await self._once(method, path, payload, token, auth, headers)
            verdict: Verdict = "retry" if response is None else classify(response.status_code)
            if verdict == "reauth" and auth:
                reauths += 1
                self.stats["reauths"] += 1
                if reauths > self.max_reauths:
                    raise self._refused(
                        f"{self.max_reauths} fresh tokens in a row answered 401",
                        by=f"{method} {self.settings.base_url}{path}",
                    )
                stale = token
                continue
            stale, reauths = None, 0
            if response is not None and verdict == "ok":
                body = json_or_none(response)
                message = body.get("message") if isinstance(body, dict) else None
                data = body.get("data", body) if isinstance(body, dict) else body
                text = short(message) if isinstance(message, str) else None
                return Outcome("delivered", response.status_code, text, sent, data, doubted), body
            if response is not None and verdict in ("reject", "reauth"):
                message = response_message(response) or f"HTTP {response.status_code}"
                log.warning(
                    "request_rejected",
                    method=method,
                    path=path,
                    status=response.status_code,
                    message=message,
                )
                return Outcome("rejected", response.status_code, message, sent, None, doubted), None
            status = response.status_code if response is not None else None
            reason = f"HTTP {status}" if response is not None else network_text(error)
            if error is not None and may_have_arrived(error):
                doubted = True
                if stop_when_in_doubt:
                    message = f"{reason}: the request may have reached HG; not sent again"
                    log.warning("request_in_doubt", method=method, path=path, error=type(error).__name__)
                    return Outcome("in_doubt", None, short(message), sent, None, True), None
            failures += 1
            if failures >= self.settings.max_attempts:
                detail = response_message(response) if response is not None else None
                message = f"{reason} after {sent} attempts" + (f": {detail}" if detail else "")
                return Outcome("failed", status, short(message), sent, None, doubted), None
            wait = self._retry_wait(failures, response)
            self.stats["retries" if auth else "token_retries"] += 1
            log.info(
                "request_retried",
                method=method,
                path=path,
                status=status,
                error=None if error is None else type(error).__name__,
                attempt=sent,
                wait=round(wait, 3),
            )
            await self._sleep(wait)

    async def _once(
        self,
        method: str,
        path: str,
        payload: Any,
        token: str | None,
        auth: bool,
        extra: dict[str, str] | None = None,
    ) -> tuple[httpx.Response | None, httpx.TransportError | None]:
        """One attempt: wait for the rate limit, then hold a concurrency slot while on the wire.

        Counts ``status_NNN`` / ``network_error``; the token endpoint's as ``token_status_NNN``.
        """
        transport = self._wire_transport
        if transport is None:
            raise RuntimeError("use HGClient inside `async with HGClient(settings) as client:`")
        await self._limiter.acquire()
        async with self._wire:
            began = time.perf_counter()
            try:
                request = self._request(method, path, payload, token, extra)
                response = await transport.handle_async_request(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                self.stats["network_error" if auth else "token_network_error"] += 1
                self._attempted(auth, None, began)
                return None, exc
        self.stats[f"{'' if auth else 'token_'}status_{response.status_code}"] += 1
        self._attempted(auth, response.status_code, began)
        return response, None

    def _request(
        self, method: str, path: str, payload: Any, token: str | None, extra: dict[str, str] | None
    ) -> httpx.Request:
        """One attempt's request: the body as JSON bytes, the target's headers, the credentials."""
        raw = None if payload is None else json_bytes(payload)
        headers = {**_HEADERS, **(extra or {})}
        if raw is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self._credentials(token, raw or b""))
        url = self.settings.base_url + path
        return httpx.Request(method, url, content=raw, headers=headers, extensions={"timeout": self._timeout})

    def _credentials(self, token: str | None, raw: bytes) -> dict[str, str]:
        """The headers that authenticate one attempt carrying ``raw``: HG's bearer token."""
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _attempted(self, auth: bool, status: int | None, began: float) -> None:
        if self._on_attempt is not None:
            self._on_attempt(not auth, status, time.perf_counter() - began)

    def _retry_wait(self, failures: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = retry_after_seconds(response.headers.get("Retry-After"))
            if after is not None:
                return after
        backoff = self.settings.backoff
        return self._rand() * min(backoff.max, backoff.base * 2 ** (failures - 1))

    def _usable_token(self, stale: str | None) -> str | None:
        token = self._token
        if token is not None and token.value != stale and self._clock() < token.refresh_at:
            return token.value
        return None

    async def _bearer(self, stale: str | None = None) -> str:
        """A valid access token; one fetch at a time, shared by every waiting request."""
        value = self._usable_token(stale)
        if value is not None:
            return value
        rounds_seen = self._token_rounds
        async with self._token_lock:
            if self._auth_error is not None:
                raise self._auth_error
            value = self._usable_token(stale)
            if value is not None:
                return value
            if self._token_rounds != rounds_seen and self._token_failure is not None:
                raise _TokenUnavailable(self._token_failure)  # it failed while we waited
            try:
                self._token = await self._fetch_token()
                self._token_failure = None
            except _TokenUnavailable as exc:
                self._token_failure = exc.outcome
                raise
            finally:
                self._token_rounds += 1
            return self._token.value

    async def _fetch_token(self) -> _Token:
        settings = self.settings
        body = {
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
        }
        started = self._clock()
        self.stats["token_fetches"] += 1
        outcome, payload = await self._exchange("POST", settings.token_path, body, auth=False)
        if outcome.kind == "failed":
            message = f"token endpoint {settings.token_path}: {outcome.message}"
            raise _TokenUnavailable(replace(outcome, message=message))
        if outcome.kind == "rejected":
            raise self._refused(f"HTTP {outcome.status}: {outcome.message}")
        fields = payload if isinstance(payload, dict) else {}
        if "access_token" not in fields and isinstance(fields.get("data"), dict):
            fields = fields["data"]  # tolerate HG's {"data": {...}} envelope
        value = fields.get("access_token")
        if not isinstance(value, str) or not value:
            raise self._refused(f"HTTP {outcome.status} without an access_token")
        register_secret(value)
        expires_in = token_lifetime(fields.get("expires_in"))
        lifetime = max(expires_in - settings.token_refresh_margin, expires_in / 2)
        log.info("token_fetched", expires_in=expires_in)
        return _Token(value, started + lifetime)

    def _refused(self, why: str, *, by: str | None = None) -> AuthenticationError:
        settings = self.settings
        by = by or f"the token endpoint {settings.base_url}{settings.token_path}"
        error = AuthenticationError(redact_text(f"{by} refused client id {settings.client_id!r}: {why}"))
        self._auth_error = error
        return error
