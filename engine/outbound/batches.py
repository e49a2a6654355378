"""Bulk operations: rows grouped into requests of many items, and a refused batch split.

An operation with a ``list_field`` and a ``batch_limit`` (Price update: ``items``, at most
1000 a call) is *bulk*. Each row still renders, validates, diffs and is recorded on its own:
its request is a whole, valid body carrying its own element(s) of the list. At send time,
rows are grouped into **units** of at most the pipeline's batch size of elements
(``batch: {size: N}``, by default the operation's limit), rows with the same method, path
and body outside the list going together; a unit's body is its first row's with the list
made of every row's elements, in the order read.

- A unit's idempotency key is derived from its rows' own keys (one row: that row's key), so
  a resend of the same rows carries the same key and other rows another.
- A unit refused as a whole for its content (400, 413, 422) is split in two and each half
  sent again, down to single rows: only the rows that are refused alone end ``rejected``,
  the rest are delivered (a unit of n rows with one bad row costs about 2·log2(n) more
  requests). Any other outcome (delivered, another 4xx, failed, in doubt) is every row's.
- Non-bulk operations are units of one row, sent as they always were.

:func:`units` groups the rows (``hgsync plan`` counts them with :func:`sizes`);
:func:`send_unit` sends one with its splits; :mod:`engine.outbound.deliver` marks, sends
and commits units as it does rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from engine.definitions.pipeline import Pipeline
from engine.errors import CredentialsRefused
from engine.logging import get_logger
from engine.outbound.diff import canonical, idempotency_key
from engine.outbound.spool import SpoolRow

log = get_logger("hgsync.batches")
SPLIT_ON = (400, 413, 422)  # a refusal of what the body holds: some row in it may be the cause
OPEN_GROUPS = 64  # units being filled at once (rows whose bodies differ outside the list)


class _Outcome(Protocol):
    """What :class:`engine.outbound.deliver.Outcome` is (not imported: deliver imports this)."""

    kind: str
    status: int | None
    message: str | None
    attempts: int
    doubted: bool


class _Sender(Protocol):
    async def send(
        self, method: str, path: str, body: Any, *, idempotency_key: str | None, stop_when_in_doubt: bool
    ) -> Any: ...


def batch_size(pipeline: Pipeline) -> int | None:
    """The most elements one request carries, or None when the operation is not bulk."""
    operation = pipeline.operation
    if operation.batch_limit is None or operation.list_field is None:
        return None
    chosen = pipeline.spec.batch.size if pipeline.spec.batch is not None else operation.batch_limit
    return min(chosen, operation.batch_limit)


@dataclass(frozen=True)
class Unit:
    """Rows that go out in one request, and that request."""

    rows: list[SpoolRow]
    method: str
    path: str
    body: Any
    key: str  # its idempotency key
    elements: int  # items in the body's list (1 for a non-bulk row)
    field: str | None  # the body's list, for a bulk operation (whose units split when refused)

    @property
    def bulk(self) -> bool:
        return self.field is not None


def _elements(row: SpoolRow, field: str) -> list[Any] | None:
    body = (row.request or {}).get("body")
    value = body.get(field) if isinstance(body, dict) else None
    return value if isinstance(value, list) and value else None


def make_unit(pipeline_name: str, rows: list[SpoolRow], field: str | None) -> Unit:
    """The request of ``rows``: the first row's, with ``field`` holding every row's elements."""
    first = rows[0]
    request = first.request or {}
    keys = [idempotency_key(pipeline_name, row.key or "", row.fingerprint or "") for row in rows]
    key = keys[0] if len(rows) == 1 else hashlib.sha256(canonical(keys).encode()).hexdigest()[:40]
    body = request.get("body")
    elements = 1
    if field is not None and isinstance(body, dict):
        items = [item for row in rows for item in (_elements(row, field) or [])]
        body = {**body, field: items} if len(rows) > 1 else body
        elements = len(items)
    return Unit(rows, request.get("method", ""), request.get("path", ""), body, key, elements, field)


def units(rows: Iterable[SpoolRow], pipeline: Pipeline) -> Iterator[Unit]:
    """The rows to send as units, mostly in the order read: one row each for a non-bulk
    operation; for a bulk one, rows sharing method, path and the body outside the list fill a
    unit up to the batch size, which goes as soon as it is full (the rest at the end)."""
    size = batch_size(pipeline)
    field = pipeline.operation.list_field
    name = pipeline.name
    if size is None or field is None:
        for row in rows:
            yield make_unit(name, [row], None)
        return
    groups: dict[str, tuple[list[SpoolRow], int]] = {}  # insertion order: the oldest first
    for row in rows:
        items = _elements(row, field)
        if items is None:  # no list to share: the row goes alone, as rendered
            yield make_unit(name, [row], field)
            continue
        request = row.request or {}
        body = request.get("body") or {}
        group = canonical(
            [request.get("method"), request.get("path"), {k: v for k, v in body.items() if k != field}]
        )
        members, count = groups.pop(group, ([], 0))
        if members and count + len(items) > size:
            yield make_unit(name, members, field)
            members, count = [], 0
        members, count = [*members, row], count + len(items)
        if count >= size:
            yield make_unit(name, members, field)
        else:
            groups[group] = (members, count)
            if len(groups) > OPEN_GROUPS:
                oldest = next(iter(groups))
                yield make_unit(name, groups.pop(oldest)[0], field)
    for members, _ in groups.values():
        yield make_unit(name, members, field)


def sizes(rows: Iterable[SpoolRow], pipeline: Pipeline) -> list[int]:
    """The elements of each request the rows would go out in (for ``hgsync plan``)."""
    return [unit.elements for unit in units(rows, pipeline)]


def describe(counts: list[int]) -> str:
    """``3 requests: 2 × 1000, 1 × 500 items``."""
    if not counts:
        return "no request"
    seen: dict[int, int] = {}
    for count in counts:
        seen[count] = seen.get(count, 0) + 1
    parts = [f"{n} × {size}" for size, n in sorted(seen.items(), key=lambda kv: -kv[0])]
    shown = ", ".join(parts[:4]) + (f" and {len(parts) - 4} more sizes" if len(parts) > 4 else "")
    return f"{len(counts)} request(s): {shown} items"


async def send_unit(
    unit: Unit,
    client: _Sender,
    *,
    pipeline: str,
    hold: bool,
    settle: Callable[[list[SpoolRow], _Outcome], None],
    stopped: Callable[[], bool],
    unsent: Callable[[list[SpoolRow]], None],
) -> int:
    """Send ``unit``; a bulk unit refused for its content is split in halves, each sent the
    same way. ``settle(rows, outcome)`` is called for the rows of each request whose outcome
    is final; ``unsent(rows)`` for halves not sent because ``stopped()`` came true (or the
    credentials were refused, which is raised after). Returns the requests made."""
    if stopped():
        unsent(unit.rows)
        return 0
    with structlog.contextvars.bound_contextvars(
        key=unit.rows[0].key, origin=unit.rows[0].origin, **({"rows": len(unit.rows)} if unit.bulk else {})
    ):
        try:
            outcome = await client.send(
                unit.method, unit.path, unit.body, idempotency_key=unit.key, stop_when_in_doubt=hold
            )
        except CredentialsRefused:
            unsent(unit.rows)
            raise
    if outcome.kind == "rejected" and unit.bulk and len(unit.rows) > 1 and outcome.status in SPLIT_ON:
        half = len(unit.rows) // 2
        log.info(
            "batch_split",
            rows=len(unit.rows),
            items=unit.elements,
            status=outcome.status,
            message=outcome.message,
            first_key=unit.rows[0].key,
        )
        made = 1
        for index, part in enumerate((unit.rows[:half], unit.rows[half:])):
            try:
                made += await send_unit(
                    make_unit(pipeline, part, unit.field),
                    client,
                    pipeline=pipeline,
                    hold=hold,
                    settle=settle,
                    stopped=stopped,
                    unsent=unsent,
                )
            except CredentialsRefused:
                if index == 0:
                    unsent(unit.rows[half:])
                raise
        return made
    if unit.bulk and outcome.kind != "delivered":
        log.warning(
            "batch_rejected" if outcome.kind == "rejected" else "batch_failed",
            outcome=outcome.kind,
            rows=len(unit.rows),
            status=outcome.status,
            reason=outcome.message,
            first_key=unit.rows[0].key,
        )
    settle(unit.rows, outcome)
    return 1
