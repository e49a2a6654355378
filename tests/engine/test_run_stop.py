"""Ctrl-C on `hgsync run`: requests in flight are answered and recorded, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from connectors.hepsiglobal.sandbox import Faults

HGSYNC = str(Path(sys.executable).parent / "hgsync")


def _start_run(project) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HGSYNC, "--home", str(project.home), "run", "cancels"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _wait_for_records(sandbox, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(sandbox.records()) < count:
        assert time.monotonic() < deadline, "the run did not start sending"
        time.sleep(0.05)


def test_first_ctrl_c_finishes_requests_in_flight_and_the_next_run_sends_the_rest(cancels, sandbox):
    project = cancels(2000)
    sandbox.set_faults(Faults(delay=0.02, rate_delay=1.0))
    process = _start_run(project)
    _wait_for_records(sandbox, 100)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1, err
    assert "cancels: interrupted" in out and "not sent (stopped)" in out
    assert "stopping once the requests in flight are answered" in err
    sent_before = len(sandbox.records())

    sandbox.set_faults(Faults())
    rest = project.cli("run", "cancels")
    assert rest.exit_code == 0, rest.output
    assert f"new {2000 - sent_before}," in rest.stdout
    paths = [r["path"] for r in sandbox.records()]
    assert len(paths) == len(set(paths)) == 2000


def test_second_ctrl_c_stops_at_once_and_the_next_run_sends_the_rest(cancels, sandbox):
    project = cancels(2000)
    sandbox.set_faults(Faults(delay=0.2, rate_delay=1.0))
    process = _start_run(project)
    _wait_for_records(sandbox, 20)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    sandbox.set_faults(Faults())
    rest = project.cli("run", "cancels")
    assert rest.exit_code == 0, rest.output
    paths = [r["path"] for r in sandbox.records()]
    assert len(set(paths)) == 2000
    assert len(paths) - 2000 <= 8  # only requests on the wire when it stopped can go twice
    assert "due again 0" not in rest.stdout  # the requests cut off on the wire are sent again
