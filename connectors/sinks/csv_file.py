"""A CSV file as a sink: each event's rows appended at once, with a header on a new file.

Appending is at least once: an event applied just before a crash that left the inbox
unaware is appended again on its retry. The ``event_id`` column (on by default) makes such
a repeat visible and removable downstream.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.sinks.base import SinkConnector, cell
from engine.errors import ApplyError


class CsvSinkConfig(BaseModel):
    """``into: {csv: {...}}``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="the file rows are appended to, relative to the project folder")
    event_id: bool = Field(True, description="write the event id as the first column")
    delimiter: str = Field(",", min_length=1, max_length=1, description="the field separator")


class CsvSink(SinkConnector):
    config: CsvSinkConfig

    Config = CsvSinkConfig

    @property
    def path(self) -> Path:
        path = Path(self.config.path)
        return path if path.is_absolute() else self.context.home / path

    def write(self, rows: Sequence[dict[str, Any]], event_id: str) -> bool:
        if not rows:
            return True
        names = list(dict.fromkeys(name for row in rows for name in row))
        if self.config.event_id:
            names = ["event_id", *names]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=names, delimiter=self.config.delimiter, lineterminator="\n")
        try:
            new = not self.path.exists() or self.path.stat().st_size == 0
            if new:
                writer.writeheader()
            for row in rows:
                values = {name: cell(value) for name, value in row.items()}
                writer.writerow({"event_id": event_id, **values} if self.config.event_id else values)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8", newline="") as handle:
                handle.write(text.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise ApplyError(f"{self.config.path}: {exc.strerror or exc}") from None
        return True
