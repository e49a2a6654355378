"""The receiver over real HTTP: authenticated, validated, stored before acknowledged, applied once."""

from __future__ import annotations

import base64
import json
import time

import pytest

from connectors.hepsiglobal import webhook_examples as examples
from tests.inbound.conftest import RECEIVER, SECRET, Receiver

STOCK = "/webhooks/stock-update"
CANCEL = "/webhooks/order-cancel"


def stock(*lines: tuple[str, int]) -> dict:
    return {"items": [{"sku": sku, "company_id": 7, "stock": level} for sku, level in lines]}


def test_a_stock_update_lands_in_the_table_and_a_replay_changes_nothing(inbound_project, start_receiver):
    receiver: Receiver = start_receiver(inbound_project)
    answer = receiver.send("PUT", STOCK, stock(("A", 5), ("B", 7)), event_id="ev-1")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": {"event_id": "ev-1"}, "message": "accepted"}
    receiver.settle()
    assert receiver.rows("SELECT sku, stock, event_id FROM stock ORDER BY sku") == [
        ("A", 5, "ev-1"),
        ("B", 7, "ev-1"),
    ]

    again = receiver.send("PUT", STOCK, stock(("A", 5), ("B", 7)), event_id="ev-1")
    assert again.status_code == 200
    assert again.json()["message"] == "already received"
    assert [e.event_id for e in receiver.store.inbox_events()] == ["ev-1"]


