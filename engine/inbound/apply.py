"""Inbox events applied to the marketplace through their inbound pipelines.

The applier takes due events per webhook in the order they arrived; an event that fails
(a template, a missing table, a database down) is kept with its reason, due again after a
back-off, and holds back the later events of its webhook meanwhile, so that two stock
updates of one SKU never apply out of order. After the last attempt it is ``failed`` and the
rest go on; `hgsync inbox replay` puts it back. Events of a webhook no pipeline receives
wait, pending, until one does.

A webhook that reports the result of an earlier request (Refund create result: ``results``)
is always applied: the result is recorded by the request id it names (see
:mod:`engine.store.results`), then the event goes through its pipeline, if there is one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from engine.definitions.inbound_pipeline import InboundPipeline
from engine.definitions.operations import ResultFields
from engine.definitions.receiver import Retry
from engine.definitions.settings import Settings
from engine.errors import ApplyError, StateError
from engine.logging import get_logger
from engine.mapping.render import RenderError
from engine.store.inbox import InboxEvent
from engine.store.state_store import StateStore

log = get_logger("hgsync.apply")
RESULTS = "(results)"  # the inbox's pipeline column for a result event no pipeline receives


class Applier:
    """Applies due inbox events; ``pipelines()`` gives the current inbound pipelines by name
    (the daemon's live reload may change them between two passes)."""

    def __init__(
        self,
        store: StateStore,
        settings: Settings,
        home: Path,
        pipelines: Callable[[], Mapping[str, InboundPipeline]],
        retry: Retry,
        *,
        results: Mapping[str, ResultFields] | None = None,
    ):
        self.store = store
        self.results = dict(results or {})
        self.settings = settings
        self.home = home
        self.pipelines = pipelines
        self.retry = retry
        self._wake = threading.Event()
        self._sinks: dict[tuple[str, str], Any] = {}  # (pipeline, file digest) → sink
        self._soonest: float | None = None  # seconds until the first retry this pass scheduled

    def wake(self) -> None:
        """Apply soon: new events arrived."""
        self._wake.set()

    def apply_due(self) -> dict[str, int]:
        """One pass over every due event; counts of applied, repeated and failed events."""
        by_operation = {p.operation.name: p for p in self.pipelines().values() if p.spec.enabled}
        counts = {"applied": 0, "repeated": 0, "failed": 0}
        held: set[str] = set()
        done: dict[str, list[int]] = {}  # pipeline → events applied, marked so in one transaction
        try:
            for event in self.store.inbox_due(sorted(set(by_operation) | set(self.results))):
                if event.operation in held:
                    continue
                pipeline = by_operation.get(event.operation)
                fields = self.results.get(event.operation)
                if fields is not None:
                    self._record_result(fields, event)
                outcome = "applied" if pipeline is None else self._apply(pipeline, event)
                counts[outcome] += 1
                if outcome == "failed":
                    held.add(event.operation)
                else:
                    done.setdefault(pipeline.name if pipeline else RESULTS, []).append(event.id)
        finally:
            # a crash before this line applies those events again: the sinks know them (applied
            # event ids), so nothing is written twice
            for name, ids in done.items():
                self.store.inbox_applied(ids, name)
        return counts

    def _apply(self, pipeline: InboundPipeline, event: InboxEvent) -> str:
        meta = {
            "event_id": event.event_id,
            "operation": event.operation,
            "received_at": event.received_at.isoformat(),
        }
        fields = {"pipeline": pipeline.name, "inbox_id": event.id, "event_id": event.event_id}
        try:
            rows = pipeline.rows(event.body, meta)
            new = self._sink(pipeline).write(rows, event.event_id)
        except (RenderError, ApplyError) as exc:
            delay = self.retry.delay(event.attempts + 1)
            self.store.inbox_failed(event.id, pipeline.name, str(exc), delay)
            if delay is not None:
                self._soonest = delay if self._soonest is None else min(self._soonest, delay)
            log.warning(
                "webhook_apply_failed", **fields, error=str(exc), attempt=event.attempts + 1, retry_in=delay
            )
            return "failed"
        log.info("webhook_applied", **fields, rows=len(rows), repeat=not new)
        return "applied" if new else "repeated"

    def _record_result(self, fields: ResultFields, event: InboxEvent) -> None:
        """Keep the result an event reports, by the request id it names (idempotent: a replay
        writes the same row again)."""
        body = event.body if isinstance(event.body, Mapping) else {}
        reference, status = body.get(fields.reference), body.get(fields.status)
        where = {"operation": event.operation, "inbox_id": event.id, "event_id": event.event_id}
        if reference in (None, "") or isinstance(reference, dict | list):
            log.warning("result_without_reference", **where, field=fields.reference)
            return
        reason = body.get(fields.reason)
        matched = self.store.record_result(
            str(reference)[:200],
            operation=event.operation,
            status=str(status if status not in (None, "") else "reported")[:100],
            reason=None if reason in (None, "") else str(reason)[:2000],
            event_id=event.event_id,
        )
        log.info("result_recorded", **where, reference=str(reference), status=status, matched=matched)

    def _sink(self, pipeline: InboundPipeline) -> Any:
        key = (pipeline.name, pipeline.digest)
        if key not in self._sinks:
            for old in [k for k in self._sinks if k[0] == pipeline.name]:
                self._sinks.pop(old).close()
            self._sinks[key] = pipeline.make_sink(self.settings, self.home)
        return self._sinks[key]

    def run(self, stop: threading.Event, idle: float = 1.0) -> None:
        """Apply until ``stop`` is set: at once when woken, else every ``idle`` seconds (for retries)."""
        while not stop.is_set():
            self._wake.clear()
            self._soonest = None
            try:
                if any(self.apply_due().values()):
                    continue  # there may be more behind this pass
            except StateError as exc:
                log.error("inbox_unavailable", error=str(exc))
            except Exception as exc:  # never let one event kill the applier
                log.exception("applier_error", error=f"{type(exc).__name__}: {exc}")
            self._wake.wait(idle if self._soonest is None else min(idle, self._soonest))
            if stop.is_set():
                break
        self.close()

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
