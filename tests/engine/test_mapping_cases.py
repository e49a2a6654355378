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
    # every pipeline but the answers to HG's queries (SQL, no mapping) has cases
    mapped = [
        p for p in (home / "pipelines").glob("*.yaml") if not re.search(r"^answer:", p.read_text(), re.M)
    ]
    pipelines = sorted(p.stem for p in mapped)
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


def test_an_inbound_case_checks_the_event_and_the_rows(tmp_path: Path, monkeypatch):
    home = repo_project(tmp_path / "home", monkeypatch)
    cases = home / "pipelines" / "tests" / "stock-received.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: wrong stock\n"
        "    event: {items: [{sku: A, company_id: 1, stock: 5}]}\n"
        "    rows: [{sku: A, stock: 6}]\n"
        "  - name: not an event HG could send\n"
        "    event: {items: {sku: A}}\n"
        "    rows: []\n"
        "  - name: an error that does not come\n"
        "    event: {items: []}\n"
        "    error: sku\n"
        "  - name: rows given where the case wants a row\n"
        "    row: {sku: A}\n"
        "    rows: []\n"
    )
    bad = hgsync(home, "test", "stock-received")
    assert bad.exit_code == 2
    assert "pipelines/tests/stock-received.yaml: case 4: needs `event:`" in bad.stderr
    cases.write_text(cases.read_text().rsplit("  - name: rows given", 1)[0])
    result = hgsync(home, "test", "stock-received")
    assert result.exit_code == 1
    out = result.stdout
    assert '-    "stock": 6' in out and '+    "stock": 5' in out
    assert "the receiver would refuse this event (400): items" in out
    assert "expected an error containing 'sku'; the event rendered fine" in out
    assert out.splitlines()[-1] == "3 case(s) in 1 file(s): 0 passed, 3 failed"
