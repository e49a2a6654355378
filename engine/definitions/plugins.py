"""What connectors plug into hgsync, found by name through entry points: source kinds, sink
kinds and operation catalogs.

Built-in connectors register exactly as an add-on does, in its package's ``pyproject.toml``::

    [project.entry-points."hgsync.sources"]
    sql = "connectors.sources.sql:SqlSource"         # a SourceConnector subclass

    [project.entry-points."hgsync.operations"]
    hepsiglobal = "connectors.hepsiglobal.catalog:CATALOG"   # {name: Operation}

Nothing here imports a connector: entry points are loaded on first use and kept. An entry
point that cannot be loaded, two catalogs defining one operation, or no source kind at all
(hgsync run from a folder without being installed) is a :class:`ConfigError` that says how
to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from engine.definitions.operations import Operation, UnknownOperationError
from engine.definitions.targets import OperationOverride
from engine.errors import ConfigError

SOURCES_GROUP = "hgsync.sources"
SINKS_GROUP = "hgsync.sinks"
OPERATIONS_GROUP = "hgsync.operations"
_NOT_INSTALLED = "hgsync's entry points are missing: install it (`make`, or `pip install -e .`)"


@dataclass
class SourceContext:
    """What a source or sink connector may use besides its own config. ``state`` is the run's
    :class:`engine.store.StateStore` (None when only checking files)."""

    home: Path
    connections: Mapping[str, str] = field(default_factory=dict)
    pipeline: str = ""
    state: Any = None


def _load(point: EntryPoint) -> Any:
    try:
        return point.load()
    except Exception as exc:  # an add-on's import error must name the add-on
        raise ConfigError(
            f"entry point {point.name!r} of {point.group} ({point.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}; reinstall or remove the package that declares it"
        ) from None


@cache
def known_sources() -> Mapping[str, Any]:
    """Every registered source kind: its name in ``source: {name: ...}`` → its connector class."""
    found = {point.name: _load(point) for point in entry_points(group=SOURCES_GROUP)}
    if not found:
        raise ConfigError(f"no source kinds are registered; {_NOT_INSTALLED}")
    return dict(sorted(found.items()))


@cache
def known_sinks() -> Mapping[str, Any]:
    """Every registered sink kind: its name in ``into: {name: ...}`` → its connector class."""
    found = {point.name: _load(point) for point in entry_points(group=SINKS_GROUP)}
    if not found:
        raise ConfigError(f"no sink kinds are registered; {_NOT_INSTALLED}")
    return dict(sorted(found.items()))


@cache
def known_operations() -> Mapping[str, Operation]:
    """Every registered operation by name, from every catalog, in each catalog's order."""
    found: dict[str, Operation] = {}
    origin: dict[str, str] = {}
    points = sorted(entry_points(group=OPERATIONS_GROUP), key=lambda p: p.name)
    if not points:
        raise ConfigError(f"no operation catalogs are registered; {_NOT_INSTALLED}")
    for point in points:
        catalog = _load(point)
        if not isinstance(catalog, Mapping):
            raise ConfigError(
                f"entry point {point.name!r} of {OPERATIONS_GROUP} is not a mapping of operations"
            )
        for name, operation in catalog.items():
            if name in found:
                raise ConfigError(
                    f"operation {name!r} is defined by two catalogs, {origin[name]!r} and {point.name!r}"
                )
            found[name], origin[name] = operation, point.name
    return found


def forget_plugins() -> None:
    """Load entry points again on next use (after installing an add-on into a running process)."""
    known_sources.cache_clear()
    known_sinks.cache_clear()
    known_operations.cache_clear()


def resolve(name: str, overrides: Mapping[str, OperationOverride] | None = None) -> Operation:
    """The operation ``name`` with the operator's corrections applied."""
    catalog = known_operations()
    op = catalog.get(name)
    if op is None:
        known = sorted(catalog)
        message = f"unknown operation {name!r}; known: {', '.join(known)}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        raise UnknownOperationError(message)
    return op.with_override((overrides or {}).get(name))
