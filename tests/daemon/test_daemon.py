"""`hgsync daemon` as a real process: schedules, overlaps, live edits, stopping, locks."""

from __future__ import annotations

import random
import re
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from connectors.hepsiglobal.sandbox import Faults

PIPELINE = """\
schedule: {schedule}
source:
  sql:
    connection: marketplace
    table: events
when: row.kind == '{kind}'
key: "{{{{ row.id }}}}"
operation: cancel_order_item
mode: {mode}
request:
  path:
    order_number: "{{{{ row.order_number }}}}"
    order_item_number: "{{{{ row.order_number }}}}_{{{{ row.sku }}}}"
  body:
    reason: "{reason}"
"""


def _events_table(project, rows: int, kinds: str = "abc") -> None:
    project.sql(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, order_number TEXT, sku TEXT, reason TEXT)"
    )
    project.sql(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
        [(i, kinds[i % len(kinds)], f"{7000 + i}", f"SKU{i}", "r0") for i in range(1, rows + 1)],
    )


def _pipeline(
    project,
    name: str,
    kind: str,
    *,
    schedule: str = "{every: 2s}",
    mode: str = "upsert",
    reason: str = "{{ row.reason }}",
) -> None:
    project.pipeline(name, PIPELINE.format(schedule=schedule, kind=kind, mode=mode, reason=reason))


def _runs(project) -> list[tuple[str, str, datetime, datetime | None, str]]:
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        rows = db.execute(
            "SELECT pipeline, status, started_at, finished_at, trigger FROM hgsync_runs"
        ).fetchall()
    finally:
        db.close()
    parse = lambda v: datetime.fromisoformat(v) if v else None  # noqa: E731
    return [(p, s, parse(a), parse(b), t) for p, s, a, b, t in rows]


def test_three_pipelines_on_a_changing_table(project, sandbox, daemon_factory):
    _events_table(project, 30)
    for kind in "abc":
        _pipeline(project, f"events-{kind}", kind)
    daemon = daemon_factory()
    daemon.wait_for("run_finished", count=3)

    stop = threading.Event()
    changes: list[tuple[int, str]] = []

    def writer() -> None:
        rng = random.Random(5)
        counter = 0
        while not stop.is_set():
            counter += 1
            row = rng.randrange(1, 31)
            reason = f"r{counter}"
            project.sql(f"UPDATE events SET reason = '{reason}' WHERE id = {row}")
            changes.append((row, reason))
            time.sleep(0.15)

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(12)
    stop.set()
    thread.join()
    finished = len(daemon.events("run_finished"))
    daemon.wait_for("run_finished", count=finished + 6, timeout=20)  # two more rounds after the last change

    metrics = httpx.get(daemon.url + "/metrics").text
    records = sandbox.records("cancel_order_item")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0

    sent = [
        (int(r["path_params"]["order_item_number"].split("SKU")[1]), r["body"]["reason"]) for r in records
    ]
    assert len(sent) == len(set(sent)), "a version of a row was sent twice"
    final = {}
    for row, reason in changes:
        final[row] = reason
    for row, reason in final.items():
        assert (row, reason) in sent, f"row {row}'s last change {reason} never arrived"
    assert len(sent) >= 30 + len(final)
    assert {reason for _, reason in sent} <= {"r0"} | {reason for _, reason in changes}

    for name in ("events-a", "events-b", "events-c"):
        runs = sorted((r for r in _runs(project) if r[0] == name), key=lambda r: r[2])
        assert len(runs) >= 5
        for before, after in zip(runs, runs[1:], strict=False):
            assert before[3] is not None and before[3] <= after[2], f"{name} overlapped itself"

    delivered_200 = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("hgsync_requests_total{")
        and 'status="200"' in line
        and 'operation="cancel_order_item"' in line
    )
    assert delivered_200 == len(records)