def test_updates_of_one_sku_apply_in_the_order_received(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    for n, level in enumerate([5, 3, 9, 1, 4]):
        assert receiver.send("PUT", STOCK, stock(("A", level)), event_id=f"e{n}").status_code == 200
    receiver.settle()
    assert receiver.rows("SELECT stock, event_id FROM stock") == [(4, "e4")]


def test_without_an_id_an_identical_body_within_the_window_is_a_repeat(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    first = receiver.send("PUT", STOCK, stock(("A", 5)))
    second = receiver.send("PUT", STOCK, stock(("A", 5)))
    assert first.json()["message"] == "accepted"
    assert second.json()["message"] == "already received"
    assert receiver.send("PUT", STOCK, stock(("A", 6))).json()["message"] == "accepted"


def test_the_event_id_field_of_an_operation_identifies_its_events(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    body = dict(examples.ORDER_CANCEL_BY_SELLER)
    assert receiver.send("PUT", CANCEL, body).json()["message"] == "accepted"
    retried = {**body, "reason": "out_of_stock"}  # HG resending one cancel: same cancel_id
    assert receiver.send("PUT", CANCEL, retried).json()["message"] == "already received"
    receiver.settle()
    assert receiver.rows("SELECT cancel_id, quantity FROM seller_cancels") == [
        (body["cancel_id"], body["cancel_quantity"])
    ]


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "no headers", "old timestamp", "body changed", "nan timestamp"],
)
def test_unauthenticated_calls_get_401_and_leave_nothing(inbound_project, start_receiver, tamper):
    receiver = start_receiver(inbound_project)
    raw = json.dumps(stock(("A", 5))).encode()
    headers = receiver.headers(raw)
    if tamper == "wrong secret":
        headers = receiver.headers(raw, secret="not-" + SECRET)
    elif tamper == "no headers":
        headers = {}
    elif tamper == "old timestamp":
        headers = receiver.headers(raw, stamp=time.time() - 3600)
    elif tamper == "body changed":
        raw = json.dumps(stock(("A", 500))).encode()
    elif tamper == "nan timestamp":
        headers["X-HG-Timestamp"] = "nan"
    answer = receiver.client.put(STOCK, content=raw, headers=headers)
    assert answer.status_code == 401
    assert SECRET not in answer.text
    assert receiver.store.inbox_counts() == {}


def test_an_invalid_body_gets_400_with_every_reason_and_nothing_is_stored(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    answer = receiver.send("PUT", CANCEL, {"order_number": 5, "reason": "x"})
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert any(e.startswith("order_number") for e in errors)
    assert any(e.startswith("cancel_id") for e in errors)
    assert len(errors) >= 3
    not_json = receiver.send("PUT", STOCK, b"{not json")
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["errors"][0]
    assert receiver.store.inbox_counts() == {}


def test_a_body_over_the_limit_gets_413(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    big = stock(*[(f"SKU{i:06d}", i) for i in range(3000)])  # over the 64KB configured
    answer = receiver.send("PUT", STOCK, big)
    assert answer.status_code == 413
    assert receiver.store.inbox_counts() == {}


def test_bearer_and_basic_auth(inbound_project, start_receiver):
    for auth, good, bad in [
        ('{bearer: "tok-123456"}', "Bearer tok-123456", "Bearer tok-1234567"),
        (
            "{basic: {username: hg, password: pw-123456}}",
            "Basic " + base64.b64encode(b"hg:pw-123456").decode(),
            "Basic " + base64.b64encode(b"hg:pw-12345").decode(),
        ),
    ]:
        text = RECEIVER.format(
            marketplace="sqlite:///marketplace.db", state="sqlite:///state/state.db", secret=SECRET
        )
        inbound_project.write_config(
            text.replace(f'hmac: {{secret: "${{env:TEST_WEBHOOK_SECRET:-{SECRET}}}"}}', auth)
        )
        receiver = start_receiver(inbound_project)
        raw = json.dumps(stock(("A", 1))).encode()
        assert receiver.client.put(STOCK, content=raw, headers={"Authorization": bad}).status_code == 401
        assert receiver.client.put(STOCK, content=raw, headers={"Authorization": good}).status_code == 200
        receiver.service.stop()


def test_an_event_that_fails_is_retried_then_failed_and_replayed_in_order(inbound_project, start_receiver):
    inbound_project.sql("DROP TABLE stock")
    receiver = start_receiver(inbound_project)
    assert receiver.send("PUT", STOCK, stock(("A", 5)), event_id="x1").status_code == 200
    assert receiver.send("PUT", STOCK, stock(("A", 6)), event_id="x2").status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(receiver.store.inbox_events(status="failed")) < 2:
        time.sleep(0.05)
    failed = receiver.store.inbox_events(status="failed")
    assert [e.event_id for e in failed] == ["x2", "x1"]  # newest first; x1 held x2 back until it gave up
    assert all(e.attempts == 3 and "no table 'stock'" in e.error for e in failed)

    inbound_project.sql("CREATE TABLE stock (sku TEXT, company_id INTEGER, stock INTEGER, event_id TEXT)")
    result = inbound_project.cli("inbox", "replay", "--failed")
    assert result.exit_code == 0, result.output
    assert "2 event(s) due again" in result.output
    receiver.service.applier.wake()
    receiver.settle()
    assert receiver.rows("SELECT stock, event_id FROM stock") == [(6, "x2")]  # upserted, in order
    assert receiver.store.inbox_counts()["stock_update"] == {"applied": 2}


def test_a_price_update_is_appended_to_a_csv_file(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    body = examples.PRICE_UPDATE
    assert receiver.send("PUT", "/webhooks/price-update", body, event_id="p1").status_code == 200
    receiver.settle()
    text = (inbound_project.home / "received" / "prices.csv").read_text()
    lines = text.splitlines()
    assert lines[0] == "event_id,sku,price,currency"
    assert len(lines) == 1 + len(body["items"])
    assert lines[1].startswith(f"p1,{body['items'][0]['sku']},")


def test_listing_queries_answer_from_sql_with_filters_and_pages(inbound_project, start_receiver):
    inbound_project.sql(
        "INSERT INTO listings VALUES (?, ?, ?, ?, ?)",
        [
            (7 if i % 2 else 8, f"HBV{i:03d}", f"MP{i:03d}", "ENABLED" if i % 3 else "DISABLED", "2024-07-13")
            for i in range(30)
        ],
    )
    receiver = start_receiver(inbound_project)
    answer = receiver.send(
        "POST",
        "/webhooks/variant-listing-status",
        {"company_id": 7, "mp_status": "ENABLED", "page": 2, "size": 4},
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    expected = sorted(f"HBV{i:03d}" for i in range(30) if i % 2 and i % 3)
    assert data["total"] == len(expected)
    assert [row["sku"] for row in data["items"]] == expected[4:8]
    skus = receiver.send("POST", "/webhooks/variant-listing-status", {"sku": ["HBV001", "HBV002", "nope"]})
    assert [row["sku"] for row in skus.json()["data"]["items"]] == ["HBV001", "HBV002"]
    raw = b""
    count = receiver.client.get(
        "/webhooks/variant-listing-count", params={"company_id": "8"}, headers=receiver.headers(raw)
    )
    assert count.status_code == 200, count.text
    assert count.json()["data"]["count"] == 15
    injection = receiver.send("POST", "/webhooks/variant-listing-status", {"mp_status": "x' OR '1'='1"})
    assert injection.json()["data"]["total"] == 0
    assert receiver.store.inbox_counts() == {}  # queries are answered, not stored


def test_metrics_count_calls_by_operation_and_status(inbound_project, start_receiver):
    receiver = start_receiver(inbound_project)
    receiver.send("PUT", STOCK, stock(("A", 1)), event_id="m1")
    receiver.client.put(STOCK, content=b"{}")
    receiver.settle()
    text = receiver.client.get("/metrics").text
    assert 'hgsync_webhook_calls_total{operation="stock_update",outcome="accepted",status="200"} 1.0' in text
    assert (
        'hgsync_webhook_calls_total{operation="stock_update",outcome="unauthenticated",status="401"} 1.0'
        in text
    )
    assert 'hgsync_inbox_events{operation="stock_update",status="applied"} 1.0' in text
