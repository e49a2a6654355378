"""The built-in HG sandbox served by its own process (`hgsync sandbox`), for the benchmarks:
a sender measured against a sandbox in its own process shares no interpreter (and no GIL)
with it, so what is measured is the sender, not the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class SandboxProcess:
    """``hgsync sandbox`` in a subprocess; its admin API sets faults and counts requests."""

    def __init__(self, url: str, process: subprocess.Popen[bytes]):
        self.url = url
        self.process = process

    def _admin(self, method: str, name: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_sandbox/{name}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def set_faults(self, **faults: Any) -> None:
        self._admin("PUT", "faults", faults)

    def count(self) -> int:
        """Requests the sandbox accepted so far."""
        return int(self._admin("GET", "requests")["count"])


@contextmanager
def sandbox_process(client_id: str, client_secret: str) -> Iterator[SandboxProcess]:
    command = [sys.executable, "-c", "from engine.cli.commands import main; main()", "sandbox", "--port", "0"]
    command += ["--client-id", client_id, "--client-secret", client_secret]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as log:  # its log lines, read for the URL it listens on
        process = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        try:
            url = None
            deadline = time.monotonic() + 30
            while url is None and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                log.seek(0)
                text = log.read().decode(errors="replace")
                if "listening on " in text:
                    url = text.split("listening on ", 1)[1].split()[0]
            if url is None:
                sys.exit("bench: the sandbox process did not start")
            yield SandboxProcess(url, process)
        finally:
            process.terminate()
            process.wait(timeout=10)