def test_a_broken_edit_keeps_the_last_good_version_and_the_others_run(project, sandbox, daemon_factory):
    _events_table(project, 6, kinds="ab")
    _pipeline(project, "events-a", "a", mode="upsert", reason="first-{{ row.id }}")
    _pipeline(project, "events-b", "b", mode="upsert")
    daemon = daemon_factory()
    daemon.wait_for("run_finished", count=2)

    broken = project.home / "pipelines" / "events-a.yaml"
    broken.write_text(
        broken.read_text().replace("operation: cancel_order_item", "opration: cancel_order_item")
    )
    problems = [e["problem"] for e in daemon.wait_for("pipeline_invalid", count=2, pipeline="events-a")]
    assert any(p.startswith("pipelines/events-a.yaml:8:1 opration: unknown key") for p in problems), problems
    seen = len(daemon.events("run_finished"))
    daemon.wait_for("run_finished", count=seen + 4)
    status = httpx.get(daemon.url + "/status.json").json()
    by_name = {p["name"]: p for p in status["pipelines"]}
    assert by_name["events-a"]["stale"] is True and by_name["events-a"]["problems"]
    assert by_name["events-b"]["stale"] is False
    recent = [e["pipeline"] for e in daemon.events("run_finished")[seen:]]
    assert "events-a" in recent and "events-b" in recent  # the broken one still runs its last good version

    _pipeline(project, "events-a", "a", mode="upsert", reason="second-{{ row.id }}")
    daemon.wait_for("pipeline_reloaded", pipeline="events-a")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        reasons = {r["body"]["reason"] for r in sandbox.records("cancel_order_item")}
        if {"second-2", "second-4", "second-6"} <= reasons:
            break
        time.sleep(0.2)
    assert {"second-2", "second-4", "second-6"} <= reasons
    daemon.signal()
    assert daemon.wait() == 0


def test_sigterm_mid_run_exits_cleanly_and_the_next_run_sends_the_rest(project, sandbox, daemon_factory):
    _events_table(project, 5000, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1s}", mode="insert")
    sandbox.set_faults(Faults(delay=0.01, rate_delay=1.0))
    daemon = daemon_factory(stop_timeout=20)
    daemon.wait_for("run_planned")
    while len(sandbox.records()) < 300:
        time.sleep(0.05)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=25) == 0
    assert time.monotonic() - started < 20
    sent_before = len(sandbox.records())
    assert 300 <= sent_before < 5000
    interrupted = [r for r in _runs(project) if r[1] == "interrupted"]
    assert interrupted, "the stopped run is recorded as interrupted"

    sandbox.set_faults(Faults())
    result = project.cli("run", "events-a")
    assert result.exit_code == 0, result.output
    assert f"new {5000 - sent_before}," in result.stdout
    paths = [r["path"] for r in sandbox.records()]
    assert len(paths) == 5000 and len(set(paths)) == 5000


def test_a_second_signal_stops_at_once_and_nothing_is_lost(project, sandbox, daemon_factory):
    _events_table(project, 3000, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1s}", mode="insert")
    sandbox.set_faults(Faults(delay=0.05, rate_delay=1.0))
    daemon = daemon_factory(stop_timeout=60)
    daemon.wait_for("run_planned")
    while len(sandbox.records()) < 50:
        time.sleep(0.05)
    daemon.signal(signal.SIGTERM)
    time.sleep(0.2)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=15) == 0
    sandbox.set_faults(Faults())
    result = project.cli("run", "events-a")
    assert result.exit_code == 0, result.output
    paths = [r["path"] for r in sandbox.records()]
    assert set(paths) == {f"/v1/orders/{7000 + i}/order_items/{7000 + i}_SKU{i}" for i in range(1, 3001)}
    # at most the requests on the wire when it stopped (concurrency 8) may have gone twice
    assert len(paths) - 3000 <= 8


