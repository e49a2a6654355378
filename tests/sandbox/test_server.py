"""The sandbox server over real HTTP: tokens, routing, records, the admin API, faults, load."""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import threading
import time
from datetime import datetime

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from connectors.hepsiglobal.examples import CREATE_ORDER
from connectors.hepsiglobal.sandbox import Faults, Sandbox

CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret-value"  # of sandbox_server, tests/conftest.py
CANCEL_PATH = "/v1/orders/1001/order_items/1001_HBV1"
CANCEL = {"reason": "customer_demand"}
CREDENTIALS = {"grant_type": "client_credentials", "client_id": CLIENT_ID}


def token_body(secret: str = CLIENT_SECRET, **changes: str) -> dict[str, str]:
    return {**CREDENTIALS, "client_secret": secret, **changes}


# --- tokens -----------------------------------------------------------------------------------


def test_a_token_is_issued_for_the_right_credentials(anon: httpx.Client, sandbox: Sandbox) -> None:
    response = anon.post("/v1/auth/token", json=token_body())
    assert response.status_code == 200
    payload = response.json()
    assert payload["token_type"] == "Bearer" and payload["expires_in"] == 3600
    assert len(payload["access_token"]) >= 32
    headers = {"Authorization": f"Bearer {payload['access_token']}"}
    assert anon.put(CANCEL_PATH, json=CANCEL, headers=headers).status_code == 200
    assert sandbox.stats()["tokens_issued"] == 1


def test_a_token_is_issued_for_a_form_or_basic_auth(anon: httpx.Client) -> None:
    assert anon.post("/v1/auth/token", data=token_body()).status_code == 200
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    response = anon.post(
        "/v1/auth/token",
        json={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        token_body("wrong-secret-123"),
        token_body(client_id="someone-else"),
        {"grant_type": "client_credentials"},
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": 5},
    ],
)
def test_wrong_or_missing_credentials_get_401_without_the_secret(anon: httpx.Client, body: dict) -> None:
    response = anon.post("/v1/auth/token", json=body)
    assert response.status_code == 401
    assert response.json() == {"message": "invalid client credentials"}
    assert "wrong-secret-123" not in response.text and CLIENT_SECRET not in response.text


