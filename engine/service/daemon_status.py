"""What the daemon knows about itself, for /healthz, /metrics and the status page.

Metrics are kept by :class:`engine.service.metrics.DaemonMetrics` (``self.metrics``), fed
here as runs start and end and as each HTTP attempt is answered (:meth:`DaemonStatus.attempt`,
the HG clients' hook). :meth:`DaemonStatus.snapshot` is called from the status server's
threads, so everything it reads is copied under a lock; run history and failing keys come
from the state store, which is safe to query from any thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import structlog

from engine.service.lease import Lease
from engine.service.live import LiveProject
from engine.service.metrics import DaemonMetrics
from engine.store import StateStore

VERSION = version("hgsync")
LAST_RUNS = 10
FAILING = 20


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else None


class DaemonStatus:
    def __init__(
        self,
        live: LiveProject,
        state: StateStore,
        next_run: Callable[[str], datetime | None],
        lease: Lease | None = None,
    ):
        self.live = live
        self.lease = lease
        self.state = state
        self.next_run = next_run
        self.started_at = datetime.now(UTC)
        self.stopping = False
        self._lock = threading.Lock()
        self.running: dict[str, datetime] = {}
        self.progress: dict[str, dict[str, int | None]] = {}  # running pipeline → to_send, done
        self.overlaps: Counter[str] = Counter()
        self.last_success: dict[str, datetime] = {}
        self.beats: dict[str, float] = {}  # heartbeat name → time.monotonic() of its last beat
        self.metrics = DaemonMetrics(keys=self._key_counts, stale=self._stale)

    # -- updates, from the event loop ------------------------------------------------------------

    def beat(self, name: str) -> None:
        """A loop that must keep turning (the scheduler, the file watcher) is alive."""
        self.beats[name] = time.monotonic()

    def run_started(self, pipeline: str) -> None:
        with self._lock:
            self.running[pipeline] = datetime.now(UTC)
            self.progress[pipeline] = {"to_send": None, "done": 0}

    def run_planned(self, pipeline: str, to_send: int) -> None:
        with self._lock:
            self.progress.setdefault(pipeline, {"done": 0})["to_send"] = to_send

    def run_ended(
        self, pipeline: str, status: str, counts: dict[str, int] | None, seconds: float = 0.0
    ) -> None:
        now = datetime.now(UTC)
        with self._lock:
            self.running.pop(pipeline, None)
            self.progress.pop(pipeline, None)
            if status == "ok":
                self.last_success[pipeline] = now
        self.metrics.run_ended(pipeline, status, counts, seconds, now.timestamp())

    def request_done(self, pipeline: str, status: int | None, attempts: int) -> None:
        with self._lock:
            if pipeline in self.progress:
                self.progress[pipeline]["done"] = (self.progress[pipeline].get("done") or 0) + 1
        self.metrics.retried(pipeline, attempts - 1)

    def attempt(self, token: bool, status: int | None, seconds: float) -> None:
        """One HTTP attempt answered (or not): the HG clients' hook. The run's pipeline rides
        in the log context; the operation is the pipeline's, or create_token for a token."""
        pipeline = str(structlog.contextvars.get_contextvars().get("pipeline") or "")
        found = self.live.pipelines.get(pipeline)
        operation = "create_token" if token else (found.operation.name if found else "unknown")
        self.metrics.attempt(pipeline, operation, status, seconds)

    def overlap_skipped(self, pipeline: str) -> None:
        with self._lock:
            self.overlaps[pipeline] += 1
        self.metrics.overlap(pipeline)

    def _key_counts(self) -> dict[str, dict[str, int]]:
        return {name: self.state.count_by_status(name) for name in sorted(self.live.pipelines)}

    def _stale(self) -> dict[str, bool]:
        live = self.live
        return {name: bool(live.pipeline_problems(name)) and name in live.pipelines for name in live.files}

    # -- reading, from any thread ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            running = dict(self.running)
            progress = {name: dict(p) for name, p in self.progress.items()}
            overlaps = dict(self.overlaps)
            last_success = dict(self.last_success)
        live = self.live
        pipelines = []
        for name in sorted(set(live.files) | set(live.pipelines)):
            pipelines.append(
                self._pipeline(name, running.get(name), overlaps.get(name, 0), last_success.get(name))
            )
            if name in progress:
                pipelines[-1]["progress"] = progress[name]
        return {
            "started_at": _iso(self.started_at),
            "pid": os.getpid(),
            "version": VERSION,
            "stopping": self.stopping,
            "lease": self.lease.describe() if self.lease is not None else None,
            "config_problems": [str(p) for p in live.config_problems]
            + (
                [f"reload failed, keeping the last good version: {live.reload_error}"]
                if live.reload_error
                else []
            ),
            "heartbeats": {name: round(time.monotonic() - at, 1) for name, at in sorted(self.beats.items())},
            "pipelines": pipelines,
            "inbox": self._inbox(),
        }

    def _inbox(self) -> dict[str, Any] | None:
        """The webhook inbox: per webhook, events by state, the pipeline applying them, and the
        newest failed events; None when no receiver is configured."""
        live = self.live
        if live.settings is None or live.settings.receiver is None:
            return None
        handled = {p.operation.name: p.name for p in live.inbound.values()}
        counts = self.state.inbox_counts()
        return {
            "webhooks": [
                {
                    "operation": op,
                    "pipeline": handled.get(op),
                    **{s: by.get(s, 0) for s in ("pending", "applied", "failed")},
                }
                for op, by in sorted(counts.items())
            ],
            "failed": [
                {
                    "id": e.id,
                    "event_id": e.event_id,
                    "operation": e.operation,
                    "attempts": e.attempts,
                    "error": e.error,
                    "received_at": _iso(e.received_at),
                }
                for e in self.state.inbox_events(status="failed", limit=FAILING)
            ],
        }

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A failing or in-doubt row as shown: its reason (which can quote customers' data, as
        HG's answers do) only when ``daemon.http_show_row_data`` is on."""
        settings = self.live.settings
        shown = {**row, "updated_at": _iso(row["updated_at"].replace(tzinfo=row["updated_at"].tzinfo or UTC))}
        if "last_error" in shown and not (settings is not None and settings.daemon.http_show_row_data):
            shown["last_error"] = "(hidden: set daemon.http_show_row_data to show reasons here)"
        return shown

    def _pipeline(
        self, name: str, running: datetime | None, overlaps: int, success: datetime | None
    ) -> dict[str, Any]:
        live = self.live
        pipeline = live.pipelines.get(name)
        problems = [str(p) for p in live.pipeline_problems(name)]
        spec = pipeline.spec if pipeline is not None else None
        history = self.state.history(name, LAST_RUNS)
        if success is None:
            success = next((r.finished_at for r in history if r.status == "ok"), None)
        return {
            "name": name,
            "file": live.files.get(name, pipeline.file if pipeline else ""),
            "description": spec.description if spec else "",
            "operation": pipeline.operation.name if pipeline else None,
            "schedule": spec.schedule.describe() if spec and spec.schedule else None,
            "enabled": bool(spec and spec.enabled),
            "next_run": _iso(self.next_run(name)),
            "running": running is not None,
            "running_since": _iso(running),
            "problems": problems,
            "stale": bool(problems) and pipeline is not None,
            "last_runs": [
                {
                    "run_id": r.run_id,
                    "status": r.status,
                    "trigger": r.trigger,
                    "started_at": _iso(r.started_at),
                    "finished_at": _iso(r.finished_at),
                    "message": r.message,
                    "counts": r.counts,
                }
                for r in history
            ],
            "last_success_at": _iso(success),
            "failing": [self._row(row) for row in self.state.failing(name, FAILING)],
            # a running run's requests on the wire are marked `sending`: in flight, not in doubt
            "in_doubt": [
                self._row(row)
                for row in self.state.in_doubt(name, FAILING)
                if running is None or row["status"] != "sending"
            ],
            "skipped_overlaps": overlaps,
            "results": self._results(name) if pipeline is not None and pipeline.operation.reference else None,
        }

    def _results(self, name: str) -> dict[str, Any]:
        """Results HG reported by webhook for the pipeline's requests (refunds): counts, and
        the newest that are not accepted (rejected with their reasons, or awaited)."""
        rows = [
            r for r in self.state.results(name, 200) if r["result"].lower() not in ("accepted", "success")
        ]
        return {
            "counts": self.state.result_counts(name),
            "open": [  # HG's reason as a row's last error: shown only with http_show_row_data
                self._row(
                    {
                        "key": r["key"],
                        "reference": r["reference"],
                        "result": r["result"],
                        "last_error": r["reason"],
                        "updated_at": r["delivered_at"],
                    }
                )
                for r in rows[:FAILING]
            ],
        }
