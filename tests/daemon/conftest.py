"""A real `hgsync daemon` process over a throwaway project, talking to the test sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HGSYNC = str(Path(sys.executable).parent / "hgsync")

DAEMON_SETTINGS = """
daemon:
  http_port: 0
  misfire_grace: {grace}
  stop_timeout: {stop_timeout}
"""


class DaemonProcess:
    def __init__(self, project: Any, log_name: str = "daemon.log"):
        self.project = project
        self.log_path = project.home / log_name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        env = {**os.environ, "HGSYNC_HOME": str(self.project.home)}
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [HGSYNC, "--log-format", "json", "--log-level", "debug", "daemon", "--reload-interval", "0.2"],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        return self

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    def wait_for(self, name: str, count: int = 1, timeout: float = 30, **match: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events(name) if all(e.get(k) == v for k, v in match.items())]
            if len(found) >= count:
                return found
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"the daemon exited ({self.process.returncode}) before {name}:\n{self.tail()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"no {count} x {name} {match} within {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def url(self) -> str:
        return self.wait_for("status_server_started")[0]["url"]

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.log_file.close()
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self.log_file.closed:
            self.log_file.close()


@pytest.fixture
def daemon_factory(project) -> Iterator[Any]:
    started: list[DaemonProcess] = []

    def make(*, grace: float = 300, stop_timeout: float = 20, log_name: str = "daemon.log") -> DaemonProcess:
        config = project.home / "config" / "hgsync.yaml"
        text = config.read_text()
        if "daemon:" not in text:
            config.write_text(text + DAEMON_SETTINGS.format(grace=grace, stop_timeout=stop_timeout))
        daemon = DaemonProcess(project, log_name)
        started.append(daemon)
        return daemon.start()

    yield make
    for daemon in started:
        daemon.kill()