def test_a_wrong_grant_type_or_body_is_a_400(anon: httpx.Client) -> None:
    assert anon.post("/v1/auth/token", json=token_body(grant_type="password")).status_code == 400
    assert anon.post("/v1/auth/token", content=b"[]").status_code == 400
    assert anon.get("/v1/auth/token").status_code == 405


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing bearer token"),
        ("Bearer", "missing bearer token"),
        ("Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQtdmFsdWU=", "missing bearer token"),
        ("Bearer not-a-token", "invalid access token"),
    ],
)
def test_operations_need_a_valid_token(
    anon: httpx.Client, sandbox: Sandbox, authorization: str | None, message: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = anon.put(CANCEL_PATH, json=CANCEL, headers=headers)
    assert response.status_code == 401
    assert message in response.json()["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert sandbox.records() == []


def test_a_token_expires_after_token_ttl() -> None:
    with (
        Sandbox(token_ttl=1) as sb,
        httpx.Client(base_url=sb.url, timeout=5) as client,
    ):
        body = {"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox"}
        token = client.post("/v1/auth/token", json=body).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.put(CANCEL_PATH, json=CANCEL, headers=headers).status_code == 200
        time.sleep(1.1)
        response = client.put(CANCEL_PATH, json=CANCEL, headers=headers)
        assert response.status_code == 401
        assert response.json()["message"] == "access token expired"
        assert len(sb.records()) == 1


# --- routing ----------------------------------------------------------------------------------


def test_unknown_paths_are_404_and_wrong_methods_405(api: httpx.Client) -> None:
    assert api.get("/v1/nothing-here").status_code == 404
    assert api.put("/v1/orders/1001").status_code == 404
    response = api.get("/v1/orders")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert api.post(CANCEL_PATH, json=CANCEL).headers["Allow"] == "PUT"
    assert api.get("/_sandbox/nothing").status_code == 404
    assert api.post("/_sandbox/health").status_code == 405


def test_a_chunked_body_is_refused(api: httpx.Client) -> None:
    response = api.put(CANCEL_PATH, content=iter([b'{"reason": "x"}']))
    assert response.status_code == 411


# --- records and the admin API ----------------------------------------------------------------


def test_accepted_requests_are_recorded(api: httpx.Client, sandbox: Sandbox) -> None:
    api.put("/v1/orders/ORD%201/order_items/ORD%201_SKU", json=CANCEL)
    api.get("/v1/tracking/packages/SHP-1")
    api.put(CANCEL_PATH, json={})  # rejected: not recorded
    first, second = sandbox.records()
    assert first["id"] == 1 and second["id"] == 2
    assert first["operation"] == "cancel_order_item" and first["method"] == "PUT"
    assert first["path"] == "/v1/orders/ORD%201/order_items/ORD%201_SKU"
    assert first["path_params"] == {"order_number": "ORD 1", "order_item_number": "ORD 1_SKU"}
    assert first["body"] == CANCEL
    assert datetime.fromisoformat(first["received_at"]).utcoffset().total_seconds() == 0
    assert second["operation"] == "tracking_by_shipment_id"
    assert [r["id"] for r in sandbox.records("tracking_by_shipment_id")] == [2]
    with pytest.raises(ValueError, match="unknown operation 'nope'"):
        sandbox.records("nope")


def test_the_admin_api(api: httpx.Client, anon: httpx.Client) -> None:
    assert anon.get("/_sandbox/health").json() == {"ok": True}
    api.put(CANCEL_PATH, json=CANCEL)
    api.get("/v1/tracking/packages/SHP-1")
    api.put(CANCEL_PATH, json={})
    everything = anon.get("/_sandbox/requests").json()
    assert everything["count"] == 2 and len(everything["requests"]) == 2
    only = anon.get("/_sandbox/requests", params={"operation": "cancel_order_item"}).json()
    assert only["count"] == 1 and only["requests"][0]["body"] == CANCEL
    unknown = anon.get("/_sandbox/requests", params={"operation": "cancel"})
    assert unknown.status_code == 400 and "known: create_order" in unknown.json()["message"]
    stats = anon.get("/_sandbox/stats").json()
    assert stats["responses"] == {"200": 2, "400": 1}
    assert stats["faults"] == {"429": 0, "5xx": 0, "drop": 0, "lost": 0, "delay": 0}
    assert stats["requests_recorded"] == 2
    assert anon.delete("/_sandbox/requests").json() == {"cleared": 2}
    assert anon.get("/_sandbox/requests").json() == {"count": 0, "requests": []}
    assert anon.get("/_sandbox/stats").json()["responses"] == {}


def test_reset_restarts_the_ids(api: httpx.Client, sandbox: Sandbox) -> None:
    api.put(CANCEL_PATH, json=CANCEL)
    assert sandbox.reset() == 1
    api.put(CANCEL_PATH, json=CANCEL)
    assert [r["id"] for r in sandbox.records()] == [1]


# --- faults -----------------------------------------------------------------------------------


def test_rate_429_answers_with_retry_after_and_records_nothing(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(rate_429=1, retry_after=0.2, seed=1))
    response = api.put(CANCEL_PATH, json=CANCEL)
    assert response.status_code == 429 and response.headers["Retry-After"] == "0.2"
    assert api.put(CANCEL_PATH, json={}).status_code == 429  # decided before the rules
    assert api.put(CANCEL_PATH, json=CANCEL, headers={"Authorization": ""}).status_code == 429
    assert sandbox.records() == []
    assert sandbox.stats()["faults"]["429"] == 3
    sandbox.set_faults(Faults(rate_429=1, retry_after=3))
    assert api.put(CANCEL_PATH, json=CANCEL).headers["Retry-After"] == "3"


def test_rate_500_answers_with_server_errors_repeatably(api: httpx.Client, sandbox: Sandbox) -> None:
    def statuses() -> list[int]:
        sandbox.set_faults(Faults(rate_500=1, seed=7))
        return [api.put(CANCEL_PATH, json=CANCEL).status_code for _ in range(12)]

    first = statuses()
    assert set(first) <= {500, 502, 503} and len(set(first)) > 1
    assert statuses() == first
    assert sandbox.records() == []


def test_a_share_of_faults_is_a_share(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(rate_429=0.5, retry_after=0, seed=3))
    codes = [api.put(CANCEL_PATH, json=CANCEL).status_code for _ in range(100)]
    assert 30 < codes.count(429) < 70
    assert len(sandbox.records()) == codes.count(200)


def test_rate_drop_closes_the_connection_without_an_answer(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(rate_drop=1))
    with pytest.raises(httpx.TransportError):
        api.put(CANCEL_PATH, json=CANCEL)
    sandbox.set_faults(Faults())
    assert api.put(CANCEL_PATH, json=CANCEL).status_code == 200
    assert len(sandbox.records()) == 1
    assert sandbox.stats()["faults"]["drop"] == 1


def test_rate_lost_handles_the_request_and_loses_the_answer(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(rate_lost=1))
    with pytest.raises(httpx.TransportError):
        api.put(CANCEL_PATH, json=CANCEL, headers={"Idempotency-Key": "k-1"})
    assert [r["idempotency_key"] for r in sandbox.records()] == ["k-1"]
    assert sandbox.stats()["faults"]["lost"] == 1


def test_refused_repeats_answer_409_to_a_second_order(api: httpx.Client, sandbox: Sandbox) -> None:
    order = copy.deepcopy(CREATE_ORDER)
    assert api.post("/v1/orders", json=order).status_code == 200
    assert api.post("/v1/orders", json=order).status_code == 200  # accepted twice by default
    sandbox.refuse_repeats = True
    sandbox.reset()
    assert api.post("/v1/orders", json=order).status_code == 200
    again = api.post("/v1/orders", json=order)
    assert again.status_code == 409 and "already exists" in again.json()["message"]
    assert len(sandbox.records("create_order")) == 1
    sandbox.refuse_repeats = False


def test_delay_slows_the_answer_down(api: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(delay=0.3, rate_delay=1))
    started = time.monotonic()
    assert api.put(CANCEL_PATH, json=CANCEL).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert sandbox.stats()["faults"]["delay"] == 1
    assert len(sandbox.records()) == 1


def test_faults_spare_the_token_and_admin_endpoints(anon: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(Faults(rate_500=1))
    assert anon.post("/v1/auth/token", json=token_body()).status_code == 200
    assert anon.get("/_sandbox/health").status_code == 200


def test_faults_can_be_replaced_at_run_time(api: httpx.Client, anon: httpx.Client) -> None:
    response = anon.put("/_sandbox/faults", json={"rate_429": 1, "retry_after": 0.5})
    assert response.status_code == 200 and response.json()["rate_429"] == 1
    assert anon.get("/_sandbox/faults").json() == {
        "rate_429": 1,
        "retry_after": 0.5,
        "rate_500": 0,
        "rate_drop": 0,
        "rate_lost": 0,
        "delay": 0,
        "rate_delay": 0,
        "seed": None,
        "reject_path": None,
    }
    assert api.put(CANCEL_PATH, json=CANCEL).headers["Retry-After"] == "0.5"
    assert anon.put("/_sandbox/faults", json={}).status_code == 200
    assert api.put(CANCEL_PATH, json=CANCEL).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rate_429": 2}, "faults.rate_429 is a share from 0 to 1"),
        ({"rate_429": 0.6, "rate_500": 0.6}, "must not be above 1"),
        ({"delay": -1}, "faults.delay must be a number >= 0"),
        ({"delay": "1"}, "faults.delay must be a number >= 0"),
        ({"seed": 1.5}, "faults.seed must be an integer"),
        ({"reject_path": ""}, "faults.reject_path must be non-empty text or null"),
        ({"reject_path": 5}, "faults.reject_path must be non-empty text or null"),
        ({"rate_drops": 1}, "unknown faults field(s) ['rate_drops'] (known: rate_429,"),
        ([], "body: must be a JSON object"),
    ],
)
def test_bad_faults_are_a_400(anon: httpx.Client, sandbox: Sandbox, body: object, message: str) -> None:
    response = anon.put("/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert sandbox.faults == Faults()


# --- life cycle, logging, load ----------------------------------------------------------------


def test_life_cycle() -> None:
    sb = Sandbox()
    with pytest.raises(RuntimeError, match="not serving"):
        _ = sb.url
    with sb.start() as same:
        assert same is sb and sb.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="serving already"):
            sb.start()
        with httpx.Client(base_url=sb.url) as client:
            assert client.get("/_sandbox/health").status_code == 200
            sb.stop()
            with pytest.raises(httpx.TransportError):  # the kept-alive connection is gone too
                client.get("/_sandbox/health")
    sb.stop()


@pytest.mark.parametrize("started", [False, True], ids=["serve_forever", "start-then-serve_forever"])
def test_serve_forever_until_stopped_from_another_thread(started: bool) -> None:
    sb = Sandbox()
    if started:
        sb.start()
    thread = threading.Thread(target=sb.serve_forever)
    thread.start()
    deadline = time.monotonic() + 5
    while sb._background.server is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert httpx.get(sb.url + "/_sandbox/health").json() == {"ok": True}
    sb.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_logs_name_requests_but_never_tokens_or_secrets(anon: httpx.Client, sandbox: Sandbox) -> None:
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            token = anon.post("/v1/auth/token", json=token_body()).json()["access_token"]
            anon.put(CANCEL_PATH, json=CANCEL, headers={"Authorization": f"Bearer {token}"})
            anon.post("/v1/auth/token", json=token_body("wrong-secret-123"))
    finally:
        structlog.configure(**saved)
    requests = [e for e in logs if e["event"] == "sandbox_request"]
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("POST", "/v1/auth/token", 200),
        ("PUT", CANCEL_PATH, 200),
        ("POST", "/v1/auth/token", 401),
    ]
    assert all(e["log_level"] == "debug" for e in requests)
    text = repr(logs)
    assert token not in text and CLIENT_SECRET not in text and "wrong-secret-123" not in text


