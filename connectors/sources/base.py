"""What every source connector is: a config model, and a class that reads rows with their origin.

A connector is registered by name under the ``hgsync.sources`` entry point group (see
:mod:`engine.definitions.plugins`); a pipeline's ``source:`` block is a mapping with one
key, that name, whose value the connector's ``Config`` model validates. Built-in connectors
register exactly as an add-on would, in ``pyproject.toml``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, ClassVar

from pydantic import BaseModel

from engine.definitions.plugins import SourceContext


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a row came from, as people read it: ``order_items(id=5)`` or ``drop/a.csv:12``.

    ``batch`` groups rows that arrived together (one CSV file); ``rank`` orders batches,
    higher being newer, so that the newer batch wins when two hold the same key.
    """

    label: str
    batch: str | None = None
    rank: int = 0

    def __str__(self) -> str:
        return self.label


@dataclass(slots=True)
class Row:
    """One record from a source: column name → value, and where it came from.

    A record the source could not parse (a CSV line with the wrong number of fields, bad
    encoding...) is still yielded, with ``error`` saying what is wrong: the engine records it
    as a row error, so nothing is lost silently.
    """

    values: dict[str, Any]
    origin: Origin
    error: str | None = None


class RowChunk:
    """Rows read together (:meth:`SourceConnector.read_chunks`). This one holds :class:`Row`
    objects; a source that can hand over plain tuples (:class:`TupleChunk`) spares the rows
    found unchanged by their digest a dict and an origin each."""

    def __init__(self, rows: list[Row]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, index: int) -> Row:
        return self.rows[index]

    def origin(self, index: int) -> Origin:
        return self.rows[index].origin

    def column(self, name: str) -> list[Any]:
        """Each row's value of column ``name`` (None where it has none)."""
        return [row.values.get(name) for row in self.rows]

    def aside(self, positions: list[int]) -> Any:
        """The origins of the rows at ``positions``, compact and picklable, for :func:`origins`
        to spell out when (rarely) they are needed."""
        return [(o.label, o.batch, o.rank) for o in (self.rows[p].origin for p in positions)]

    def records(self) -> list[tuple[tuple[str, ...], tuple[Any, ...]] | None]:
        """Each row's (column names, values), None for a row the source could not read whole."""
        return [
            None if row.error is not None else (tuple(row.values), tuple(row.values.values()))
            for row in self.rows
        ]


class TupleChunk(RowChunk):
    """Records of the same columns, as tuples; ``label(id=5)`` origins (``keys``: the positions
    of the columns naming a record) or ``label row N`` (no keys; ``first``: the first's N)."""

    def __init__(
        self,
        names: tuple[str, ...],
        values: list[tuple[Any, ...]],
        label: str,
        keys: tuple[int, ...],
        first: int,
    ):
        self.names, self.values, self.label, self.keys, self.first = names, values, label, keys, first

    def __len__(self) -> int:
        return len(self.values)

    def row(self, index: int) -> Row:
        return Row(dict(zip(self.names, self.values[index], strict=True)), self.origin(index))

    def column(self, name: str) -> list[Any]:
        if name not in self.names:
            return [None] * len(self.values)
        position = self.names.index(name)
        return [record[position] for record in self.values]

    def aside(self, positions: list[int]) -> Any:
        keys, values = self.keys, self.values
        if len(keys) == 1:
            key = keys[0]
            return ("key", f"{self.label}({self.names[key]}=", [values[p][key] for p in positions])
        if not keys:
            return ("row", f"{self.label} row ", [self.first + p for p in positions])
        return super().aside(positions)

    def origin(self, index: int) -> Origin:
        keys, record = self.keys, self.values[index]
        if len(keys) == 1:  # the usual case, made cheap
            return Origin(f"{self.label}({self.names[keys[0]]}={record[keys[0]]!r})")
        if keys:
            return Origin(f"{self.label}({', '.join(f'{self.names[k]}={record[k]!r}' for k in keys)})")
        return Origin(f"{self.label} row {self.first + index}")


def origins(aside: Any) -> list[tuple[str, str | None, int]]:
    """(label, batch, rank) of each row described by :meth:`RowChunk.aside`."""
    if isinstance(aside, tuple) and aside[0] == "key":
        return [(f"{aside[1]}{value!r})", None, 0) for value in aside[2]]
    if isinstance(aside, tuple) and aside[0] == "row":
        return [(f"{aside[1]}{number}", None, 0) for number in aside[2]]
    return list(aside)


@dataclass(frozen=True)
class CursorRead:
    """An incremental read: rows whose ``column`` is at or past ``since`` (None: all rows)."""

    column: str
    since: Any = None


@dataclass(frozen=True)
class Incremental:
    """A source's request for incremental reads: its cursor column and the look-back window
    (a raw config value, parsed by :func:`engine.definitions.values.parse_lookback`)."""

    column: str
    lookback: Any = None


class SourceConnector(ABC):
    """A source of rows. Subclasses set ``Config`` and implement :meth:`read`."""

    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, context: SourceContext):
        self.config = config
        self.context = context

    def check(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems visible without any I/O (a connection name that is not configured...):
        (location inside the connector's block, message)."""
        return []

    def columns(self) -> list[str] | None:
        """The column names rows will have, inspecting the source if need be; None if unknown."""
        return None

    @property
    def incremental(self) -> Incremental | None:
        """The cursor of incremental reads, when the pipeline asked for them; None: read all."""
        return None

    @abstractmethod
    def read(self, cursor: CursorRead | None = None) -> Iterator[Row]:
        """Yield every row (or, with ``cursor``, those at or past it). Raises SourceError when the
        source cannot be read at all."""

    def read_chunks(self, cursor: CursorRead | None = None, size: int = 2000) -> Iterator[RowChunk]:
        """What :meth:`read` yields, about ``size`` rows at a time (a source may keep to its own
        chunk size)."""
        rows = iter(self.read(cursor))
        while chunk := list(islice(rows, size)):
            yield RowChunk(chunk)

    def finish(  # noqa: B027
        self,
        batches: Mapping[str, Mapping[str, int]],
        *,
        complete: bool,
        errors: Iterable[tuple[str, str, str]] | None = None,
    ) -> None:
        """Called once the run has recorded every outcome. ``batches`` maps each batch (CSV
        file) to how its rows ended, by verdict or outcome (delivered, unchanged, filtered,
        superseded, error, rejected, failed, new...). ``complete`` is False when the run stopped
        before sending everything. ``errors`` lists (batch, origin, reason) of every batch row
        that cannot be delivered (row errors and HG's rejections). Sources with batches
        archive or reject them here."""

    def close(self) -> None:  # noqa: B027
        """Release connections."""


__all__ = [
    "CursorRead",
    "Incremental",
    "Origin",
    "Row",
    "RowChunk",
    "SourceConnector",
    "SourceContext",
    "TupleChunk",
    "origins",
]