def test_one_daemon_per_state_store(project, sandbox, daemon_factory):
    _events_table(project, 3, kinds="a")
    _pipeline(project, "events-a", "a")
    first = daemon_factory()
    first.wait_for("daemon_started")
    second = daemon_factory(log_name="second.log")
    assert second.wait(timeout=20) == 3
    text = second.log_path.read_text()
    assert "another daemon runs on this state store" in text and f"pid {first.process.pid}" in text
    first.signal()
    assert first.wait() == 0


def test_a_one_off_run_refuses_while_the_daemon_runs_the_pipeline(project, sandbox, daemon_factory):
    _events_table(project, 400, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1s}", mode="insert")
    sandbox.set_faults(Faults(delay=0.05, rate_delay=1.0))
    daemon = daemon_factory()
    daemon.wait_for("run_planned")
    result = project.cli("run", "events-a")
    assert result.exit_code == 3
    assert "held by hgsync daemon run" in result.output
    sandbox.set_faults(Faults())
    waited = project.cli("run", "--wait", "60", "events-a")
    assert waited.exit_code == 0, waited.output
    daemon.signal()
    assert daemon.wait() == 0
    paths = [r["path"] for r in sandbox.records()]
    assert len(paths) == len(set(paths)) == 400


def _age_last_run(project, hours: float) -> None:
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        moment = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(sep=" ")
        db.execute("UPDATE hgsync_runs SET started_at = ?, finished_at = ?", (moment, moment))
        db.commit()
    finally:
        db.close()


def test_runs_missed_while_down_are_coalesced_into_one_at_start(project, sandbox, daemon_factory):
    _events_table(project, 3, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1h}")
    assert project.cli("run", "events-a").exit_code == 0
    _age_last_run(project, hours=5)  # five runs were missed
    project.sql("UPDATE events SET reason = 'later'")
    daemon = daemon_factory(grace=6 * 3600)
    daemon.wait_for("missed_run_catch_up", pipeline="events-a")
    daemon.wait_for("run_finished", pipeline="events-a")
    time.sleep(1.5)
    daemon.signal()
    assert daemon.wait() == 0
    assert len(daemon.events("run_finished")) == 1  # one run, not five
    assert {r["body"]["reason"] for r in sandbox.records()} == {"r0", "later"}


def test_missed_runs_beyond_the_grace_time_are_skipped(project, sandbox, daemon_factory):
    _events_table(project, 3, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1h}")
    assert project.cli("run", "events-a").exit_code == 0
    _age_last_run(project, hours=5)
    daemon = daemon_factory(grace=60)
    daemon.wait_for("missed_run_skipped", pipeline="events-a")
    time.sleep(1)
    daemon.signal()
    assert daemon.wait() == 0
    assert daemon.events("run_finished") == []


def test_a_pipeline_whose_database_is_down_does_not_stop_the_others(project, sandbox, daemon_factory):
    _events_table(project, 4, kinds="a")
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(
        config.read_text().replace(
            "connections:\n",
            "connections:\n  down: postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1\n",
        )
    )
    _pipeline(project, "events-a", "a")
    project.pipeline(
        "broken-db",
        PIPELINE.format(schedule="{every: 1s}", kind="a", mode="insert", reason="x").replace(
            "connection: marketplace", "connection: down"
        ),
    )
    daemon = daemon_factory()
    failures = daemon.wait_for("run_failed", count=2, pipeline="broken-db", timeout=30)
    assert "127.0.0.1" in failures[0]["error"] or "connect" in failures[0]["error"].lower()
    daemon.wait_for("run_finished", count=2, pipeline="events-a")
    daemon.signal()
    assert daemon.wait() == 0
    assert len(sandbox.records()) == 4


