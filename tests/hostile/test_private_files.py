"""Files are private and drop folders contained: the state store holds customers' data."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from engine.store import StateStore

PIPELINE = """\
source:
  csv:
    folder: drop
    settle_seconds: 0
    columns: {order_number: text, sku: text}
key: "{{ row.order_number }}_{{ row.sku }}"
operation: cancel_order_item
mode: insert
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body:
    reason: "{{ row.sku }}"
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_store_is_private_whatever_the_umask(tmp_path: Path):
    old = os.umask(0o022)
    try:
        store = StateStore(f"sqlite:///{tmp_path / '.hgsync' / 'state.db'}")
        try:
            store.record_file("p", "a.csv", "0" * 64, "archived", 1)  # a write: -wal and -shm exist now
            files = sorted((tmp_path / ".hgsync").iterdir())
            assert {f.name for f in files} >= {"state.db", "state.db-wal", "state.db-shm"}
            assert _mode(tmp_path / ".hgsync") == 0o700
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            store.close()
    finally:
        os.umask(old)


def test_an_existing_store_is_made_private(tmp_path: Path):
    folder = tmp_path / ".hgsync"
    folder.mkdir(mode=0o755)
    (folder / "state.db").touch(mode=0o644)
    os.chmod(folder / "state.db", 0o644)
    StateStore(f"sqlite:///{folder / 'state.db'}").close()
    assert (_mode(folder), _mode(folder / "state.db")) == (0o700, 0o600)


def test_a_drop_folder_does_not_follow_links(project, sandbox, tmp_path: Path):
    outside = tmp_path / "passwd"
    outside.write_text("order_number,sku\nroot:x:0:0,SECRET-LINE\n")
    project.pipeline("drops", PIPELINE)
    drop = project.home / "drop"
    drop.mkdir()
    (drop / "good.csv").write_text("order_number,sku\n1001,A1\n")
    (drop / "link.csv").symlink_to(outside)
    old = time.time() - 3600
    for name in ("good.csv", "link.csv"):
        os.utime(drop / name, (old, old), follow_symlinks=False)

    result = project.cli("run", "drops")

    assert result.exit_code == 0, result.output
    assert [r["body"]["reason"] for r in sandbox.records("cancel_order_item")] == ["A1"]
    assert "SECRET-LINE" not in result.output
    for path in project.home.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix in (".csv", ".log", ".txt"):
            assert "SECRET-LINE" not in path.read_text(errors="replace"), path
    assert (drop / "link.csv").is_symlink() and outside.read_text().endswith("SECRET-LINE\n")


def test_the_status_page_hides_row_reasons_unless_enabled(tmp_path: Path):
    from datetime import UTC, datetime

    from engine.definitions.settings import Settings
    from engine.service.daemon_status import DaemonStatus
    from engine.service.live import LiveProject

    live = LiveProject(tmp_path)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        status = DaemonStatus(live, store, lambda name: None)
        row = {
            "key": "1001_A",
            "last_error": "phone '+90 555 0000' is not valid",
            "updated_at": datetime.now(UTC),
        }
        assert "+90" not in str(status._row(row)) and status._row(row)["key"] == "1001_A"
        live.settings = Settings.model_validate({"daemon": {"http_show_row_data": True}})
        assert status._row(row)["last_error"] == row["last_error"]
    finally:
        store.close()


def test_a_secret_named_in_a_template_is_warned_about_and_redacted(project, sandbox, monkeypatch):
    import sqlite3

    monkeypatch.setenv("HGSYNC_TEST_PARTNER_SECRET", "pa55-partner-value")
    project.sql("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT)")
    project.sql("INSERT INTO cancels VALUES (1, '1001', 'A1')")
    project.pipeline(
        "secretive",
        """\
        source: {sql: {connection: marketplace, table: cancels}}
        key: "{{ row.order_number }}"
        operation: cancel_order_item
        request:
          path: {order_number: "{{ row.order_number }}", order_item_number: "{{ row.order_number }}_{{ row.sku }}"}
          body: {reason: "${env:HGSYNC_TEST_PARTNER_SECRET}"}
        """,
    )
    validate = project.cli("validate")
    assert validate.exit_code == 0 and "uses the secret HGSYNC_TEST_PARTNER_SECRET" in validate.output
    plan = project.cli("plan", "secretive")
    assert "pa55-partner-value" not in plan.output and '"reason": "***"' in plan.output
    assert project.cli("run", "secretive").exit_code == 0
    assert [r["body"]["reason"] for r in sandbox.records("cancel_order_item")] == ["pa55-partner-value"]
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        stored = "\n".join(str(row) for row in db.execute("SELECT * FROM hgsync_deliveries"))
    finally:
        db.close()
    assert "1001" in stored and "pa55-partner-value" not in stored
