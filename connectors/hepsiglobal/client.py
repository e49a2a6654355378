"""The async HepsiGlobal client: tokens, rate limit, bounded concurrency, retries.

One :class:`HGClient` per run and target::

    async with HGClient(settings) as hg:
        outcome = await hg.send("PUT", op.render_path(params), body)

:meth:`HGClient.send` never raises for what HG answers: it returns an :class:`Outcome`,
``delivered`` (2xx), ``rejected`` (another 4xx: the row is wrong, do not resend it as is)
or ``failed`` (429, 5xx or network errors until ``max_attempts`` ran out: try again in a
later run). It raises :class:`AuthenticationError` only when the token endpoint refuses the
credentials, because then every row would fail and the run must stop.

All status handling is in :func:`classify`. Tokens are fetched lazily, once for any number
of concurrent sends, refreshed ``token_refresh_margin`` seconds before they expire, and
fetched again once when an operation answers 401. Secrets and tokens are registered with
:func:`engine.logging.register_secret` and never put in a log event or an Outcome.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from connectors.hepsiglobal.ratelimit import RateLimiter
from engine.definitions.targets import TargetSettings
from engine.errors import HgsyncError
from engine.logging import get_logger, redact_text, register_secret

log = get_logger("hgsync.hepsiglobal")

MAX_RETRY_AFTER = 300.0
DEFAULT_EXPIRES_IN = 3600.0
MESSAGE_LIMIT = 300
Verdict = Literal["ok", "retry", "reauth", "reject"]


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

    kind: Literal["delivered", "rejected", "failed"]
    status: int | None
    message: str | None
    attempts: int
    data: Any = None


class AuthenticationError(HgsyncError):
    """The token endpoint refused the client credentials: every request would fail."""

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


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP-date), capped at 300."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def response_message(response: httpx.Response) -> str | None:
    """HG's ``message`` and ``errors`` from a JSON body, short and redacted; None if absent."""
    payload = _json_or_none(response)
    parts: list[str] = []
    if isinstance(payload, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
        errors = payload.get("errors")
        if errors:
            parts.append(_errors_text(errors))
    if not parts:
        return None
    return _short(": ".join(parts))


def _errors_text(errors: object) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_errors_text(v)}" for k, v in errors.items())
    if isinstance(errors, list):
        return "; ".join(_errors_text(e) for e in errors)
    if isinstance(errors, str):
        return errors
    return json.dumps(errors, ensure_ascii=False, default=str)


def _short(text: str) -> str:
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _jsonable(value: Any) -> Any:
    """``value`` with Decimals (as SQL drivers return them) made JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _expires_in(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_EXPIRES_IN


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
    ) -> None:
        self.settings = settings
        self.stats: Counter[str] = Counter()
        self._transport = transport
        self._sleep, self._rand, self._clock = sleep, rand, clock
        self._limiter = RateLimiter(settings.rate_limit, clock=clock, sleep=sleep)
        self._wire = asyncio.Semaphore(settings.concurrency)
        self._http: httpx.AsyncClient | None = None
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._token_rounds = 0  # token fetches finished, successful or not
        self._token_failure: Outcome | None = None  # of the latest fetch, if it failed
        self._auth_error: AuthenticationError | None = None
        register_secret(settings.client_secret.get_secret_value())

    async def __aenter__(self) -> HGClient:
        if self._http is not None:
            raise RuntimeError("this HGClient is already open")
        self._http = httpx.AsyncClient(
            base_url=self.settings.base_url,
            timeout=self.settings.timeout,
            transport=self._transport,
            headers={"Accept": "application/json", "User-Agent": "hgsync"},
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def send(self, method: str, path: str, body: object | None) -> Outcome:
        """Send one request (GET sends no body) with retries; see the module docstring."""
        if self._auth_error is not None:
            raise self._auth_error
        method = method.upper()
        payload = None if method == "GET" or body is None else _jsonable(body)
        try:
            outcome, _ = await self._exchange(method, path, payload, auth=True)
        except _TokenUnavailable as exc:
            return exc.outcome
        return outcome

    async def _exchange(self, method: str, path: str, payload: Any, *, auth: bool) -> tuple[Outcome, Any]:
        """Attempts of one request until an answer is final; the outcome and the response JSON."""
        token = await self._bearer() if auth else None
        reauthed = False
        sent = failures = 0
        while True:
            sent += 1
            response, error = await self._once(method, path, payload, token, auth)
            verdict: Verdict = "retry" if response is None else classify(response.status_code)
            if verdict == "reauth" and auth and not reauthed:
                reauthed = True
                self.stats["reauths"] += 1
                token = await self._bearer(stale=token)
                continue
            if response is not None and verdict == "ok":
                body = _json_or_none(response)
                message = body.get("message") if isinstance(body, dict) else None
                data = body.get("data", body) if isinstance(body, dict) else body
                text = _short(message) if isinstance(message, str) else None
                return Outcome("delivered", response.status_code, text, sent, data), body
            if response is not None and verdict in ("reject", "reauth"):
                message = response_message(response) or f"HTTP {response.status_code}"
                log.warning(
                    "request_rejected",
                    method=method,
                    path=path,
                    status=response.status_code,
                    message=message,
                )
                return Outcome("rejected", response.status_code, message, sent), None
            failures += 1
            status = response.status_code if response is not None else None
            reason = f"HTTP {status}" if response is not None else _network_text(error)
            if failures >= self.settings.max_attempts:
                detail = response_message(response) if response is not None else None
                message = f"{reason} after {sent} attempts" + (f": {detail}" if detail else "")
                return Outcome("failed", status, _short(message), sent), None
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
        self, method: str, path: str, payload: Any, token: str | None, auth: bool
    ) -> tuple[httpx.Response | None, httpx.TransportError | None]:
        """One attempt: wait for the rate limit, then hold a concurrency slot while on the wire.

        Counts ``status_NNN`` / ``network_error``; the token endpoint's as ``token_status_NNN``.
        """
        if self._http is None:
            raise RuntimeError("use HGClient inside `async with HGClient(settings) as client:`")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        await self._limiter.acquire()
        async with self._wire:
            try:
                response = await self._http.request(method, path, json=payload, headers=headers)
            except httpx.TransportError as exc:
                self.stats["network_error" if auth else "token_network_error"] += 1
                return None, exc
        self.stats[f"{'' if auth else 'token_'}status_{response.status_code}"] += 1
        return response, None

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
        expires_in = _expires_in(fields.get("expires_in"))
        lifetime = max(expires_in - settings.token_refresh_margin, expires_in / 2)
        log.info("token_fetched", expires_in=expires_in)
        return _Token(value, started + lifetime)

    def _refused(self, why: str) -> AuthenticationError:
        settings = self.settings
        error = AuthenticationError(
            redact_text(
                f"the token endpoint {settings.base_url}{settings.token_path} refused client id "
                f"{settings.client_id!r}: {why}"
            )
        )
        self._auth_error = error
        return error


def _network_text(error: BaseException | None) -> str:
    if error is None:
        return "network error"
    detail = str(error).strip()
    return f"network error: {type(error).__name__}" + (f" {detail}" if detail else "")
