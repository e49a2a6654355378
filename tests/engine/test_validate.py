"""`hgsync validate` over the cases in tests/pipelines/ (see its README.md for the format).

Each case file states, in its header, every problem validate must print for it, with the
exact line and column; the runner checks those appear, one printed line each, and that
nothing else does.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli.demo_data import create_demo_database
from engine.definitions.loader import load_project

CASES = Path(__file__).resolve().parent.parent / "pipelines"
_HEADER = re.compile(
    r"^# (?P<kind>expect|expect-warning): (?P<line>\d+):(?P<col>\d+) (?P<path>\S+): (?P<text>.+)$"
)
_PROBLEM = re.compile(r"^\S+:\d+:\d+ ")


@dataclass(frozen=True)
class Expected:
    severity: str
    line: int
    col: int
    path: str
    text: str

    def matches(self, printed: str, file: str) -> bool:
        where = f"{file}:{self.line}:{self.col}"
        severity = "" if self.severity == "error" else f" {self.severity}:"
        label = "" if self.path == "-" else f" {self.path}:"
        prefix = f"{where}{severity}{label} "
        if not printed.startswith(prefix):
            return False
        message, at = printed[len(prefix) :], 0
        for part in self.text.split(" ... "):  # " ... " stands for any text
            at = message.find(part, at)
            if at < 0:
                return False
            at += len(part)
        return True

    def __str__(self) -> str:
        return f"{self.line}:{self.col} {self.severity} {self.path}: {self.text}"


def expectations(path: Path) -> list[Expected]:
    """The `# expect:` lines of a case's leading comment block."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# expect"):
            match = _HEADER.match(line)
            assert match, f"{path.name}: cannot read header line {line!r} (see tests/pipelines/README.md)"
            found.append(
                Expected(
                    "error" if match["kind"] == "expect" else "warning",
                    int(match["line"]),
                    int(match["col"]),
                    match["path"],
                    match["text"],
                )
            )
    return found


def cases(folder: str) -> list[Path]:
    found = sorted((CASES / folder).glob("*.yaml"))
    assert found, f"no cases in {CASES / folder}"
    return found


def check_output(stdout: str, file: str, expected: list[Expected]) -> None:
    """Every expectation matches a printed problem of its own; every printed problem is expected."""
    printed = [line for line in stdout.splitlines() if _PROBLEM.match(line)]
    unmatched = list(printed)
    missing = []
    for want in expected:
        hit = next((line for line in unmatched if want.matches(line, file)), None)
        if hit is None:
            missing.append(str(want))
        else:
            unmatched.remove(hit)
    report = "\n".join(printed)
    assert not missing, "not reported:\n  " + "\n  ".join(missing) + f"\nvalidate printed:\n{report}"
    assert not unmatched, "reported but not expected:\n  " + "\n  ".join(unmatched)


@pytest.fixture
def marketplace(project, monkeypatch):
    """The test project with the demo marketplace tables plus `cancels`, and no HGSYNC_TEST_* variables."""
    for name in [n for n in os.environ if n.startswith("HGSYNC_TEST_")]:
        monkeypatch.delenv(name)
    create_demo_database(project.db_path, orders=6)
    project.sql("CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, sku TEXT, reason TEXT)")
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(
        config.read_text().replace(
            "connections:\n",
            "connections:\n  unreachable: postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2\n",
        )
    )
    return project


@pytest.mark.parametrize("case", cases("invalid"), ids=lambda p: p.stem)
def test_invalid_pipeline(marketplace, case: Path):
    expected = expectations(case)
    assert any(e.severity == "error" for e in expected), f"{case.name} states no expected error"
    shutil.copy(case, marketplace.home / "pipelines" / case.name)

    result = marketplace.cli("validate")

    check_output(result.stdout, f"pipelines/{case.name}", expected)
    assert result.exit_code == 2, result.output
    errors = sum(e.severity == "error" for e in expected)
    assert f"{errors} problem(s) in 1 file(s)" in result.stderr


