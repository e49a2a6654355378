"""What every sink is: a config model, and a class that writes one event's rows at once.

A sink is registered by name under the ``hgsync.sinks`` entry point group (see
:mod:`engine.definitions.plugins`); an inbound pipeline's ``into:`` block is a mapping with
one key, that name, whose value the sink's ``Config`` model validates.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from engine.definitions.plugins import SourceContext


def cell(value: Any) -> Any:
    """A rendered value as a table cell: lists and mappings as JSON text, the rest as is."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


class SinkConnector(ABC):
    """Where an inbound pipeline's rows go. Subclasses set ``Config`` and implement :meth:`write`."""

    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, context: SourceContext):
        self.config = config
        self.context = context

    def check(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems visible without any I/O: (location inside the sink's block, message)."""
        return []

    @abstractmethod
    def write(self, rows: Sequence[dict[str, Any]], event_id: str) -> bool:
        """Write one event's rows, all or none. False when this event was applied before (the
        sink remembers event ids where it can, so a replayed event is not applied twice).
        Raises :class:`engine.errors.ApplyError` with a reason an operator can act on."""

    def close(self) -> None:  # noqa: B027 - most sinks hold nothing to release
        """Release connections."""