def test_concurrent_keep_alive_load_is_recorded_exactly_once(sandbox: Sandbox) -> None:
    count, concurrency = 500, 16
    headers = {"Authorization": f"Bearer {sandbox.issue_token()}"}

    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(
            base_url=sandbox.url, headers=headers, limits=limits, timeout=10
        ) as client:

            async def one(i: int) -> int:
                async with gate:
                    path = f"/v1/orders/{i}/order_items/{i}_SKU{i}"
                    response = await client.put(path, json={"reason": f"r{i}"})
                    return response.status_code

            return await asyncio.gather(*(one(i) for i in range(count)))

    started = time.monotonic()
    statuses = asyncio.run(main())
    assert statuses == [200] * count
    records = sandbox.records()
    assert sorted(r["id"] for r in records) == list(range(1, count + 1))
    assert sorted(r["body"]["reason"] for r in records) == sorted(f"r{i}" for i in range(count))
    assert time.monotonic() - started < 10


def test_a_foreign_host_name_is_refused(anon: httpx.Client) -> None:
    """The sandbox on loopback cannot be driven by a web page through DNS rebinding."""
    refused = anon.post("/v1/auth/token", headers={"Host": "evil.example"}, json={})
    assert refused.status_code == 403
    assert anon.get("/_sandbox/stats", headers={"Host": "localhost"}).status_code == 200
