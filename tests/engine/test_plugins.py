"""Connectors are found through entry points: an add-on registers exactly as a built-in does.

Each test installs a tiny add-on the way pip would leave it (a module and a ``.dist-info``
folder whose ``entry_points.txt`` names it) on ``sys.path``, then loads a project using it.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sources.csv_drop import CsvDropSource
from connectors.sources.sql import SqlSource
from engine.definitions.loader import load_project
from engine.definitions.plugins import forget_plugins, known_operations, known_sources, resolve
from engine.errors import ConfigError
from tests.conftest import ProjectDir

ADDON = """
from pydantic import BaseModel, ConfigDict
from connectors.sources.base import Origin, Row, SourceConnector
from engine.definitions.operations import Operation


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int


class CountingSource(SourceConnector):
    Config = Config

    def columns(self):
        return ["n"]

    def read(self, cursor=None):
        for n in range(self.config.count):
            yield Row({"n": n}, Origin(f"counter #{n}"))


class Ping(BaseModel):
    model_config = ConfigDict(extra="allow")


CATALOG = {
    "ping": Operation(name="ping", title="Ping", method="PUT", path="/ping/{n}", model=Ping,
                      certainty="add-on", idempotent=True),
}
"""


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``install(entry_points_txt, module_text)``: an add-on on sys.path, seen by the registry."""
    site = tmp_path / "site"

    def put(entry_points: str, module: str = ADDON, name: str = "hgsync_addon") -> None:
        site.mkdir(exist_ok=True)
        (site / f"{name}.py").write_text(module)
        info = site / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        monkeypatch.syspath_prepend(str(site))
        forget_plugins()

    yield put
    for module in [m for m in sys.modules if m.startswith("hgsync_addon")]:
        del sys.modules[module]
    forget_plugins()


def test_the_built_ins_are_found_through_their_entry_points() -> None:
    assert known_sources() == {"csv": CsvDropSource, "sql": SqlSource}
    assert "cancel_order_item" in known_operations()


def test_an_add_on_source_and_catalog_work_in_a_pipeline(install, tmp_path: Path) -> None:
    install(
        """
        [hgsync.sources]
        counter = hgsync_addon:CountingSource
        [hgsync.operations]
        addon = hgsync_addon:CATALOG
        """
    )
    assert set(known_sources()) == {"counter", "csv", "sql"}
    assert resolve("ping").path == "/ping/{n}"
    project = ProjectDir(tmp_path / "p", "http://127.0.0.1:9")
    project.pipeline(
        "pings",
        """\
        source: {counter: {count: 3}}
        key: "{{ row.n }}"
        operation: ping
        request: {path: {n: "{{ row.n }}"}, body: {}}
        """,
    )
    project.pipeline("typo", 'source: {counter: {cuont: 3}}\nkey: "{{ row.n }}"\noperation: ping\n')
    loaded = load_project(project.home, columns=True)
    assert sorted(loaded.pipelines) == ["pings"]
    assert any("unknown key 'cuont'" in str(p) and "did you mean 'count'" in str(p) for p in loaded.errors)
    source = loaded.pipelines["pings"].make_source(loaded.settings, project.home)  # type: ignore[arg-type]
    assert [str(row.origin) for row in source.read()] == ["counter #0", "counter #1", "counter #2"]


def test_an_add_on_that_cannot_be_imported_is_named(install) -> None:
    install("[hgsync.sources]\nbroken = hgsync_addon:CountingSource\n", module="import no_such_module\n")
    with pytest.raises(ConfigError, match=r"entry point 'broken' of hgsync.sources .* ModuleNotFoundError"):
        known_sources()


def test_two_catalogs_defining_one_operation_are_refused(install) -> None:
    install(
        "[hgsync.operations]\nzz = hgsync_addon:CATALOG\n", module=ADDON.replace('"ping"', '"create_order"')
    )
    with pytest.raises(
        ConfigError, match="'create_order' is defined by two catalogs, 'hepsiglobal' and 'zz'"
    ):
        known_operations()


def test_an_unknown_source_kind_lists_the_registered_ones(tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "p", "http://127.0.0.1:9")
    project.pipeline("x", 'source: {sqll: {}}\nkey: "{{ row.n }}"\noperation: cancel_order_item\n')
    problems = [str(p) for p in load_project(project.home).errors]
    assert any("unknown source type 'sqll' (known: csv, sql); did you mean 'sql'?" in p for p in problems)
