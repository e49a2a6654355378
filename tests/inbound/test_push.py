"""Pushing webhooks to a marketplace target: price and stock rows from a CSV drop, grouped into
requests of at most the batch size, sent over loopback HTTP to hgsync's own receiver (signed
as it checks) or to a small Starlette marketplace that refuses what a test wants refused."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.definitions.loader import load_project
from engine.outbound.run import run_pipeline
from engine.store import StateStore
from tests.conftest import ProjectDir
from tests.inbound.conftest import SECRET, Receiver

PUSHER = """\
targets:
  marketplace:
    kind: marketplace
    base_url: {url}
    auth: {auth}
    rate_limit: null
    concurrency: 2
    max_attempts: 3
    backoff: {{base: 0.01, max: 0.05}}
state: sqlite:///state/state.db
"""

PRICES = """\
source:
  csv:
    folder: drop
    settle_seconds: 0
    columns: {{sku: text, company_id: integer, price: decimal, currency: text}}
key: "{{{{ row.sku }}}}_{{{{ row.company_id }}}}"
operation: price_update
mode: upsert
{batch}
request:
  body:
    items:
      - sku: "{{{{ row.sku }}}}"
        company_id: "{{{{ row.company_id }}}}"
        price: "{{{{ row.price | money }}}}"
        currency: "{{{{ row.currency }}}}"
