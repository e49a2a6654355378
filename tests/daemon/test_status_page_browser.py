"""The status page in a real browser: headless Chromium loads it, runs its script, and we read the DOM.

One page load: Chromium's virtual time lets the page's 5 s refresh fire twice without waiting, so
the DOM shows the swapped-in second snapshot and, after the third answer fails, the banner that
keeps the last state on screen. A screenshot is left beside the DOM for a person to look at.

Chromium is Debian's, installed by ``scripts/ensure-services``. Without it the test skips,
unless ``HGSYNC_REQUIRE_SERVICES`` is set (as ``make test`` does), when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.service import status_page
from engine.service.status_page import REFRESH_SECONDS
from engine.service.status_server import StatusServer
from tests.daemon import CONFIG_PROBLEM, STALE_PROBLEM, XSS, fake_snapshot

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)


def _chromium() -> str:
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found:
        return found
    reason = "chromium is not installed (scripts/ensure-services installs it)"
    if os.environ.get("HGSYNC_REQUIRE_SERVICES"):
        pytest.fail(reason + "; HGSYNC_REQUIRE_SERVICES is set")
    pytest.skip(reason)


class ThreeAnswers:
    """The first snapshot, a second one (pid 1002), then an error."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            calls = self.calls
        if calls > 2:
            raise RuntimeError("the daemon's snapshot broke")
        snap = fake_snapshot()
        snap["pid"] = 1000 + calls
        return snap


def _text(dom: str) -> str:
    """The DOM's text, tags removed and spaces folded (entities left as they are)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_the_page_works_in_headless_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chromium = _chromium()
    monkeypatch.setattr(status_page, "relative", lambda moment, now: "(server)")
    answers = ThreeAnswers()
    screenshot = tmp_path / "status-page.png"
    budget = int((2 * REFRESH_SECONDS + 1.5) * 1000)
    with StatusServer("127.0.0.1", 0, answers) as server:
        done = subprocess.run(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                f"--virtual-time-budget={budget}",
                "--window-size=1280,1800",
                f"--screenshot={screenshot}",
                "--dump-dom",
                server.url + "/",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    dom = done.stdout
    (tmp_path / "dom.html").write_text(dom)
    assert done.returncode == 0 and "<main" in dom, done.stderr[-2000:]
    assert answers.calls == 3, "the page should have refreshed itself twice"

    # The page's script ran (under the nonce-only Content-Security-Policy) ...
    assert re.search(r'<html[^>]*data-live="1"', dom)
    text = _text(dom)
    # ... swapped in the second snapshot, then kept it on screen when the third answer failed.
    assert "pid 1002" in text
    banner = re.search(r'<p id="conn"[^>]*>([^<]*)</p>', dom)
    assert banner and "No fresh status since" in banner.group(1) and "HTTP 500" in banner.group(1)
    assert 'id="conn" class="box bad" role="status" hidden' not in dom

    for name, schedule in (
        ("cancel-order-items", "every 2s"),
        ("order-status", "cron '*/5 * * * *' (UTC)"),
        ("manual-fixes", "by hand only"),
    ):
        assert name in text and schedule in text
    assert "1001_HBV1" in text and "reason: must not be empty" in text
    assert CONFIG_PROBLEM in text and STALE_PROBLEM in text
    for status in (
        "last run failed",
        "last run ok",
        "running",
        "stale: file broken",
        "never run",
        "rejected",
    ):
        assert f">{status}" in dom, status
    # Relative times come from the data attributes, by the script (the server's were blanked).
    assert "(server)" not in dom
    assert re.search(r'data-at="[^"]+">\d+s ago</span>', dom)
    assert re.search(r'data-at="[^"]+">in \d+ min</span>', dom)
    assert re.search(r'data-at="[^"]+">\d+ min ago</span>', dom)

    # The failing reason with a <script> in it is text, never an element.
    assert "reason: &lt;script&gt;alert(1)&lt;/script&gt; is not allowed" in dom
    assert XSS not in dom
    assert dom.count("<script") == 1  # the page's own script only

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000


class RecordedActions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, pipeline: str, retry_failed: bool) -> str:
        self.calls.append((pipeline, retry_failed))
        return f"{pipeline}: run started (now)"


def test_run_now_is_clicked_in_headless_chromium(tmp_path: Path) -> None:
    """A person's click on "Run now": the form posts its token, the daemon is asked to run the
    pipeline, and the page comes back saying so; a pipeline opened from the summary unfolds."""
    from tests.daemon.cdp import Browser

    chromium = _chromium()
    actions = RecordedActions()
    with StatusServer("127.0.0.1", 0, lambda: fake_snapshot(), act=actions) as server:
        browser = Browser(chromium, FLAGS, tmp_path / "profile")
        try:
            browser.open(server.url + "/")
            browser.wait_for("document.documentElement.getAttribute('data-live') === '1'")
            collapsed = "document.getElementById('p0-cancel-order-items').open"
            assert browser.evaluate(collapsed) is False
            browser.click("tr[data-pipeline='cancel-order-items'] button.primary")
            notice = browser.wait_for(
                "document.getElementById('notice') && document.getElementById('notice').textContent"
            )
            assert notice == "cancel-order-items: run started (now)"
            assert actions.calls == [("cancel-order-items", False)]
            browser.click("a[href='#p0-cancel-order-items']")
            browser.wait_for(collapsed)
            browser.screenshot(tmp_path / "after-run-now.png")
        finally:
            browser.close()
    assert (tmp_path / "after-run-now.png").stat().st_size > 20_000
