"""HGClient against httpx.MockTransport: statuses, retries, tokens, concurrency, secrecy.

Virtual time throughout: a fake clock and a fake sleep that records each wait.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from connectors.hepsiglobal.client import (
    AuthenticationError,
    HGClient,
    Outcome,
    classify,
)
from connectors.hepsiglobal.responses import retry_after_seconds
from engine import logging as hglogging
from engine.definitions.targets import TargetSettings

SECRET = "s3cr3t-client-secret-value"
TOKEN_PATH = "/v1/auth/token"


def settings(**changes: Any) -> TargetSettings:
    values: dict[str, Any] = {
        "base_url": "https://hg.test",
        "client_id": "mp-client",
        "client_secret": SECRET,
        "rate_limit": None,
        "max_attempts": 4,
        "backoff": {"base": 1.0, "max": 8.0},
    }
    values.update(changes)
    return TargetSettings(**values)


class VirtualTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        for _ in range(5):  # let other tasks run, as a real sleep would
            await asyncio.sleep(0)


Step = int | httpx.Response | type[Exception]


class FakeHG:
    """The token endpoint, plus operation answers played from a script (then 200s)."""

    def __init__(self, script: list[Step] | None = None, *, expires_in: Any = 3600) -> None:
        self.script = list(script or [])
        self.token_script: list[Step] = []
        self.expires_in = expires_in
        self.tokens_issued: list[str] = []
        self.requests: list[httpx.Request] = []
        self.on_request: Callable[[httpx.Request], Awaitable[httpx.Response | None]] | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        if request.url.path == TOKEN_PATH:
            return self._token(request)
        self.requests.append(request)
        if self.on_request is not None:
            answer = await self.on_request(request)
            if answer is not None:
                return answer
        return play(self.script.pop(0) if self.script else 200, request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_script:
            return play(self.token_script.pop(0), request)
        token = f"tok-{len(self.tokens_issued) + 1}-abcdef"
        self.tokens_issued.append(token)
        body = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)


def play(step: Step, request: httpx.Request) -> httpx.Response:
    if isinstance(step, type):
        raise step("simulated", request=request)  # type: ignore[call-arg]
    if isinstance(step, httpx.Response):
        return step
    if 200 <= step < 300:
        if step == 204:
            return httpx.Response(204)
        return httpx.Response(step, json={"data": {"id": 7}, "message": "ok"})
    return httpx.Response(step, json={"message": f"status {step}"})


def run(
    fake: FakeHG,
    work: Callable[[HGClient], Awaitable[Any]],
    *,
    vt: VirtualTime | None = None,
    rand: Callable[[], float] = lambda: 1.0,
    **changes: Any,
) -> Any:
    vt = vt or VirtualTime()

    async def main() -> Any:
        async with HGClient(
            settings(**changes),
            transport=httpx.MockTransport(fake),
            sleep=vt.sleep,
            rand=rand,
            clock=vt.clock,
        ) as client:
            result = await work(client)
            return result, client.stats

    return asyncio.run(main())


def send_one(method: str = "PUT", path: str = "/v1/x", body: object | None = None) -> Any:
    return lambda client: client.send(method, path, {"reason": "r"} if body is None else body)


# --- the status table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "ok"), (201, "ok"), (202, "ok"), (204, "ok"),
        (400, "reject"), (403, "reject"), (404, "reject"), (409, "reject"), (422, "reject"),
        (301, "reject"), (401, "reauth"),
        (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"),
        (504, "retry"),
    ],
)  # fmt: skip
def test_classify(status: int, verdict: str) -> None:
    assert classify(status) == verdict


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(status: int) -> None:
    fake = FakeHG([status])
    outcome, stats = run(fake, send_one())
    assert outcome.kind == "delivered"
    assert (outcome.status, outcome.attempts) == (status, 1)
    if status == 204:
        assert outcome.data is None and outcome.message is None
    else:
        assert outcome.data == {"id": 7} and outcome.message == "ok"
    assert stats[f"status_{status}"] == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_4xx_is_rejected_with_hg_message(status: int) -> None:
    body = {"message": "Unsuccessful Response", "errors": ["reason is invalid", {"field": "x"}]}
    fake = FakeHG([httpx.Response(status, json=body)])
    outcome, stats = run(fake, send_one())
    assert outcome == Outcome("rejected", status, "Unsuccessful Response: reason is invalid; field: x", 1)
    assert stats["retries"] == 0


def test_4xx_without_json_says_http_status() -> None:
    fake = FakeHG([httpx.Response(400, text="<html>nope</html>")])
    outcome, _ = run(fake, send_one())
    assert (outcome.kind, outcome.message) == ("rejected", "HTTP 400")


def test_long_messages_are_cut() -> None:
    fake = FakeHG([httpx.Response(422, json={"message": "x" * 5000})])
    outcome, _ = run(fake, send_one())
    assert len(outcome.message) <= 300


# --- retries -------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured() -> None:
    vt = VirtualTime()
    fake = FakeHG([httpx.Response(429, headers={"Retry-After": "2.5"}), 200])
    outcome, stats = run(fake, send_one(), vt=vt)
    assert (outcome.kind, outcome.attempts) == ("delivered", 2)
    assert vt.waits == [2.5]
    assert (stats["status_429"], stats["retries"]) == (1, 1)


def test_429_retry_after_http_date_is_honoured() -> None:
    vt = VirtualTime()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    fake = FakeHG([httpx.Response(429, headers={"Retry-After": when}), 201])
    outcome, _ = run(fake, send_one(), vt=vt)
    assert outcome.kind == "delivered"
    assert len(vt.waits) == 1 and 50 < vt.waits[0] <= 60


def test_429_without_retry_after_backs_off() -> None:
    vt = VirtualTime()
    outcome, _ = run(FakeHG([429, 429, 200]), send_one(), vt=vt, rand=lambda: 0.5)
    assert outcome.kind == "delivered"
    assert vt.waits == [0.5, 1.0]  # full jitter: rand() * base * 2**(n-1)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0), ("0.25", 0.25), ("-5", 0.0), ("100000", 300.0),
        ("Wed, 01 Jan 2025 00:00:30 GMT", 30.0), ("Wed, 01 Jan 2025 00:10:00 GMT", 300.0),
        ("Tue, 31 Dec 2024 23:00:00 GMT", 0.0), ("soon", None), ("", None), (None, None),
        ("nan", None),
    ],
)  # fmt: skip
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(header, now=now) == expected


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(status: int) -> None:
    vt = VirtualTime()
    outcome, stats = run(FakeHG([status, status, status, 200]), send_one(), vt=vt)
    assert (outcome.kind, outcome.status, outcome.attempts) == ("delivered", 200, 4)
    assert vt.waits == [1.0, 2.0, 4.0]
    assert stats[f"status_{status}"] == 3 and stats["retries"] == 3


def test_backoff_is_capped() -> None:
    vt = VirtualTime()
    run(FakeHG([503] * 5), send_one(), vt=vt, max_attempts=6, backoff={"base": 1, "max": 3})
    assert vt.waits == [1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
def test_network_error_then_success(error: type[Exception]) -> None:
    outcome, stats = run(FakeHG([error, 200]), send_one())
    assert (outcome.kind, outcome.attempts) == ("delivered", 2)
    assert stats["network_error"] == 1


def test_exhausted_5xx_is_failed() -> None:
    vt = VirtualTime()
    outcome, _ = run(FakeHG([503] * 10), send_one(), vt=vt)
    assert outcome.kind == "failed"
    assert (outcome.status, outcome.attempts) == (503, 4)
    assert outcome.message == "HTTP 503 after 4 attempts: status 503"
    assert len(vt.waits) == 3  # no wait after the last attempt


def test_exhausted_network_errors_is_failed() -> None:
    outcome, stats = run(FakeHG([httpx.ConnectTimeout] * 10), send_one(), max_attempts=2)
    assert (outcome.kind, outcome.status, outcome.attempts) == ("failed", None, 2)
    assert outcome.message.startswith("network error: ConnectTimeout simulated after 2 attempts")
    assert stats["network_error"] == 2


def test_max_attempts_one_means_no_retry() -> None:
    outcome, _ = run(FakeHG([500]), send_one(), max_attempts=1)
    assert (outcome.kind, outcome.attempts) == ("failed", 1)


# --- what goes on the wire -----------------------------------------------------------------


def test_requests_carry_bearer_and_json_and_get_has_no_body() -> None:
    fake = FakeHG()

    async def work(client: HGClient) -> None:
        await client.send("post", "/v1/orders", {"order_amount": Decimal("23.78"), "n": 1})
        await client.send("GET", "/v1/tracking/packages/9", {"ignored": True})

    run(fake, work)
    post, get = fake.requests
    assert post.method == "POST" and str(post.url) == "https://hg.test/v1/orders"
    assert post.headers["authorization"] == "Bearer tok-1-abcdef"
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content) == {"order_amount": 23.78, "n": 1}
    assert get.method == "GET" and get.content == b""
    assert get.headers["authorization"] == "Bearer tok-1-abcdef"


def test_token_request_body() -> None:
    seen: list[dict[str, Any]] = []
    fake = FakeHG()
    original = fake._token

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return original(request)

    fake._token = spy  # type: ignore[method-assign]
    run(fake, send_one())
    assert seen == [{"grant_type": "client_credentials", "client_id": "mp-client", "client_secret": SECRET}]


# --- tokens --------------------------------------------------------------------------------


def test_token_fetched_once_for_many_concurrent_sends() -> None:
    fake = FakeHG()

    async def work(client: HGClient) -> list[Outcome]:
        return await asyncio.gather(*(client.send("PUT", f"/v1/x/{i}", {}) for i in range(8)))

    outcomes, stats = run(fake, work)
    assert [o.kind for o in outcomes] == ["delivered"] * 8
    assert fake.tokens_issued == ["tok-1-abcdef"]
    assert stats["token_fetches"] == 1


def test_token_refreshed_margin_before_expiry() -> None:
    vt = VirtualTime()
    fake = FakeHG(expires_in=600)

    async def work(client: HGClient) -> None:
        await client.send("PUT", "/a", {})
        vt.now += 539  # 61 s before expiry: margin is 60 s
        await client.send("PUT", "/b", {})
        vt.now += 2
        await client.send("PUT", "/c", {})

    run(fake, work, vt=vt, token_refresh_margin=60)
    assert [r.headers["authorization"][-12:] for r in fake.requests] == [
        "tok-1-abcdef",
        "tok-1-abcdef",
        "tok-2-abcdef",
    ]


def test_tiny_token_lifetime_is_used_for_half_of_it() -> None:
    vt = VirtualTime()
    fake = FakeHG(expires_in=10)

    async def work(client: HGClient) -> None:
        await client.send("PUT", "/a", {})
        vt.now += 4.9
        await client.send("PUT", "/b", {})
        vt.now += 0.2
        await client.send("PUT", "/c", {})

    run(fake, work, vt=vt, token_refresh_margin=60)
    assert len(fake.tokens_issued) == 2


@pytest.mark.parametrize("expires_in", [None, "junk", 0])
def test_missing_expires_in_means_an_hour(expires_in: Any) -> None:
    vt = VirtualTime()
    fake = FakeHG(expires_in=expires_in)

    async def work(client: HGClient) -> None:
        await client.send("PUT", "/a", {})
        vt.now += 3600 - 61
        await client.send("PUT", "/b", {})
        vt.now += 2
        await client.send("PUT", "/c", {})

    run(fake, work, vt=vt, token_refresh_margin=60)
    assert len(fake.tokens_issued) == 2


def test_token_in_a_data_envelope_is_accepted() -> None:
    fake = FakeHG()
    fake.token_script = [httpx.Response(200, json={"data": {"access_token": "wrapped-tok-1"}})]
    run(fake, send_one())
    assert fake.requests[0].headers["authorization"] == "Bearer wrapped-tok-1"


def reject_token(token: str) -> Callable[[httpx.Request], Awaitable[httpx.Response | None]]:
    async def answer(request: httpx.Request) -> httpx.Response | None:
        if request.headers["authorization"] == f"Bearer {token}":
            return httpx.Response(401, json={"message": "token expired"})
        return None

    return answer


def test_401_fetches_a_new_token_once_then_succeeds() -> None:
    fake = FakeHG()
    fake.on_request = reject_token("tok-1-abcdef")
    outcome, stats = run(fake, send_one())
    assert (outcome.kind, outcome.attempts) == ("delivered", 2)
    assert fake.tokens_issued == ["tok-1-abcdef", "tok-2-abcdef"]
    assert (stats["status_401"], stats["reauths"], stats["token_fetches"]) == (1, 1, 2)


def test_401_is_never_a_rows_rejection_and_refused_fresh_tokens_stop_everything() -> None:
    fake = FakeHG([401, 401, 401, 401])

    async def work(client: HGClient) -> None:
        with pytest.raises(
            AuthenticationError, match=r"PUT https://hg.test/v1/x refused client id 'mp-client'"
        ):
            await client.send("PUT", "/v1/x", {})
        with pytest.raises(AuthenticationError):  # every later row stops at once too
            await client.send("PUT", "/v1/y", {})

    _, stats = run(fake, work)
    assert len(fake.tokens_issued) == 4 and stats["reauths"] == 4  # the first token and three fresh ones
    assert [r.url.path for r in fake.requests] == ["/v1/x"] * 4


def test_401s_do_not_use_up_the_attempts() -> None:
    outcome, stats = run(FakeHG([401, 503, 401, 503, 401, 200]), send_one(), max_attempts=3)
    assert (outcome.kind, outcome.attempts) == ("delivered", 6)
    assert stats["reauths"] == 3


def test_every_attempt_uses_a_valid_token() -> None:
    """A back-off longer than the token's life: the next attempt fetches a new one instead of
    sending the expired one (and earning a 401)."""
    vt = VirtualTime()
    fake = FakeHG([429, 429, 200], expires_in=2)
    outcome, stats = run(fake, send_one(), vt=vt, token_refresh_margin=0, backoff={"base": 5.0, "max": 5.0})
    assert outcome.kind == "delivered"
    used = [r.headers["authorization"] for r in fake.requests]
    assert used == ["Bearer tok-1-abcdef", "Bearer tok-2-abcdef", "Bearer tok-3-abcdef"]
    assert stats["status_401"] == 0


# --- in doubt, and idempotency keys -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "doubted"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ReadTimeout, True),
        (httpx.ReadError, True),
        (httpx.WriteError, True),
        (httpx.RemoteProtocolError, True),
    ],
)
def test_a_transport_error_after_the_request_may_have_left_is_in_doubt(
    error: type[Exception], doubted: bool
) -> None:
    outcome, _ = run(FakeHG([error] * 3), send_one(), max_attempts=3)
    assert (outcome.kind, outcome.attempts, outcome.doubted) == ("failed", 3, doubted)
    held, _ = run(FakeHG([error, 200]), lambda c: c.send("POST", "/v1/refunds", {}, stop_when_in_doubt=True))
    assert (held.kind, held.attempts) == (("in_doubt", 1) if doubted else ("delivered", 2))


def test_a_lost_answer_then_a_repeat_refusal_is_reported_with_the_doubt() -> None:
    outcome, _ = run(FakeHG([httpx.ReadTimeout, 409]), send_one("POST"))
    assert (outcome.kind, outcome.status, outcome.doubted) == ("rejected", 409, True)
    clean, _ = run(FakeHG([409]), send_one("POST"))
    assert clean.doubted is False


def test_every_attempt_carries_the_same_idempotency_key() -> None:
    fake = FakeHG([httpx.ReadTimeout, 503, 200])
    outcome, _ = run(fake, lambda c: c.send("POST", "/v1/orders", {}, idempotency_key="k-123"))
    assert outcome.kind == "delivered"
    assert [r.headers.get("idempotency-key") for r in fake.requests] == ["k-123"] * 3


def test_the_idempotency_header_is_named_in_settings_or_switched_off() -> None:
    renamed = FakeHG()
    run(renamed, lambda c: c.send("PUT", "/a", {}, idempotency_key="k"), idempotency_header="X-Request-Id")
    assert renamed.requests[0].headers["x-request-id"] == "k"
    assert "idempotency-key" not in renamed.requests[0].headers
    off = FakeHG()
    run(off, lambda c: c.send("PUT", "/a", {}, idempotency_key="k"), idempotency_header=None)
    assert "idempotency-key" not in off.requests[0].headers


def test_concurrent_401s_refetch_the_token_once() -> None:
    fake = FakeHG()
    fake.on_request = reject_token("tok-1-abcdef")

    async def work(client: HGClient) -> list[Outcome]:
        return await asyncio.gather(*(client.send("PUT", f"/v1/x/{i}", {}) for i in range(6)))

    outcomes, _ = run(fake, work)
    assert {o.kind for o in outcomes} == {"delivered"}
    assert fake.tokens_issued == ["tok-1-abcdef", "tok-2-abcdef"]


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refused_credentials_raise_authentication_error(status: int) -> None:
    fake = FakeHG()
    fake.token_script = [
        httpx.Response(status, json={"error": "invalid_client", "echo": SECRET}),
    ]

    async def work(client: HGClient) -> None:
        with pytest.raises(AuthenticationError) as first:
            await client.send("PUT", "/a", {})
        with pytest.raises(AuthenticationError):  # and at once for every later row
            await client.send("PUT", "/b", {})
        text = str(first.value)
        assert SECRET not in text
        assert "mp-client" in text and "https://hg.test/v1/auth/token" in text
        assert f"HTTP {status}" in text and "invalid_client" in text

    run(fake, work)
    assert fake.requests == []


def test_token_without_access_token_raises() -> None:
    fake = FakeHG()
    fake.token_script = [httpx.Response(200, json={"token": "x"})]
    with pytest.raises(AuthenticationError, match="without an access_token"):
        run(fake, send_one())


def test_token_endpoint_5xx_is_retried() -> None:
    vt = VirtualTime()
    fake = FakeHG()
    fake.token_script = [503, httpx.ConnectError]
    outcome, stats = run(fake, send_one(), vt=vt)
    assert outcome.kind == "delivered"
    assert vt.waits == [1.0, 2.0]
    assert stats["token_fetches"] == 1


def test_token_endpoint_down_fails_every_waiting_send_with_one_fetch() -> None:
    fake = FakeHG()
    fake.token_script = [503] * 50

    async def work(client: HGClient) -> list[Outcome]:
        return await asyncio.gather(*(client.send("PUT", f"/v1/x/{i}", {}) for i in range(5)))

    outcomes, stats = run(fake, work, max_attempts=3)
    assert {(o.kind, o.status) for o in outcomes} == {("failed", 503)}
    assert outcomes[0].message == "token endpoint /v1/auth/token: HTTP 503 after 3 attempts: status 503"
    assert len(fake.token_script) == 47  # three attempts in all, shared by the five sends
    assert stats["token_fetches"] == 1 and fake.requests == []


# --- concurrency and rate ------------------------------------------------------------------


def test_concurrency_never_exceeds_the_setting() -> None:
    fake = FakeHG()
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(10):
            await asyncio.sleep(0)
        in_flight -= 1
        return None

    fake.on_request = slow

    async def work(client: HGClient) -> list[Outcome]:
        return await asyncio.gather(*(client.send("PUT", f"/v1/x/{i}", {}) for i in range(25)))

    outcomes, _ = run(fake, work, concurrency=3)
    assert len(outcomes) == 25
    assert peak == 3


def test_backoff_sleep_does_not_hold_a_concurrency_slot() -> None:
    fake = FakeHG()
    calls: dict[str, int] = {}

    async def first_a_fails(request: httpx.Request) -> httpx.Response | None:
        calls[request.url.path] = calls.get(request.url.path, 0) + 1
        if request.url.path == "/a" and calls["/a"] == 1:
            return httpx.Response(503)
        return None

    fake.on_request = first_a_fails

    async def work(client: HGClient) -> list[Outcome]:
        async def later_b() -> Outcome:
            await asyncio.sleep(0)
            return await client.send("PUT", "/b", {})

        return await asyncio.gather(client.send("PUT", "/a", {}), later_b())

    run(fake, work, concurrency=1)
    assert [r.url.path for r in fake.requests] == ["/a", "/b", "/a"]


def test_rate_limit_paces_requests_and_retries() -> None:
    vt = VirtualTime()
    fake = FakeHG([500])

    async def work(client: HGClient) -> None:
        for i in range(4):
            await client.send("PUT", f"/v1/x/{i}", {})

    run(fake, work, vt=vt, rate_limit="10/s", rand=lambda: 0.0)
    # token + 5 operation attempts (one retried), one every 0.1 s: 0.5 s of virtual time
    assert vt.now - 1000.0 == pytest.approx(0.5)


def test_send_outside_the_context_manager() -> None:
    client = HGClient(settings(), transport=httpx.MockTransport(FakeHG()))
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(client.send("PUT", "/a", {}))


# --- secrecy in logs -----------------------------------------------------------------------


def noisy_scenario(client: HGClient) -> Awaitable[Any]:
    async def go() -> None:
        await client.send("PUT", "/retry", {})
        await client.send("PUT", "/reject", {})

    return go()


def noisy_fake() -> FakeHG:
    fake = FakeHG()

    async def answer(request: httpx.Request) -> httpx.Response | None:
        token = request.headers["authorization"].removeprefix("Bearer ")
        if request.url.path == "/reject":  # a server that echoes what it got
            return httpx.Response(400, json={"message": f"bad {token} for {SECRET}"})
        if len(fake.requests) == 1:
            return httpx.Response(503, json={"message": token})
        return None

    fake.on_request = answer
    return fake


def test_secrets_never_reach_captured_events() -> None:
    fake = noisy_fake()
    with capture_logs() as events:
        run(fake, noisy_scenario)
    names = [e["event"] for e in events]
    assert names == ["token_fetched", "request_retried", "request_rejected"]
    assert events[0]["expires_in"] == 3600
    assert events[1]["status"] == 503 and events[1]["attempt"] == 1
    text = repr(events)
    assert SECRET not in text and "tok-1-abcdef" not in text


@pytest.fixture
def restore_structlog() -> Any:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_secrets_never_reach_the_log_stream(restore_structlog: None) -> None:
    stream = io.StringIO()
    hglogging.configure(json=True, level="debug", stream=stream)
    fake = noisy_fake()
    outcome: Outcome
    outcome, _ = run(fake, lambda c: c.send("PUT", "/reject", {}))
    run(noisy_fake(), noisy_scenario)
    text = stream.getvalue()
    assert "request_rejected" in text and "token_fetched" in text
    assert SECRET not in text and "tok-1-abcdef" not in text
    assert SECRET not in (outcome.message or "") and "tok-1-abcdef" not in (outcome.message or "")
