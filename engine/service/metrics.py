"""The daemon's counters and gauges in the Prometheus text exposition format (version 0.0.4).

:func:`render_prometheus` turns the ``metrics`` block of the daemon's status snapshot into
what ``GET /metrics`` answers. The block holds one list of samples per family, each sample a
dict of labels plus ``value``::

    {"runs_total": [{"pipeline": "orders", "status": "ok", "value": 12}], ...}

Every family in :data:`FAMILIES` is written, in that order, with its ``# HELP`` and ``# TYPE``
lines, even when it has no samples yet, so a scraper sees the same series names from the
first scrape on. Samples are sorted by their labels, so two renderings of the same numbers are
identical. Names get the ``hgsync_`` prefix; label values are escaped as the format asks
(backslash, double quote, newline). A family the daemon adds that is not listed here is
written as ``untyped`` after the known ones rather than dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "hgsync_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Family:
    """One metric family: its name without the prefix, its type, help text and usual labels."""

    name: str
    type: str  # counter | gauge | untyped
    help: str
    labels: tuple[str, ...] = ("pipeline",)


FAMILIES: tuple[Family, ...] = (
    Family("runs_total", "counter", "Runs finished since the daemon started, by final status.",
           ("pipeline", "status")),
    Family("rows_total", "counter", "Rows handled since the daemon started, by outcome.",
           ("pipeline", "outcome")),
    Family("requests_total", "counter",
           "Requests sent to HepsiGlobal since the daemon started, by HTTP status or network_error.",
           ("pipeline", "status")),
    Family("retries_total", "counter", "Requests retried since the daemon started."),
    Family("skipped_overlaps_total", "counter",
           "Scheduled runs skipped because the previous run of the pipeline was still going."),
    Family("last_success_timestamp_seconds", "gauge",
           "Unix time at which the last successful run of the pipeline finished."),
    Family("last_run_ok", "gauge", "1 when the last finished run of the pipeline succeeded, else 0."),
)  # fmt: skip
_UP = Family("up", "gauge", "1 while the hgsync daemon is running.", ())
_STALE = Family(
    "pipeline_stale",
    "gauge",
    "1 when the pipeline file has problems and the daemon keeps running its last good version.",
)


def escape_label(value: object) -> str:
    """A label value as the text format writes it between double quotes."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: object) -> str:
    """A sample value: whole numbers without a fraction, floats in full, NaN and ±Inf spelt out."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _label_names(family: Family, samples: Iterable[Mapping[str, Any]]) -> list[str]:
    """The family's usual labels first, then any other a sample carries, alphabetically."""
    extra = sorted({k for s in samples for k in s if k != "value" and k not in family.labels})
    return [*family.labels, *extra]


def _sample_lines(family: Family, samples: list[Mapping[str, Any]]) -> list[str]:
    names = [n for n in _label_names(family, samples) if _LABEL.match(n)]
    rows = []
    for sample in samples:
        if "value" not in sample or sample["value"] is None:
            continue
        labels = tuple((n, str(sample[n])) for n in names if n in sample and sample[n] is not None)
        rows.append((labels, format_value(sample["value"])))
    lines = []
    for labels, value in sorted(rows, key=lambda r: r[0]):
        text = ",".join(f'{n}="{escape_label(v)}"' for n, v in labels)
        lines.append(f"{PREFIX}{family.name}{{{text}}} {value}" if text else f"{PREFIX}{family.name} {value}")
    return lines


def _family_lines(family: Family, samples: list[Mapping[str, Any]]) -> list[str]:
    name = PREFIX + family.name
    return [
        f"# HELP {name} {_escape_help(family.help)}",
        f"# TYPE {name} {family.type}",
        *_sample_lines(family, samples),
    ]


def render_prometheus(
    metrics: Mapping[str, Any], pipelines: Iterable[Mapping[str, Any]] | None = None
) -> str:
    """The Prometheus text for the snapshot's ``metrics`` block, ending with a newline.

    ``hgsync_up 1`` comes first. With ``pipelines`` (the snapshot's list), each pipeline also
    gets ``hgsync_pipeline_stale`` 0 or 1.
    """
    lines = _family_lines(_UP, [{"value": 1}])
    for family in FAMILIES:
        lines += _family_lines(family, list(metrics.get(family.name) or []))
    if pipelines is not None:
        stale = [{"pipeline": p.get("name"), "value": bool(p.get("stale"))} for p in pipelines]
        lines += _family_lines(_STALE, stale)
    known = {f.name for f in FAMILIES} | {_UP.name, _STALE.name}
    for name in sorted(set(metrics) - known):
        if _NAME.match(PREFIX + name) and isinstance(metrics[name], list):
            family = Family(name, "untyped", f"{name} (no description)", ())
            lines += _family_lines(family, metrics[name])
    return "\n".join(lines) + "\n"
