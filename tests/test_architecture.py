"""The package layout keeps its promise: imports go one way, down the layers, with no cycle.

Each sub-package's ``__init__`` says what it may import; this test reads every import in
``engine/`` and ``connectors/`` (those inside functions and ``TYPE_CHECKING`` blocks too)
and holds the code to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top first. A module may import its own component and any component of a lower layer;
# components of one layer (separated into a tuple) do not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("engine.cli",),
    ("engine.service",),
    ("engine.outbound", "engine.inbound"),
    ("connectors.sources", "connectors.sinks", "connectors.hepsiglobal"),
    ("engine.definitions",),
    ("engine.mapping", "engine.store"),
    ("engine.http_server",),
    ("engine.errors", "engine.logging", "engine.signals"),
]
LARGEST_MODULE = 420  # lines; past ~400 a module usually holds two ideas


def _modules() -> dict[str, Path]:
    found = {}
    for package in ("engine", "connectors"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The hgsync modules ``name`` imports, resolved to modules that exist."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _component(module: str) -> tuple[int, str] | None:
    for depth, layer in enumerate(LAYERS):
        for component in layer:
            if module == component or module.startswith(component + "."):
                return depth, component
    return None


def test_every_module_belongs_to_a_layer() -> None:
    homeless = sorted(m for m in MODULES if _component(m) is None and m not in ("engine", "connectors"))
    assert homeless == [], "add these to LAYERS (and say so in their package's __init__)"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        here = _component(module)
        for target in targets:
            there = _component(target)
            if here is None or there is None or here[1] == there[1]:
                continue
            if there[0] <= here[0]:
                wrong.append(f"{module} → {target} ({here[1]} may not import {there[1]})")
    assert wrong == []


def test_package_inits_import_nothing_but_their_own() -> None:
    for package in ("engine", "connectors"):
        assert GRAPH[package] == set(), f"{package}/__init__.py must stay free of imports"


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle()
    assert cycle is None, " → ".join(cycle or [])


def test_the_checks_can_fail() -> None:
    """The graph walk finds a planted cycle and an upward import."""
    GRAPH["engine.errors"].add("engine.logging")
    GRAPH["engine.logging"].add("engine.errors")
    try:
        assert _cycle() is not None
    finally:
        GRAPH["engine.errors"].discard("engine.logging")
        GRAPH["engine.logging"].discard("engine.errors")
    GRAPH["engine.store.base"].add("engine.cli.commands")
    with pytest.raises(AssertionError):
        test_imports_point_down_the_layers()
    GRAPH["engine.store.base"].discard("engine.cli.commands")


def test_modules_stay_small() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > LARGEST_MODULE} == {}, "split these by idea"
