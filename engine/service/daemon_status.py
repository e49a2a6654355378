"""What the daemon knows about itself, for /healthz, /metrics and the status page.

Counters are kept since the daemon started (Prometheus counters reset on restart, as
usual). :meth:`DaemonStatus.snapshot` is called from the status server's threads, so
everything it reads is copied under a lock; run history and failing keys come from the
state store, which is safe to query from any thread.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from engine.service.lease import Lease
from engine.service.live import LiveProject
from engine.store import StateStore

VERSION = "0.1.0"
LAST_RUNS = 10
FAILING = 20
# run counts → the outcome label of hgsync_rows_total
ROW_OUTCOMES = {
    "delivered": "delivered",
    "send_rejected": "rejected",
    "send_failed": "failed",
    "unchanged": "unchanged",
    "error": "error",
    "rejected": "still_rejected",
    "filtered": "filtered",
    "superseded": "superseded",
    "unsent": "unsent",
}


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
        self.runs: Counter[tuple[str, str]] = Counter()
        self.rows: Counter[tuple[str, str]] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.retries: Counter[str] = Counter()
        self.overlaps: Counter[str] = Counter()
        self.last_success: dict[str, datetime] = {}
        self.last_ok: dict[str, bool] = {}

    # -- updates, from the event loop ------------------------------------------------------------

    def run_started(self, pipeline: str) -> None:
        with self._lock:
            self.running[pipeline] = datetime.now(UTC)
            self.progress[pipeline] = {"to_send": None, "done": 0}

    def run_planned(self, pipeline: str, to_send: int) -> None:
        with self._lock:
            self.progress.setdefault(pipeline, {"done": 0})["to_send"] = to_send

    def run_ended(self, pipeline: str, status: str, counts: dict[str, int] | None) -> None:
        with self._lock:
            self.running.pop(pipeline, None)
            self.progress.pop(pipeline, None)
            self.runs[(pipeline, status)] += 1
            for key, label in ROW_OUTCOMES.items():
                if counts and counts.get(key):
                    self.rows[(pipeline, label)] += counts[key]
            self.last_ok[pipeline] = status == "ok"
            if status == "ok":
                self.last_success[pipeline] = datetime.now(UTC)

    def request_done(self, pipeline: str, status: int | None, attempts: int) -> None:
        with self._lock:
            if pipeline in self.progress:
                self.progress[pipeline]["done"] = (self.progress[pipeline].get("done") or 0) + 1
            self.requests[(pipeline, str(status) if status is not None else "network_error")] += 1
            self.retries[pipeline] += max(attempts - 1, 0)

    def overlap_skipped(self, pipeline: str) -> None:
        with self._lock:
            self.overlaps[pipeline] += 1

    # -- reading, from any thread ----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            running = dict(self.running)
            progress = {name: dict(p) for name, p in self.progress.items()}
            metrics = {
                "runs_total": [
                    {"pipeline": p, "status": s, "value": v} for (p, s), v in sorted(self.runs.items())
                ],
                "rows_total": [
                    {"pipeline": p, "outcome": o, "value": v} for (p, o), v in sorted(self.rows.items())
                ],
                "requests_total": [
                    {"pipeline": p, "status": s, "value": v} for (p, s), v in sorted(self.requests.items())
                ],
                "retries_total": [{"pipeline": p, "value": v} for p, v in sorted(self.retries.items())],
                "skipped_overlaps_total": [
                    {"pipeline": p, "value": v} for p, v in sorted(self.overlaps.items())
                ],
                "last_success_timestamp_seconds": [
                    {"pipeline": p, "value": t.timestamp()} for p, t in sorted(self.last_success.items())
                ],
                "last_run_ok": [{"pipeline": p, "value": int(ok)} for p, ok in sorted(self.last_ok.items())],
            }
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
            "config_problems": [str(p) for p in live.config_problems],
            "pipelines": pipelines,
            "metrics": metrics,
        }

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
            "failing": [
                {**row, "updated_at": _iso(row["updated_at"].replace(tzinfo=row["updated_at"].tzinfo or UTC))}
                for row in self.state.failing(name, FAILING)
            ],
            # a running run's requests on the wire are marked `sending`: in flight, not in doubt
            "in_doubt": [
                {**row, "updated_at": _iso(row["updated_at"].replace(tzinfo=row["updated_at"].tzinfo or UTC))}
                for row in self.state.in_doubt(name, FAILING)
                if running is None or row["status"] != "sending"
            ],
            "skipped_overlaps": overlaps,
        }