def test_a_run_that_comes_due_while_the_last_is_going_is_skipped_and_logged(project, sandbox, daemon_factory):
    _events_table(project, 60, kinds="a")
    _pipeline(project, "events-a", "a", schedule="{every: 1s}", mode="insert")
    sandbox.set_faults(Faults(delay=0.2, rate_delay=1.0))  # 60 requests, 8 at a time: about 1.5 s a run
    daemon = daemon_factory()
    skipped = daemon.wait_for("run_skipped", pipeline="events-a", timeout=30)
    assert skipped[0]["reason"] == "the previous run is still going"
    daemon.wait_for("run_finished", pipeline="events-a")
    metrics = httpx.get(daemon.url + "/metrics").text
    assert 'hgsync_skipped_overlaps_total{pipeline="events-a"}' in metrics
    daemon.signal()
    assert daemon.wait() == 0
    starts = [e for e in daemon.events("run_started")]
    finishes = daemon.events("run_finished")
    assert len(starts) == len(finishes)  # every run ended before the next began
    paths = [r["path"] for r in sandbox.records()]
    assert len(paths) == len(set(paths)) == 60


def test_pipelines_added_and_removed_while_running(project, sandbox, daemon_factory):
    _events_table(project, 4, kinds="ab")
    _pipeline(project, "events-a", "a")
    daemon = daemon_factory()
    daemon.wait_for("run_finished", pipeline="events-a")

    _pipeline(project, "events-b", "b")
    daemon.wait_for("pipeline_scheduled", pipeline="events-b")
    daemon.wait_for("run_finished", pipeline="events-b")
    (project.home / "pipelines" / "events-a.yaml").unlink()
    daemon.wait_for("pipeline_removed", pipeline="events-a")
    daemon.wait_for("pipeline_unscheduled", pipeline="events-a")
    seen = len(daemon.events("run_finished"))
    daemon.wait_for("run_finished", count=seen + 2)
    assert {e["pipeline"] for e in daemon.events("run_finished")[seen:]} == {"events-b"}
    status = httpx.get(daemon.url + "/status.json").json()
    assert [p["name"] for p in status["pipelines"]] == ["events-b"]
    daemon.signal()
    assert daemon.wait() == 0


def test_a_broken_config_keeps_the_last_good_settings(project, sandbox, daemon_factory):
    _events_table(project, 2, kinds="a")
    _pipeline(project, "events-a", "a")
    daemon = daemon_factory()
    daemon.wait_for("run_finished", pipeline="events-a")
    config = project.home / "config" / "hgsync.yaml"
    good = config.read_text()
    config.write_text(good.replace("concurrency: 8", "concurency: 8"))
    problem = daemon.wait_for("config_invalid")[0]["problem"]
    assert problem.startswith("config/hgsync.yaml:") and "concurency" in problem
    seen = len(daemon.events("run_finished"))
    daemon.wait_for("run_finished", count=seen + 2, pipeline="events-a")
    status = httpx.get(daemon.url + "/status.json").json()
    assert status["config_problems"] and "concurency" in status["config_problems"][0]
    assert httpx.get(daemon.url + "/healthz").json()["status"] == "degraded"

    # a pipeline edited while the config waits for its fix is taken, with the last good settings
    _pipeline(project, "events-a", "a", reason="fixed-{{ row.reason }}")
    daemon.wait_for("pipeline_reloaded", pipeline="events-a")
    deadline = time.monotonic() + 15
    while not any(r["body"]["reason"] == "fixed-r0" for r in sandbox.records("cancel_order_item")):
        assert time.monotonic() < deadline, "the edited pipeline was not run"
        time.sleep(0.2)

    config.write_text(good)
    deadline = time.monotonic() + 10
    while httpx.get(daemon.url + "/status.json").json()["config_problems"]:
        assert time.monotonic() < deadline, "the fixed config was not taken"
        time.sleep(0.2)
    daemon.signal()
    assert daemon.wait() == 0


