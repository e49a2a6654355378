"""The deployment files agree with the program: the image runs `hgsync daemon` as a non-root
user with the project it carries, the systemd unit runs the daemon with room to stop cleanly,
and `scripts/test-deploy` (systemd-analyze here; the image where docker runs) passes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from engine.definitions.settings import DaemonSettings

REPO = Path(__file__).resolve().parent.parent


def test_the_image_runs_the_daemon_as_a_user() -> None:
    text = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["hgsync"]' in text and 'CMD ["daemon"]' in text
    ports = set(re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split())
    assert {"8790", "8780"} <= ports  # status page and receiver defaults
    assert str(DaemonSettings().http_port) in ports
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".hgsync" in ignored and ".venv" in ignored  # no state store or secrets baked in


def test_the_unit_gives_the_daemon_time_to_stop_cleanly() -> None:
    unit = (REPO / "deploy" / "systemd" / "hgsync.service").read_text()
    assert re.search(r"^ExecStart=\S+/hgsync --home \S+ daemon$", unit, re.M)
    stop = float(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))  # type: ignore[union-attr]
    assert stop > DaemonSettings().stop_timeout  # SIGKILL only after the daemon's own limit
    assert re.search(r"^User=(?!root)\w+", unit, re.M) and "UMask=0077" in unit


def test_the_deploy_script_passes() -> None:
    """The unit part (the image takes minutes to build: `scripts/test-deploy` by hand)."""
    env = {**os.environ, "HGSYNC_DEPLOY_IMAGE": "0"}
    result = subprocess.run(
        [REPO / "scripts" / "test-deploy"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
