"""The hostile-input suite: generated templates, files and data values (tests/hostile/corpus.py).

Templates and files run in a child process under a 2 GiB memory cap with a watchdog per case
(tests/hostile/probe.py): a case that hangs or exhausts memory fails as such, instead of
taking the test run down. Every case must end in a row error or a located config error,
never a traceback. Data values run end to end against the sandbox: each bad value is a row
error naming its file and line, the good rows beside it are delivered once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import corpus

ROOT = Path(__file__).resolve().parents[2]
_LOCATED = re.compile(r"^(pipelines/case\.yaml|config/hgsync\.yaml):\d+:\d+ ")


@cache
def _results(family: str) -> dict[str, dict[str, Any]]:
    """Every case of ``family`` run by the probe; a case that started without a result is
    reported with the probe's stderr (the watchdog's stacks, or the crash)."""
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(
            [sys.executable, "-m", "tests.hostile.probe", family, home],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=900,
        )
    found: dict[str, dict[str, Any]] = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if "start" in record:
            found[record["start"]] = {"outcome": "hung or killed", "message": done.stderr[-3000:]}
        else:
            found[record["id"]] = record
    return found


@pytest.mark.parametrize("case_id", list(corpus.templates()))
def test_a_hostile_template_is_a_row_error(case_id: str) -> None:
    result = _results("templates").get(case_id, {"outcome": "never run"})
    assert result["outcome"] == "row_error", result


def test_the_template_limits_leave_ordinary_templates_alone() -> None:
    from engine.mapping.render import RowValues, Structure

    request = {
        "body": {
            "text": "{% for x in row.items %}{{ x ~ '-' ~ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}",
            "padded": "{{ '%05d' % row.n }} {{ '{:>6}'.format(row.n) }} {{ row.n | string | center(9) }}",
            "power": "{{ row.n ** 10 }}",
            "joined": "{{ row.items | join(', ') }}",
            "items": {"$each": "{{ row.items }}", "$map": {"sku": "{{ item | upper }}"}},
        }
    }
    body = Structure.compile(request).render({"row": RowValues({"n": 7, "items": ["a", "b"]})})["body"]
    assert body == {
        "text": "a-1,b-2",
        "padded": "00007      7     7    ",
        "power": 282475249,
        "joined": "a, b",
        "items": [{"sku": "A"}, {"sku": "B"}],
    }


def test_a_valid_file_passes_the_probe() -> None:
    """The file the YAML cases break validates as it is, so their errors are theirs."""
    assert _results("yaml")["baseline"]["exit"] == 0, _results("yaml")["baseline"]


@pytest.mark.parametrize("case_id", list(corpus.yaml_files()))
def test_a_hostile_file_is_a_located_error(case_id: str) -> None:
    _, fragment = corpus.yaml_files()[case_id]
    result = _results("yaml").get(case_id, {"outcome": "never run"})
    assert result["outcome"] == "exit", result
    printed = result["stdout"]
    assert result["exit"] == 2, printed
    assert "Traceback" not in printed + result["stderr"]
    problems = [line for line in printed.splitlines() if line.strip()]
    assert problems and all(_LOCATED.match(line) for line in problems), printed
    assert fragment in printed, printed


# -- data values, end to end ----------------------------------------------------------------

VALUES_PIPELINE = """\
source:
  csv:
    folder: drop
    settle_seconds: 0
    columns: {order_number: text, amount: decimal}
key: "{{ row.order_number }}"
operation: cancel_order_item
mode: upsert
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_X"
  body:
    reason: customer_demand
    amount: "{{ row.amount }}"
"""


def _write_drop(project) -> dict[str, int]:
    """One CSV file: a good row before and after every hostile one; returns each case's line."""
    lines, where = ["order_number,amount"], {}
    for n, (case_id, (amount, order, _)) in enumerate(corpus.VALUES.items()):
        lines.append(f"{2000 + 2 * n},1.50")
        where[case_id] = sum(line.count("\n") + 1 for line in lines) + 1  # a quoted field may span lines
        lines.append(f"{order},{amount}")
    lines.append("2999,2.00")
    folder = project.home / "drop"
    folder.mkdir()
    path = folder / "values.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    old = time.time() - 3600
    os.utime(path, (old, old))
    return where


def test_values_that_cannot_be_sent_are_row_errors_and_the_good_rows_go(project, sandbox):
    project.pipeline("values", VALUES_PIPELINE)
    where = _write_drop(project)

    plan = project.cli("plan", "values", "--show", "40")
    assert plan.exit_code == 1, plan.output  # rows fail to render, as the run will say
    assert f"PUT {sandbox.url}/v1/orders/2000/order_items/2000_X" in plan.output

    first = project.cli("run", "values")
    assert "Traceback" not in first.output
    good = {f"{2000 + 2 * n}" for n in range(len(corpus.VALUES))} | {"2999"}
    sent = [r["path_params"]["order_number"] for r in sandbox.records("cancel_order_item")]
    assert sorted(sent) == sorted(good)  # each good row once, no bad one
    errors = (project.home / "drop" / "rejected").glob("*.errors.csv")
    report = "\n".join(p.read_text(encoding="utf-8") for p in errors)
    for case_id, (_, _, fragment) in corpus.VALUES.items():
        line = where[case_id]
        hit = [row for row in report.splitlines() if row.startswith(f"values.csv,{line},")]
        assert hit and any(fragment in row for row in hit), (case_id, line, report)

    again = project.cli("run", "values")
    assert "Traceback" not in again.output
    assert len(sandbox.records("cancel_order_item")) == len(good)  # nothing twice, no crash