def test_run_now_and_retry_failed_from_the_status_page(project, sandbox, daemon_factory):
    _events_table(project, 60, kinds="a")
    project.pipeline(
        "by-hand",
        PIPELINE.replace("schedule: {schedule}\n", "").format(
            kind="a", mode="upsert", reason="{{ row.reason }}"
        ),
    )
    sandbox.set_faults(Faults(rate_500=1.0, seed=2))
    daemon = daemon_factory()
    with httpx.Client(base_url=daemon.url, timeout=10) as http:
        page = http.get("/").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = {"csrf": token, "pipeline": "by-hand", "action": "run"}
        answer = http.post("/actions", data=form)
        assert answer.status_code == 303
        assert "by-hand: run started" in http.get(answer.headers["location"]).text
        # while it runs, its progress shows and its requests on the wire are not "in doubt"
        seen_progress = False
        deadline = time.monotonic() + 30
        while not daemon.events("run_finished"):
            assert time.monotonic() < deadline
            by_hand = http.get("/status.json").json()["pipelines"][0]
            if by_hand.get("progress", {}).get("to_send") == 60:
                seen_progress = True
                assert by_hand["in_doubt"] == []
            time.sleep(0.05)
        finished = daemon.wait_for("run_finished", pipeline="by-hand")[0]
        assert finished["status"] == "failed" and finished["send_failed"] == 60
        assert seen_progress
        runs = http.get("/status.json").json()["pipelines"][0]["last_runs"]
        assert runs[0]["trigger"] == "status page"

        sandbox.set_faults(Faults())
        assert http.post("/actions", data={**form, "action": "retry-failed"}).status_code == 303
        second = daemon.wait_for("run_finished", count=2, pipeline="by-hand")[1]
        assert second["status"] == "ok" and second["delivered"] == 60
        unknown = http.post("/actions", data={**form, "pipeline": "nope"})
        assert "no pipeline &#39;nope&#39; is loaded" in http.get(unknown.headers["location"]).text
    daemon.signal()
    assert daemon.wait() == 0


def test_metrics_count_429s_and_5xx_per_attempt(project, sandbox, daemon_factory):
    from engine.service.metrics import samples

    _events_table(project, 40, kinds="a")
    project.pipeline(
        "events-a",
        PIPELINE.replace("schedule: {schedule}\n", "").format(kind="a", mode="upsert", reason="r"),
    )
    sandbox.set_faults(Faults(rate_429=0.25, retry_after=0.01, rate_500=0.25, seed=4))
    daemon = daemon_factory()
    page = httpx.get(daemon.url + "/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": token, "pipeline": "events-a", "action": "run"}
    assert httpx.post(daemon.url + "/actions", data=form).status_code == 303
    daemon.wait_for("run_finished", pipeline="events-a")
    deadline = time.monotonic() + 10
    while "hgsync_run_duration_seconds_count{" not in (text := httpx.get(daemon.url + "/metrics").text):
        assert time.monotonic() < deadline, "the run's end never reached the metrics"
        time.sleep(0.05)
    found = list(samples(text))
    daemon.signal()
    assert daemon.wait() == 0

    by_status: dict[str, float] = {}
    for name, labels, value in found:
        if name == "hgsync_requests_total" and labels["operation"] == "cancel_order_item":
            assert labels["pipeline"] == "events-a"
            by_status[labels["status"]] = by_status.get(labels["status"], 0) + value
    stats = sandbox.stats()
    assert by_status["429"] == stats["faults"]["429"] > 0
    assert sum(v for s, v in by_status.items() if s.startswith("5")) == stats["faults"]["5xx"] > 0
    assert by_status["200"] == len(sandbox.records("cancel_order_item"))
    values = {(name, tuple(sorted(labels.items()))): value for name, labels, value in found}
    attempts = sum(by_status.values())
    assert (
        values[("hgsync_request_duration_seconds_count", (("operation", "cancel_order_item"),))] == attempts
    )
    assert values[("hgsync_run_duration_seconds_count", (("pipeline", "events-a"),))] == 1
    assert values[("hgsync_rows_total", (("pipeline", "events-a"), ("verdict", "new")))] == 40
    assert ("hgsync_failing_keys", (("pipeline", "events-a"),)) in values
    assert ("hgsync_in_doubt_keys", (("pipeline", "events-a"),)) in values
