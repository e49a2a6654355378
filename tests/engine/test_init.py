"""`hgsync init` writes a project that validates, with the schema line editors read; shell
completion offers the project's pipeline names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from engine import logging as hglog
from engine.cli.commands import main

HGSYNC = str(Path(sys.executable).parent / "hgsync")


def hgsync(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    hglog.configure(json=True)
    return result


def test_init_writes_a_project_that_validates(tmp_path: Path, monkeypatch):
    for name in ("MARKETPLACE_DB_URL", "HG_BASE_URL", "HG_CLIENT_ID", "HG_CLIENT_SECRET", "HGSYNC_STATE_URL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "new"
    result = hgsync(
        "init", str(home), "-o", "cancel_order_item", "-o", "create_order", "-o", "shipment_label"
    )
    assert result.exit_code == 0, result.output
    pipelines = sorted(p.name for p in (home / "pipelines").glob("*.yaml"))
    assert pipelines == ["cancel-order-item.yaml", "create-order.yaml", "shipment-label.yaml"]
    for path in (home / "pipelines").glob("*.yaml"):
        assert (
            path.read_text().splitlines()[0]
            == "# yaml-language-server: $schema=../schemas/pipeline.schema.json"
        )
    config = (home / "config" / "hgsync.yaml").read_text()
    assert config.startswith("# yaml-language-server: $schema=../schemas/config.schema.json\n")
    for what in ("pipeline", "inbound", "config"):
        written = json.loads((home / "schemas" / f"{what}.schema.json").read_text())
        assert written == json.loads(hgsync("schema", what).stdout)

    checked = hgsync("--home", str(home), "validate", "--offline")
    assert checked.exit_code == 0, checked.output
    assert "ok: config and 3 pipeline(s)" in checked.stderr
    order = (home / "pipelines" / "create-order.yaml").read_text()
    assert "name: '{{ row.customer_name }}'" in order and "$each: '{{ row.items | from_json }}'" in order

    (home / "config" / "hgsync.yaml").write_text("mine\n")
    again = hgsync("init", str(home), "-o", "cancel_order_item")
    assert again.exit_code == 0 and "kept " in again.stderr
    assert (home / "config" / "hgsync.yaml").read_text() == "mine\n"

    unknown = hgsync("init", str(tmp_path / "other"), "-o", "cancel_order")
    assert unknown.exit_code == 2 and "cancel_order_item" in unknown.stderr


def test_shell_completion_offers_pipeline_names(tmp_path: Path):
    (tmp_path / "pipelines").mkdir()
    for name in ("cancels", "create-orders", "refunds"):
        (tmp_path / "pipelines" / f"{name}.yaml").write_text("key: x\n")
    env = {
        **os.environ,
        "_HGSYNC_COMPLETE": "bash_complete",
        "COMP_WORDS": f"hgsync --home {tmp_path} run c",
        "COMP_CWORD": "4",
    }
    done = subprocess.run([HGSYNC], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["plain,cancels", "plain,create-orders"], done.stdout + done.stderr
