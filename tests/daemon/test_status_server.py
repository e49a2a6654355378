"""The daemon's status server over real HTTP: routes, health rule, metrics text, page escaping."""

from __future__ import annotations

import copy
import json
import logging
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from engine.service.metrics import DaemonMetrics, samples
from engine.service.status_page import relative, render_page
from engine.service.status_server import StatusServer, health
from tests.daemon import CONFIG_PROBLEM, STALE_PROBLEM, XSS, fake_snapshot


class Daemon:
    """What the server asks: a snapshot the test can change, or make raise."""

    def __init__(self) -> None:
        self.state = fake_snapshot()
        self.fail: Exception | None = None
        self.calls = 0

    def snapshot(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return copy.deepcopy(self.state)


@pytest.fixture
def daemon() -> Daemon:
    return Daemon()


@pytest.fixture
def server(daemon: Daemon) -> Iterator[StatusServer]:
    with StatusServer("127.0.0.1", 0, daemon.snapshot) as running:
        yield running


@pytest.fixture
def client(server: StatusServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


# --- routes -------------------------------------------------------------------------------------


def test_each_route_answers_with_its_content_type(client: httpx.Client, daemon: Daemon) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/healthz": "application/json",
        "/metrics": "text/plain; version=0.0.4; charset=utf-8",
        "/status.json": "application/json",
    }
    for path, content_type in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type
        assert int(response.headers["content-length"]) == len(response.content)
        assert response.headers["cache-control"] == "no-store"
    assert client.get("/status.json").json() == daemon.state
    assert client.get("/?x=1").status_code == 200  # a query string does not change the route


def test_unknown_paths_are_404_and_other_methods_405(client: httpx.Client) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert "/healthz" in missing.text
    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        response = client.request(method, "/healthz", content=b"{}" if method != "HEAD" else None)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET"
    assert client.get("/healthz").status_code == 200  # the connection still serves


def test_a_snapshot_that_raises_gives_500_and_the_server_goes_on(
    client: httpx.Client, daemon: Daemon
) -> None:
    daemon.fail = RuntimeError("database said: password=hunter2")
    with capture_logs() as logs:
        for path in ("/", "/healthz", "/metrics", "/status.json"):
            response = client.get(path)
            assert response.status_code == 500
            assert "RuntimeError" in response.text
            assert "hunter2" not in response.text  # details go to the log, not to the client
            assert len(response.text) < 200
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["status_snapshot_failed"] * 4
    daemon.fail = None
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """Let debug events through (another test may have configured the level to info)."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield
    structlog.configure(**before)


@pytest.mark.usefixtures("debug_logs")
def test_requests_are_logged_at_debug_and_not_on_stderr(
    client: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    with capture_logs() as logs:
        client.get("/metrics")
    [event] = [e for e in logs if e["event"] == "status_request"]
    assert event["log_level"] == "debug"
    assert (event["method"], event["path"], event["status"]) == ("GET", "/metrics", 200)
    assert "GET /metrics" not in capfd.readouterr().err  # no http.server access log


def test_a_foreign_host_name_is_refused_on_loopback(server: StatusServer, client: httpx.Client) -> None:
    """A web page cannot read the loopback server through DNS rebinding."""
    assert client.get("/healthz", headers={"Host": "evil.example:80"}).status_code == 403
    assert client.get("/healthz", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "[::1]"}).status_code == 200


def test_stop_frees_the_port_and_is_safe_twice(daemon: Daemon) -> None:
    server = StatusServer("127.0.0.1", 0, daemon.snapshot).start()
    port = server.port
    with httpx.Client(timeout=5) as http:  # a keep-alive connection stays open until stop
        assert http.get(server.url + "/healthz").status_code == 200
        server.stop()
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get(f"http://127.0.0.1:{port}/healthz")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    again = StatusServer("127.0.0.1", port, daemon.snapshot)
    with again:
        assert httpx.get(again.url + "/healthz").status_code == 200
    assert not again.serving


def test_binding_a_port_in_use_raises_oserror(server: StatusServer, daemon: Daemon) -> None:
    with pytest.raises(OSError):
        StatusServer("127.0.0.1", server.port, daemon.snapshot).start()


# --- /healthz -----------------------------------------------------------------------------------


def test_healthz_says_which_pipeline_failed_but_stays_200(client: httpx.Client, daemon: Daemon) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["config_problems"] == 1
    cancel, status, manual = (
        body["pipelines"][n] for n in ("cancel-order-items", "order-status", "manual-fixes")
    )
    assert cancel["last_run_ok"] is False and cancel["stale"] is False
    assert cancel["last_run_at"] == daemon.state["pipelines"][0]["last_runs"][0]["finished_at"]
    assert status["last_run_ok"] is True and status["stale"] is True  # a run going does not count yet
    assert status["problem"] == STALE_PROBLEM  # the broken file's first problem, located
    assert body["config_problem"] == CONFIG_PROBLEM
    assert manual == {"last_run_ok": None, "last_run_at": None, "stale": False}


def _healthy() -> dict[str, Any]:
    snap = fake_snapshot()
    snap["config_problems"] = []
    snap["pipelines"][0]["last_runs"].pop(0)
    snap["pipelines"][1].update(stale=False, problems=[])
    return snap


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda s: None, "ok", 200),
        (lambda s: s["config_problems"].append(CONFIG_PROBLEM), "degraded", 200),
        (lambda s: s["pipelines"][0]["last_runs"][0].update(status="error"), "degraded", 200),
        (lambda s: s["pipelines"][0]["last_runs"][0].update(status="interrupted"), "degraded", 200),
        (lambda s: s["pipelines"][1].update(stale=True, problems=[STALE_PROBLEM]), "degraded", 200),
        (lambda s: s.update(pipelines=[]), "ok", 200),
        (lambda s: s.update(stopping=True), "stopping", 503),
        (lambda s: s.update(heartbeats={"scheduler": 0.5, "watcher": 1.0}), "ok", 200),
        (lambda s: s.update(heartbeats={"scheduler": 0.5, "watcher": 61.0}), "stuck", 503),
        (lambda s: s.update(heartbeats={"scheduler": 600.0, "watcher": 1.0}), "stuck", 503),
    ],
    ids=[
        "ok",
        "config-problem",
        "error",
        "interrupted",
        "stale",
        "no-pipelines",
        "stopping",
        "heartbeats",
        "watcher-stuck",
        "scheduler-stuck",
    ],
)
def test_health_rule(change: Callable[[dict[str, Any]], None], status: str, code: int) -> None:
    snap = _healthy()
    change(snap)
    assert health(snap)[0] == code
    assert health(snap)[1]["status"] == status
    if status == "stuck":
        assert health(snap)[1]["stuck"] == [n for n, age in snap["heartbeats"].items() if age > 60]


def test_healthz_is_503_while_stopping(client: httpx.Client, daemon: Daemon) -> None:
    daemon.state["stopping"] = True
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "stopping"


# --- /metrics -----------------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples(text)}


def test_metrics_count_every_attempt_by_operation_and_status() -> None:
    keys = {"orders": {"delivered": 5, "rejected": 2, "failed": 1, "in_doubt": 1, "sending": 1}}
    metrics = DaemonMetrics(keys=lambda: keys, stale=lambda: {"orders": False, "refunds": True})
    for status in (429, 503, 200, 200, None, 400):
        metrics.attempt("orders", "create_order", status, 0.03)
    metrics.attempt("orders", "create_token", 200, 0.01)
    metrics.retried("orders", 3)
    counts = {"read": 9, "new": 4, "unchanged": 5, "delivered": 2, "send_rejected": 1, "send_failed": 1}
    metrics.run_ended("orders", "failed", counts, 4.2, 1764186002.0)
    metrics.run_ended("orders", "ok", {"read": 9, "unchanged": 9}, 0.3, 1764186102.0)
    metrics.overlap("orders")
    found = _samples(metrics.exposition().decode())

    def value(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted(labels.items())))]

    requests = "hgsync_requests_total"
    assert value(requests, pipeline="orders", operation="create_order", status="429") == 1
    assert value(requests, pipeline="orders", operation="create_order", status="503") == 1
    assert value(requests, pipeline="orders", operation="create_order", status="200") == 2
    assert value(requests, pipeline="orders", operation="create_order", status="network_error") == 1
    assert value(requests, pipeline="orders", operation="create_token", status="200") == 1
    assert value("hgsync_request_duration_seconds_count", operation="create_order") == 6
    assert value("hgsync_request_duration_seconds_bucket", operation="create_order", le="0.05") == 6
    assert value("hgsync_run_duration_seconds_count", pipeline="orders") == 2
    assert value("hgsync_run_duration_seconds_sum", pipeline="orders") == pytest.approx(4.5)
    assert value("hgsync_runs_total", pipeline="orders", status="failed") == 1
    assert value("hgsync_rows_total", pipeline="orders", verdict="unchanged") == 14
    assert value("hgsync_rows_total", pipeline="orders", verdict="new") == 4
    assert value("hgsync_deliveries_total", pipeline="orders", outcome="rejected") == 1
    assert value("hgsync_retries_total", pipeline="orders") == 3
    assert value("hgsync_skipped_overlaps_total", pipeline="orders") == 1
    assert value("hgsync_last_run_ok", pipeline="orders") == 1
    assert value("hgsync_last_success_timestamp_seconds", pipeline="orders") == 1764186102.0
    assert value("hgsync_failing_keys", pipeline="orders") == 3
    assert value("hgsync_in_doubt_keys", pipeline="orders") == 2
    assert value("hgsync_pipeline_stale", pipeline="refunds") == 1
    assert value("hgsync_up") == 1


def test_metrics_route_serves_the_daemons_registry(daemon: Daemon) -> None:
    metrics = DaemonMetrics()
    metrics.attempt('odd "name"', "create_order", 429, 0.5)
    with (
        StatusServer("127.0.0.1", 0, daemon.snapshot, metrics=metrics.exposition) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        text = http.get("/metrics").text
    assert (
        'hgsync_requests_total{operation="create_order",pipeline="odd \\"name\\"",status="429"} 1.0' in text
    )
    assert _samples(text)[("hgsync_up", ())] == 1


def test_metrics_without_a_registry_say_up(client: httpx.Client) -> None:
    assert _samples(client.get("/metrics").text) == {("hgsync_up", ()): 1.0}


# --- the page -----------------------------------------------------------------------------------


def test_the_page_escapes_every_value_and_carries_a_nonce_policy(client: httpx.Client) -> None:
    response = client.get("/")
    page = response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert XSS not in page
    assert "config/hgsync.yaml:7:5 targets.hepsiglobal.rate_limt" in page
    assert "pipelines/order-status.yaml:12:9" in page
    assert "cron &#x27;*/5 * * * *&#x27; (UTC)" in page
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)  # type: ignore[union-attr]
    assert page.count(f'nonce="{nonce}"') == 2  # the style and the script, nothing else runs
    assert "default-src 'none'" in policy
    assert client.get("/").headers["content-security-policy"] != policy  # a fresh nonce each time


def test_page_escapes_names_and_problems_from_files() -> None:
    snap = fake_snapshot()
    snap["pipelines"][0]["name"] = '<img src=x onerror="alert(2)">'
    snap["pipelines"][1]["problems"] = ['pipelines/x.yaml:1:1 key: <b>bold</b> & "quoted"']
    snap["config_problems"] = ["</code></li><script>alert(3)</script>"]
    page = render_page(snap)
    assert "<img" not in page and "<b>" not in page and "alert(3)</script>" not in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;" in page


def test_relative_times() -> None:
    now = datetime(2026, 11, 26, 19, 40, tzinfo=UTC)
    cases = {0.2: "now", 2: "in 2s", -59: "59s ago", -300: "5 min ago", 7200: "in 2 h", -3 * 86400: "3 d ago"}
    for seconds, words in cases.items():
        assert relative(now + timedelta(seconds=seconds), now) == words
    page = render_page(fake_snapshot(now), now=now)
    assert '<span class="rel" data-at="2026-11-26T19:40:02+00:00">in 2s</span>' in page
    assert "2026-11-26 19:30:00 UTC" in page and "10 min ago" in page  # up since
    assert "by hand only" in page and "never run" in page


def test_page_of_a_stopping_daemon_with_odd_values() -> None:
    snap = fake_snapshot()
    snap["stopping"] = True
    snap["pipelines"][0]["last_runs"][0]["started_at"] = "not a time"
    snap["pipelines"][0]["last_runs"][0]["counts"] = {}
    snap["pipelines"][2].update(enabled=False)
    page = render_page(snap)
    assert "Stopping" in page and "not a time" in page and "disabled" in page
    assert json.dumps(snap)  # the fake stays JSON-serialisable
