"""`hgsync test`: the mapping cases kept in pipelines/tests/ pass for the repo's pipelines, and
a case that fails says how, with a diff."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from engine import logging as hglog
from engine.cli.commands import main
from tests.engine.test_cli_basics import repo_project


def hgsync(home: Path, *args: str):
    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    hglog.configure(json=True)
    return result


def test_the_example_pipelines_pass_their_cases(tmp_path: Path, monkeypatch):
    home = repo_project(tmp_path / "home", monkeypatch)
    result = hgsync(home, "test")
    assert result.exit_code == 0, result.output
    outbound = [
        p
        for p in (home / "pipelines").glob("*.yaml")
        if not re.search(r"^(receive|answer):", p.read_text(), re.M)
    ]
    pipelines = sorted(p.stem for p in outbound)  # cases of inbound pipelines: not yet
    assert sorted(p.stem for p in (home / "pipelines" / "tests").glob("*.yaml")) == pipelines
    assert "FAIL" not in result.stdout
    assert result.stdout.splitlines()[-1].endswith(" passed, 0 failed")


def test_a_failing_case_shows_a_diff_and_exits_1(tmp_path: Path, monkeypatch):
    home = repo_project(tmp_path / "home", monkeypatch)
    cases = home / "pipelines" / "tests" / "cancel-order-items.yaml"
    cases.write_text(
        cases.read_text()
        .replace("body: {reason: customer_demand}", "body: {reason: late_shipment}")
        .replace('error: "reason: is null: input should be a valid string"', "error: something else")
    )
    result = hgsync(home, "test", "cancel-order-items")
    assert result.exit_code == 1
    out = result.stdout
    assert "FAIL  a cancellation becomes a PUT of its reason on the order item" in out
    assert '-    "reason": "late_shipment"' in out and '+    "reason": "customer_demand"' in out
    assert "expected a row error containing 'something else'; got: request.body does not fit" in out
    assert out.splitlines()[-1] == "2 case(s) in 1 file(s): 0 passed, 2 failed"


def test_a_case_file_that_is_wrong_names_itself(tmp_path: Path, monkeypatch):
    home = repo_project(tmp_path / "home", monkeypatch)
    cases = home / "pipelines" / "tests" / "shipment-labels.yaml"
    cases.write_text("cases:\n  - name: no expectation\n    row: {shipment_code: A}\n")
    result = hgsync(home, "test", "shipment-labels")
    assert result.exit_code == 2
    assert (
        "pipelines/tests/shipment-labels.yaml: case 1 (no expectation): give one of request, error, filtered"
        in (result.stderr)
    )
    cases.write_text("cases: [\n")
    assert (
        "pipelines/tests/shipment-labels.yaml:2:1: not YAML" in hgsync(home, "test", "shipment-labels").stderr
    )
    cases.unlink()
    missing = hgsync(home, "test", "shipment-labels")
    assert missing.exit_code == 2 and "no cases for shipment-labels" in missing.stderr