@pytest.mark.parametrize("case", cases("invalid-config"), ids=lambda p: p.stem)
def test_invalid_config(marketplace, case: Path):
    expected = expectations(case)
    assert any(e.severity == "error" for e in expected), f"{case.name} states no expected error"
    shutil.copy(case, marketplace.home / "config" / "hgsync.yaml")
    shutil.copy(CASES / "valid" / "cancels.yaml", marketplace.home / "pipelines")

    result = marketplace.cli("validate")

    check_output(result.stdout, "config/hgsync.yaml", expected)
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("case", cases("valid"), ids=lambda p: p.stem)
def test_valid_pipeline(marketplace, case: Path):
    expected = expectations(case)
    assert all(e.severity == "warning" for e in expected), f"{case.name}: a valid case expects no error"
    shutil.copy(case, marketplace.home / "pipelines" / case.name)

    result = marketplace.cli("validate")

    check_output(result.stdout, f"pipelines/{case.name}", expected)
    assert result.exit_code == 0, result.output
    assert "ok: config and 1 pipeline(s)" in result.stderr
    project = load_project(marketplace.home, columns=True)
    assert list(project.pipelines) == [case.stem]


def test_a_case_with_a_wrong_position_fails(marketplace):
    """The runner itself: a right message at a wrong column is not a match."""
    case = CASES / "invalid" / "unknown-target.yaml"
    (want,) = expectations(case)
    shutil.copy(case, marketplace.home / "pipelines" / case.name)
    stdout = marketplace.cli("validate").stdout
    file = f"pipelines/{case.name}"
    check_output(stdout, file, [want])
    moved = Expected(want.severity, want.line, want.col + 1, want.path, want.text)
    with pytest.raises(AssertionError, match="not reported"):
        check_output(stdout, file, [moved])
    with pytest.raises(AssertionError, match="reported but not expected"):
        check_output(stdout, file, [])


def test_every_problem_of_every_file_at_once(marketplace):
    """Several broken files (and a valid one) in one project: each file's problems, all of them."""
    names = ["unknown-column.yaml", "path-params.yaml", "schedule-every.yaml", "duplicate-key.yaml"]
    for name in names:
        shutil.copy(CASES / "invalid" / name, marketplace.home / "pipelines")
    shutil.copy(CASES / "valid" / "cancels.yaml", marketplace.home / "pipelines")

    result = marketplace.cli("validate")

    assert result.exit_code == 2
    printed = [line for line in result.stdout.splitlines() if _PROBLEM.match(line)]
    wanted = sum(len(expectations(CASES / "invalid" / name)) for name in names)
    assert len(printed) == wanted, result.stdout
    for name in names:
        check_output(
            "\n".join(p for p in printed if p.startswith(f"pipelines/{name}:")),
            f"pipelines/{name}",
            expectations(CASES / "invalid" / name),
        )
    assert printed == sorted(printed, key=_sort_key), "problems are printed by file, line and column"
    assert f"{wanted} problem(s) in {len(names)} file(s)" in result.stderr


def _sort_key(line: str) -> tuple[str, int, int]:
    file, line_no, col = line.split(" ", 1)[0].rsplit(":", 2)
    return file, int(line_no), int(col)


def test_offline_skips_the_column_check(marketplace):
    shutil.copy(CASES / "invalid" / "unknown-column.yaml", marketplace.home / "pipelines")
    result = marketplace.cli("validate", "--offline")
    assert result.exit_code == 0, result.output
    assert "unknown column" not in result.output


def test_no_config_file(marketplace):
    (marketplace.home / "config" / "hgsync.yaml").unlink()
    result = marketplace.cli("validate")
    assert result.exit_code == 2
    assert result.stdout.startswith("config/hgsync.yaml:1:1 no settings file; create config/hgsync.yaml")
