"""Alerts to a webhook: once per incident, a notice when it is over, a template for the body.

The webhook is a real HTTP server on loopback that keeps what it is sent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from structlog.testing import capture_logs

from engine.definitions.settings import AlertSettings
from engine.service.alerts import Alerter


class Webhook:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(data))
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/secret-path"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self) -> list[str]:
        return [b.get("text", "") for b in self.bodies]

    def wait(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count:
            assert time.monotonic() < deadline, f"{len(self.bodies)} alert(s), not {count}: {self.bodies}"
            time.sleep(0.05)
        return self.bodies


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


def test_a_failed_run_alerts_once_and_then_says_it_is_over(webhook: Webhook) -> None:
    alerter = Alerter(AlertSettings(webhook=webhook.url, failing_rows=5), page="http://status/")

    async def story() -> None:
        await alerter.run_ended("orders", "failed", "rejected 2", failing=2)
        await alerter.run_ended("orders", "failed", "rejected 3", failing=3)
        await alerter.run_ended("orders", "interrupted", "", failing=3)
        await alerter.run_ended("orders", "failed", "rejected 6", failing=6)
        await alerter.run_ended("orders", "ok", "", failing=0)
        await alerter.run_ended("orders", "ok", "", failing=0)

    asyncio.run(story())
    texts = webhook.texts()
    assert len(texts) == 4, texts
    assert texts[0].startswith(":red_circle: hgsync orders: run failed\nrejected 2\nhttp://status/")
    assert texts[1].startswith(":red_circle: hgsync orders: 6 failing keys (threshold 5)")
    assert ":large_green_circle: hgsync orders: a run went well again" in texts[2]
    assert ":large_green_circle: hgsync orders: 0 failing keys now" in texts[3]


def test_a_broken_file_alerts_until_fixed_and_the_body_can_be_a_template(webhook: Webhook) -> None:
    template = '{"summary": {{ (alert.pipeline ~ " " ~ alert.state ~ ": " ~ alert.summary) | tojson }}, "kind": "{{ alert.kind }}"}'
    alerter = Alerter(AlertSettings(webhook=webhook.url, body=template))

    async def story() -> None:
        problem = 'pipelines/orders.yaml:3:1 key: "quoted" problem'
        await alerter.files_checked({"orders": [problem]}, {"orders"})
        await alerter.files_checked({"orders": [problem]}, {"orders"})
        await alerter.files_checked({}, {"orders"})

    asyncio.run(story())
    assert webhook.bodies == [
        {"summary": "orders firing: file broken by an edit", "kind": "pipeline_broken"},
        {"summary": "orders resolved: file fixed", "kind": "pipeline_broken"},
    ]


def test_a_webhook_that_fails_is_logged_and_tried_again_without_the_url(webhook: Webhook) -> None:
    alerter = Alerter(AlertSettings(webhook=webhook.url))
    webhook.status = 500
    with capture_logs() as logs:
        asyncio.run(alerter.run_ended("orders", "error", "HG down", failing=0))
    assert [e["event"] for e in logs] == ["alert_failed"] and logs[0]["status"] == 500
    assert "secret-path" not in json.dumps(logs)
    webhook.status = 200
    asyncio.run(alerter.run_ended("orders", "error", "HG down", failing=0))
    assert len(webhook.bodies) == 2 and alerter.open == {("orders", "run_failed"): "run error"}


def test_a_template_that_does_not_make_json_is_logged(webhook: Webhook) -> None:
    alerter = Alerter(AlertSettings(webhook=webhook.url, body="not json {{ alert.kind }}"))
    with capture_logs() as logs:
        asyncio.run(alerter.run_ended("orders", "failed", "x", failing=0))
    assert logs[0]["event"] == "alert_failed" and webhook.bodies == []


def test_settings_refuse_a_webhook_that_is_not_http_and_a_broken_template() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        AlertSettings(webhook="ftp://example/hook")
    with pytest.raises(ValueError, match="template line 1"):
        AlertSettings(webhook="https://example/hook", body="{{ alert.kind ")


def test_the_daemon_alerts_on_a_failing_run_and_a_broken_edit(project, sandbox, daemon_factory, webhook):
    from connectors.hepsiglobal.sandbox import Faults
    from tests.daemon.test_daemon import _events_table, _pipeline

    _events_table(project, 3, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1s}")
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(config.read_text().replace("max_attempts: 6", "max_attempts: 2"))
    daemon = daemon_factory()
    config.write_text(config.read_text() + f"  alerts:\n    webhook: {webhook.url}\n    failing_rows: 2\n")
    sandbox.set_faults(Faults(rate_500=1.0))
    daemon.wait_for("alert_sent", kind="failing_rows")
    texts = webhook.texts()
    assert texts[0].startswith(":red_circle: hgsync events-a: run failed\ndelivered 0")
    assert texts[1].startswith(":red_circle: hgsync events-a: 3 failing keys (threshold 2)")
    assert all(text.endswith(daemon.url + "/") for text in texts)

    (project.home / "pipelines" / "events-a.yaml").write_text("key: [unclosed\n")
    webhook.wait(3)
    assert "events-a: file broken by an edit\npipelines/events-a.yaml:" in webhook.texts()[2]
    sandbox.set_faults(Faults())
    _pipeline(project, "events-a", "a", schedule="{every: 1s}")
    webhook.wait(6)
    resolved = sorted(t.split("events-a: ", 1)[1].split("\n")[0] for t in webhook.texts()[3:])
    assert resolved == ["0 failing keys now", "a run went well again", "file fixed"]
    daemon.signal()
    assert daemon.wait() == 0
    assert "secret-path" not in daemon.log_path.read_text()
