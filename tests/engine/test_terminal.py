"""What a person sees in a terminal: coloured log lines above the progress bar, the demo's story,
`--version`, a `--help` that imports no engine, and `--json` for scripts."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from engine import logging as hglog
from engine.cli.commands import main
from tests.engine.test_cli_basics import repo_project

REPO = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_on_a_terminal_are_coloured_and_print_above_the_progress_bar():
    from rich.progress import Progress

    screen = Terminal()
    hglog.configure(stream=screen)
    try:
        terminal = hglog.console()
        assert terminal is not None
        with Progress(console=terminal) as bar:
            task = bar.add_task("orders: sending", total=10)
            bar.advance(task)
            hglog.get_logger("t").warning("request_retried", status=429, wait=0.5)
            bar.advance(task)
    finally:
        hglog.configure(json=True)
    text = screen.getvalue()
    assert "\x1b[" in text  # colour
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    line = next(li for li in plain.splitlines() if "request_retried" in li)
    assert "status=429" in line and "wait=0.5" in line and "sending" not in line


def test_log_lines_are_json_off_a_terminal():
    stream = io.StringIO()
    hglog.configure(stream=stream)
    try:
        assert hglog.console() is None
        hglog.get_logger("t").info("run_started", pipeline="orders")
    finally:
        hglog.configure(json=True)
    assert json.loads(stream.getvalue())["event"] == "run_started"


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"hgsync \d+\.\d+\.\d+\S*\n", result.stdout)


def test_help_imports_neither_the_engine_nor_sqlalchemy():
    """`hgsync --help` stays fast by importing only click: not even the logging set-up
    (structlog pulls in rich's tracebacks) nor asyncio."""
    code = (
        "import sys\nfrom engine.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'pydantic', 'httpx', 'jinja2', 'engine.definitions.loader', "
        "'structlog', 'asyncio', 'rich') "
        "if m in sys.modules)\nprint('HEAVY', heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_demo_tells_a_short_story_and_logs_json_to_a_file(tmp_path: Path, monkeypatch):
    home = repo_project(tmp_path / "home", monkeypatch)
    result = CliRunner().invoke(main, ["--home", str(home), "demo"], catch_exceptions=False)
    hglog.configure(json=True)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "{" not in out  # no JSON log line on the screen
    assert len(out.splitlines()) < 45  # two tables of the outbound pipelines, what was received
    pipelines = sorted(
        p.stem
        for p in (REPO / "pipelines").glob("*.yaml")
        if not re.search(r"^(receive|answer):", p.read_text(), re.M)  # inbound: no line in the tables
    )
    first, second = out.split("2. Second pass")
    for name in pipelines:
        assert re.search(rf"^  {name}\s+\w+\s+\d+", first, re.M)
    assert re.search(r"the sandbox accepted (\d+) request\(s\): ", first)
    assert re.search(r"the sandbox accepted 0 more request\(s\)", second)
    for line in second.splitlines():
        if any(line.startswith(f"  {n} ") for n in pipelines):
            assert line.split()[5:7] == ["0", "0"], line  # sent, delivered
    events = [json.loads(line) for line in (home / "demo" / "demo.log").read_text().splitlines()]
    assert {"run_started", "run_finished"} <= {e["event"] for e in events}


def test_json_for_validate_plan_run_and_history(cancels, sandbox):
    project = cancels(3)
    checked = json.loads(project.cli("validate", "--json").stdout)
    assert checked == {"ok": True, "pipelines": ["cancels"], "problems": []}

    plan = json.loads(project.cli("plan", "cancels", "--json").stdout)
    assert plan["to_send"] == 3 and plan["counts"]["new"] == 3 and plan["operation"] == "cancel_order_item"
    assert plan["sample"][0]["request"]["method"] == "PUT"

    ran = project.cli("run", "cancels", "--json")
    assert ran.exit_code == 0
    result = json.loads(ran.stdout)
    assert result["status"] == "ok" and result["counts"]["delivered"] == 3 and result["seconds"] > 0

    runs = json.loads(project.cli("history", "--json").stdout)
    assert [r["run_id"] for r in runs] == [result["run_id"]]

    project.pipeline("cancels", "operation: no_such_thing\n")
    broken = project.cli("validate", "--json")
    assert broken.exit_code == 2
    problems = json.loads(broken.stdout)["problems"]
    assert problems and problems[0]["file"] == "pipelines/cancels.yaml" and problems[0]["line"] >= 1


def test_history_failing_includes_rows_that_failed_to_render(cancels, sandbox):
    project = cancels(3)
    project.sql("UPDATE cancels SET reason = NULL WHERE id = 2")
    project.pipeline(
        "cancels",
        (project.home / "pipelines" / "cancels.yaml")
        .read_text()
        .replace('reason: "{{ row.reason }}"', 'reason: "{{ row.reason | require }}"'),
    )
    assert project.cli("run", "cancels").exit_code == 1
    table = project.cli("history", "--failing").stdout.splitlines()
    assert table[0].split()[:3] == ["PIPELINE", "KEY", "STATUS"]
    assert len(table) == 2 and re.match(r"cancels\s+100000_HBV00000002\s+row error\s", table[1]), table