"""


def pusher(tmp_path: Path, url: str, auth: str, batch: str = "") -> ProjectDir:
    project = ProjectDir(tmp_path / "pusher", url)
    project.write_config(PUSHER.format(url=url, auth=auth))
    project.pipeline("prices-out", PRICES.format(batch=batch))
    (project.home / "drop").mkdir()
    return project


def drop(project: ProjectDir, name: str, rows: list[tuple[str, int, str, str]]) -> None:
    with (project.home / "drop" / name).open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "company_id", "price", "currency"])
        writer.writerows(rows)


def prices(count: int, *, bad: set[int] = frozenset(), cents: int = 0) -> list[tuple[str, int, str, str]]:
    return [
        (
            f"{'BAD' if i in bad else 'HBV'}{i:08d}",
            2001 + i % 3,
            f"{10 + i % 90}.{(i + cents) % 100:02d}",
            "USD",
        )
        for i in range(count)
    ]


def run(project: ProjectDir, **kwargs: Any) -> Any:
    loaded = load_project(project.home)
    assert not loaded.errors, loaded.errors
    state = StateStore(f"sqlite:///{project.home / 'state' / 'state.db'}")
    try:
        return asyncio.run(run_pipeline(loaded, "prices-out", state, **kwargs))
    finally:
        state.close()


def statuses(project: ProjectDir) -> dict[str, int]:
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        return dict(db.execute("SELECT status, COUNT(*) FROM hgsync_deliveries GROUP BY status").fetchall())
    finally:
        db.close()


# -- to hgsync's own receiver -------------------------------------------------------------------


@pytest.fixture
def receiver(inbound_project: ProjectDir, start_receiver: Callable[[ProjectDir], Receiver]) -> Receiver:
    config = inbound_project.home / "config" / "hgsync.yaml"
    config.write_text(config.read_text().replace("max_body: 64KB", "max_body: 1MB"))
    return start_receiver(inbound_project)


def test_2500_price_rows_go_out_as_3_signed_requests_and_land_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    project = pusher(tmp_path, receiver.url, f"{{hmac: {{secret: {SECRET}}}}}")
    drop(project, "prices-1.csv", prices(2500))

    plan = project.cli("plan", "prices-out")
    assert plan.exit_code == 0, plan.output
    assert "in 3 request(s): 2 × 1000, 1 × 500 items" in plan.output

    result = run(project)
    assert result.status == "ok", result
    assert result.counts["delivered"] == 2500 and result.counts["requests"] == 3
    receiver.settle()
    events = receiver.store.inbox_events(operation="price_update")
    assert sorted(len(e.body["items"]) for e in events) == [500, 1000, 1000]
    assert {e.status for e in events} == {"applied"}
    landed = (receiver.project.home / "received" / "prices.csv").read_text().splitlines()
    assert len(landed) == 1 + 2500  # a header, then each item once

    # nothing changed: nothing sent; three prices changed: one request of three items
    drop(project, "prices-2.csv", prices(3, cents=7))
    again = run(project)
    assert again.counts["changed"] == 3 and again.counts["requests"] == 1
    receiver.settle()
    newest = receiver.store.inbox_events(operation="price_update", limit=1)[0]
    assert [item["sku"] for item in newest.body["items"]] == ["HBV00000000", "HBV00000001", "HBV00000002"]
    assert len(receiver.store.inbox_events(operation="price_update")) == 4


def test_a_receiver_that_refuses_the_signature_stops_the_run_and_rejects_no_row(
    tmp_path: Path, receiver: Receiver
) -> None:
    project = pusher(tmp_path, receiver.url, "{hmac: {secret: not-the-receivers}}")
    drop(project, "prices.csv", prices(30))
    result = project.cli("run", "prices-out")
    assert result.exit_code == 2, result.output
    assert "refuses the target's hmac credentials" in result.output
    assert "not-the-receivers" not in result.output
    assert statuses(project).get("rejected", 0) == 0 and statuses(project).get("delivered", 0) == 0
    assert receiver.store.inbox_events() == []


def test_basic_auth_as_the_receiver_checks_it(
    tmp_path: Path, inbound_project: ProjectDir, start_receiver: Callable[[ProjectDir], Receiver]
) -> None:
    config = inbound_project.home / "config" / "hgsync.yaml"
    text = re.sub(
        r"hmac: \{secret: .*\}", "basic: {username: hg, password: pw-for-tests}", config.read_text()
    )
    assert "basic:" in text
    config.write_text(text)
    receiver = start_receiver(inbound_project)
    project = pusher(tmp_path, receiver.url, "{basic: {username: hg, password: pw-for-tests}}")
    drop(project, "prices.csv", prices(5))
    assert run(project).counts["delivered"] == 5
    receiver.settle()
    assert len(receiver.store.inbox_events(operation="price_update")) == 1


# -- to a marketplace of the test's own ---------------------------------------------------------


class Marketplace:
    """A marketplace's Price update endpoint on loopback (Starlette on uvicorn): bearer auth,
    refuses a whole call (400) holding an item whose sku starts with BAD, answers the very first
    call 503 (so that its retry shows the idempotency key kept), records what it accepted.
    With ``hang_on=N`` the Nth call gets no answer until ``release`` is set (and then none
    that counts): a request on the wire when its sender dies."""

    def __init__(self, hang_on: int | None = None) -> None:
        self.calls: list[tuple[int, str, list[str]]] = []  # status, event id, skus
        self.accepted: list[str] = []
        self.hanging = threading.Event()
        self.release = threading.Event()

        async def price_update(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != "Bearer mp-token":
                return JSONResponse({"message": "who are you"}, status_code=401)
            body = json.loads(await request.body())
            skus = [item["sku"] for item in body["items"]]
            if hang_on is not None and len(self.calls) + 1 == hang_on and not self.release.is_set():
                self.calls.append((0, request.headers.get("x-hg-event-id", ""), skus))
                self.hanging.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
                return JSONResponse({"message": "too late"}, status_code=503)
            status = 200
            if not self.calls and hang_on is None:
                status = 503
            elif any(s.startswith("BAD") for s in skus):
                status = 400
            self.calls.append((status, request.headers.get("x-hg-event-id", ""), skus))
            if status == 200:
                self.accepted.extend(skus)
                return JSONResponse({"data": {}, "message": "ok"})
            return JSONResponse(
                {"message": "items: a sku is refused" if status == 400 else "busy"}, status_code=status
            )

        app = Starlette(routes=[Route("/webhooks/price-update", price_update, methods=["PUT"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the test marketplace did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.release.set()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def marketplace() -> Iterator[tuple[Marketplace, str]]:
    server = Marketplace()
    url = server.start()
    yield server, url
    server.stop()


def test_a_batch_refused_for_one_bad_row_is_split_until_only_that_row_is_rejected(
    tmp_path: Path, marketplace: tuple[Marketplace, str]
) -> None:
    server, url = marketplace
    project = pusher(tmp_path, url, "{bearer: mp-token}")
    drop(project, "prices.csv", prices(2500, bad={1234}))

    result = run(project)
    assert result.status == "failed"
    assert result.counts["delivered"] == 2499 and result.counts["send_rejected"] == 1
    assert [r["key"] for r in result.rejected] == ["BAD00001234_2002"]
    assert statuses(project) == {"delivered": 2499, "rejected": 1}
    # every good item was accepted exactly once; the bad one never
    assert len(server.accepted) == 2499 and len(set(server.accepted)) == 2499
    refused = [skus for status, _, skus in server.calls if status == 400]
    assert [len(skus) for skus in refused] == [1000, 500, 250, 125, 63, 32, 16, 8, 4, 2, 1]
    assert all("BAD00001234" in skus for skus in refused)
    assert max(len(skus) for _, _, skus in server.calls) == 1000
    # the 503 was retried with the same idempotency key; every other request had its own
    first = server.calls[0]
    retry = next(call for call in server.calls[1:] if call[2] == first[2])
    assert first[0] == 503 and retry[0] == 200 and retry[1] == first[1]
    keys = [key for _, key, _ in server.calls[1:]]
    assert len(set(keys)) == len(keys) and all(len(k) == 40 for k in keys)
    assert result.counts["requests"] == 3 + 2 * 10  # three batches, ten splits in two

    history = project.cli("history", "prices-out", "--failing")
    assert "BAD00001234_2002" in history.output and "400" in history.output

    # the file goes to rejected/ with a report naming the bad row and the marketplace's answer
    report = (project.home / "drop" / "rejected" / "prices.csv.errors.csv").read_text()
    assert report.splitlines()[1:] == ["prices.csv,1236,,items: a sku is refused"]  # header, then row 1234
    # dropped again as it was: the rejected row is not sent again until it changes
    (project.home / "drop" / "rejected" / "prices.csv").rename(project.home / "drop" / "prices.csv")
    again = run(project)
    assert again.counts["unchanged"] == 2499 and again.counts["rejected"] == 1
    assert again.counts.get("requests", 0) == 0


def test_a_lower_batch_size_and_a_stop_part_way_resume_without_sending_twice(
    tmp_path: Path, marketplace: tuple[Marketplace, str]
) -> None:
    server, url = marketplace
    project = pusher(tmp_path, url, "{bearer: mp-token}", batch="batch: {size: 100}")
    drop(project, "prices.csv", prices(1000))
    stop = asyncio.Event()

    def after_first_request(row: Any, outcome: Any) -> None:
        if outcome.kind == "delivered":
            stop.set()  # as SIGTERM does: requests on the wire finish, no new one starts

    first = run(project, stop=stop, on_outcome=after_first_request)
    assert first.status == "interrupted"
    sent = first.counts["delivered"]
    assert (
        100 <= sent <= 300 and sent % 100 == 0
    )  # the concurrency (2) of units, at most, plus the retried one
    assert statuses(project) == {"delivered": sent}  # the rest was put back as it was
    second = run(project)
    assert second.status == "ok" and second.counts["delivered"] == 1000 - sent
    assert sorted(server.accepted) == sorted(r[0] for r in prices(1000))  # each item once
    assert {len(skus) for status, _, skus in server.calls} == {100}


def test_a_batch_over_the_operations_limit_is_a_located_error(tmp_path: Path) -> None:
    project = pusher(tmp_path, "http://127.0.0.1:9", "{bearer: t}", batch="batch: {size: 1001}")
    result = project.cli("validate", "--offline")
    assert result.exit_code == 2
    assert (
        "pipelines/prices-out.yaml:9:15 batch.size: price_update carries at most 1000 items a request; "
        "batch.size 1001 is over it"
    ) in result.output


@pytest.mark.slow
def test_kill_9_with_a_batch_on_the_wire_resends_only_that_batch_with_its_key(tmp_path: Path) -> None:
    server = Marketplace(hang_on=3)
    url = server.start()
    try:
        project = pusher(tmp_path, url, "{bearer: mp-token}", batch="batch: {size: 100}")
        config = project.home / "config" / "hgsync.yaml"
        config.write_text(config.read_text().replace("concurrency: 2", "concurrency: 1"))
        drop(project, "prices.csv", prices(500))
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "hgsync"), "--home", str(project.home), "run", "prices-out"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert server.hanging.wait(60), "the third request never came"
            time.sleep(0.2)  # the two answers before it committed
        finally:
            process.kill()  # SIGKILL: no outcome of the request on the wire is recorded
            process.wait(10)
        # the rows of the request on the wire were marked before it left, as were the next
        # units, queued (the queue holds `concurrency` units, the producer's window as many):
        # in doubt, not lost
        assert statuses(project) == {"delivered": 200, "sending": 300}
        server.release.set()
        result = run(project)
        assert result.status == "ok" and result.counts["retry"] == 300
        assert result.counts["requests"] == 3
        assert statuses(project) == {"delivered": 500}
        assert sorted(server.accepted) == sorted(r[0] for r in prices(500))  # each item accepted once
        hung, resent = server.calls[2], server.calls[3]
        assert resent[2] == hung[2] and resent[1] == hung[1]  # the same rows, the same idempotency key
    finally:
        server.stop()
