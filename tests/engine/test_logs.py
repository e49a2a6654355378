"""Log output of a real `hgsync run` process: structure, context, and no secrets anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connectors.hepsiglobal.sandbox import Faults

HGSYNC = str(Path(sys.executable).parent / "hgsync")
SECRET = "test-secret-value"  # what the sandbox fixture accepts; the config reads it from TEST_HG_SECRET


def _run(project, *args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEST_HG_SECRET": secret}
    return subprocess.run(
        [HGSYNC, "--home", str(project.home), "--log-level", "debug", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_run_event_carries_pipeline_and_run_id_and_one_summary_line(cancels, sandbox):
    project = cancels(30)
    project.sql("UPDATE cancels SET reason = '' WHERE id = 4")  # fails the payload model
    sandbox.set_faults(Faults(rate_429=0.3, retry_after=0.01, seed=4))
    result = _run(project, "run", "cancels")
    assert result.returncode == 1
    events = _events(result.stderr)
    run_events = [e for e in events if e.get("event") not in ("sandbox_request",)]
    started = next(i for i, e in enumerate(run_events) if e["event"] == "run_started")
    inside = run_events[started:]
    assert inside and all(e.get("pipeline") == "cancels" and e.get("run_id") for e in inside)
    assert len({e["run_id"] for e in inside}) == 1
    finished = [e for e in inside if e["event"] == "run_finished"]
    assert len(finished) == 1
    assert finished[0]["status"] == "failed" and finished[0]["delivered"] == 29 and finished[0]["error"] == 1
    assert any(e["event"] == "request_retried" and e.get("key") and e.get("origin") for e in inside)
    errors = [e for e in inside if e["event"] == "row_error"]
    assert len(errors) == 1 and errors[0]["origin"] == "cancels(id=4)"


def test_secrets_and_tokens_never_appear_in_output_state_or_errors(cancels, sandbox):
    project = cancels(5)
    good = _run(project, "run", "cancels")
    assert good.returncode == 0, good.stderr
    tokens = [t for t in sandbox._tokens]  # noqa: SLF001 - the tokens the sandbox issued to this run
    assert tokens
    project.sql("INSERT INTO cancels VALUES (99, '100033', 'HBV00000099', 'customer_demand')")
    wrong = _run(project, "run", "cancels", secret="wrong-secret-123456")
    assert wrong.returncode == 2
    assert "client id" in wrong.stderr or "credentials" in wrong.stderr
    history = _run(project, "history")
    plan = _run(project, "plan", "cancels")
    validate = _run(project, "validate")
    state = (project.home / "state" / "state.db").read_bytes()
    outputs = [
        good.stdout,
        good.stderr,
        wrong.stdout,
        wrong.stderr,
        history.stdout,
        history.stderr,
        plan.stdout,
        plan.stderr,
        validate.stdout,
        validate.stderr,
    ]
    for secret in [SECRET, "wrong-secret-123456", *tokens]:
        assert all(secret not in text for text in outputs), f"{secret[:6]}... leaked"
        assert secret.encode() not in state
