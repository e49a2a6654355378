"""Hostile edits under a running daemon: each is reported (log, status page, /healthz), the
last good version keeps running, and the watcher still picks up the next edit."""

from __future__ import annotations

import time

import httpx

from tests.daemon.test_daemon import _events_table, _pipeline

GOOD = "schedule: {every: 2s}\n"
# (what the edit puts in events-a.yaml, a fragment of the problem it must produce)
EDITS = [
    ("schedule: {every: 99999999999999999999d}", "longer than a year"),
    ("Key: x", "unknown key 'Key'"),
    ("x: &a [1, *a]", "recursive alias"),
    ("x: " + "[" * 200 + "]" * 200, "nested more than 64 levels"),
    (
        "x: &a ['x','x','x','x','x','x','x','x','x','x']\n"
        + "".join(
            f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "alias bomb",
    ),
    ("description: a\x07b", "control character"),
]


def _status(daemon) -> dict:
    return {p["name"]: p for p in httpx.get(daemon.url + "/status.json").json()["pipelines"]}


def _until(condition, daemon, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, daemon.tail()
        time.sleep(0.1)


def test_hostile_edits_are_reported_and_the_watcher_survives(project, sandbox, daemon_factory):
    _events_table(project, 4, kinds="ab")
    _pipeline(project, "events-a", "a", reason="first-{{ row.id }}")
    _pipeline(project, "events-b", "b")
    daemon = daemon_factory()
    daemon.wait_for("run_finished", count=2)
    path = project.home / "pipelines" / "events-a.yaml"
    good = path.read_text()

    for text, fragment in EDITS:
        path.write_text(good.replace(GOOD, "") + text + "\n", encoding="utf-8")
        _until(lambda f=fragment: any(f in e["problem"] for e in daemon.events("pipeline_invalid")), daemon)
        health = httpx.get(daemon.url + "/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        by_name = _status(daemon)
        assert by_name["events-a"]["stale"] and any(fragment in p for p in by_name["events-a"]["problems"])
        path.write_text(good)  # fixed again, before the next edit
        _until(lambda: not _status(daemon)["events-a"]["stale"], daemon)
        assert not daemon.events("reload_failed"), daemon.tail()

    # a template that would never end is a row error per row, the runs go on
    path.write_text(good.replace("first-{{ row.id }}", "{{ 7 ** 999999999 }}"))
    seen = len(daemon.events("run_finished"))
    daemon.wait_for("run_finished", count=seen + 3)
    # and the watcher is still alive: the next good edit is picked up and delivered
    path.write_text(good.replace("first-{{ row.id }}", "after-{{ row.id }}"))
    deadline = time.monotonic() + 20
    reasons: set[str] = set()
    while time.monotonic() < deadline and not {"after-2", "after-4"} <= reasons:
        reasons = {r["body"]["reason"] for r in sandbox.records("cancel_order_item")}
        time.sleep(0.2)
    assert {"after-2", "after-4"} <= reasons
    health = httpx.get(daemon.url + "/healthz").json()
    assert set(health["heartbeats"]) == {"scheduler", "watcher"} and "stuck" not in health
    daemon.signal()
    assert daemon.wait() == 0
    assert "Traceback" not in daemon.log_path.read_text(errors="replace")
