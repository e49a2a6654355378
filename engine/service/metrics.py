"""The daemon's metrics, kept and written by ``prometheus-client`` (``GET /metrics``).

Counters and histograms count what happened since the daemon started (they reset on
restart, as Prometheus expects); the gauges of keys are read from the state store at each
scrape, so a key settled by hand (`hgsync resolve`) shows at once. Every name starts with
``hgsync_``:

- ``requests_total{pipeline, operation, status}``: every HTTP attempt to HG, by the HTTP
  status it got or ``network_error``; a request retried after a 429 and a 503 counts three
  times (429, 503, then 200). The token endpoint's attempts count as ``create_token``.
- ``request_duration_seconds{operation}``: time on the wire of each attempt (histogram).
- ``run_duration_seconds{pipeline}``: time of each finished run (histogram).
- ``runs_total{pipeline, status}``: runs finished, by final status (ok, failed, interrupted,
  error, skipped).
- ``rows_total{pipeline, verdict}``: rows read, by the plan's verdict (new, changed,
  unchanged, retry, rejected, held, filtered, error, superseded).
- ``deliveries_total{pipeline, outcome}``: final outcomes of requests (delivered, rejected,
  failed, in_doubt, unsent).
- ``retries_total{pipeline}``: attempts beyond the first.
- ``skipped_overlaps_total{pipeline}``: scheduled runs skipped because the last was going.
- ``last_success_timestamp_seconds{pipeline}``, ``last_run_ok{pipeline}``.
- ``failing_keys{pipeline}``, ``in_doubt_keys{pipeline}``: keys whose last request was
  rejected or failed, and keys whose answer was lost (or that are on the wire).
- ``pipeline_stale{pipeline}``: 1 while the file on disk is broken and the daemon runs the
  last good version; ``up``: 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate
from prometheus_client.core import GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
VERDICTS = ("new", "changed", "unchanged", "retry", "rejected", "held", "filtered", "error", "superseded")
# run counts → the outcome label of hgsync_deliveries_total
OUTCOMES = {
    "delivered": "delivered",
    "send_rejected": "rejected",
    "send_failed": "failed",
    "in_doubt": "in_doubt",
    "unsent": "unsent",
}
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RUN_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

KeyCounts = Callable[[], Mapping[str, Mapping[str, int]]]  # pipeline → key status → count
Stale = Callable[[], Mapping[str, bool]]  # pipeline → runs a stale version


class _FromState:
    """Gauges read at scrape time: failing and in-doubt keys from the store, stale pipelines."""

    def __init__(self, keys: KeyCounts, stale: Stale):
        self.keys, self.stale = keys, stale

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "hgsync_failing_keys",
                "Keys whose last request HG rejected or that failed after every retry.",
                labels=["pipeline"],
            ),
            GaugeMetricFamily(
                "hgsync_in_doubt_keys",
                "Keys whose request may have reached HG without an answer (or is on the wire).",
                labels=["pipeline"],
            ),
            GaugeMetricFamily(
                "hgsync_pipeline_stale",
                "1 when the pipeline file has problems and the daemon keeps running its last good version.",
                labels=["pipeline"],
            ),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        failing, doubt, stale = self._families()
        for pipeline, counts in sorted(self.keys().items()):
            failing.add_metric([pipeline], counts.get("rejected", 0) + counts.get("failed", 0))
            doubt.add_metric([pipeline], counts.get("in_doubt", 0) + counts.get("sending", 0))
        for pipeline, is_stale in sorted(self.stale().items()):
            stale.add_metric([pipeline], 1 if is_stale else 0)
        yield from (failing, doubt, stale)


class DaemonMetrics:
    """The daemon's registry; the daemon calls the methods below as things happen."""

    def __init__(self, keys: KeyCounts | None = None, stale: Stale | None = None):
        r = self.registry = CollectorRegistry()
        self._up = Gauge("hgsync_up", "1 while the hgsync daemon is running.", registry=r)
        self._up.set(1)
        self._requests = Counter(
            "hgsync_requests",
            "HTTP attempts to HepsiGlobal, by operation and HTTP status (or network_error); every retry counts.",
            ["pipeline", "operation", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "hgsync_request_duration_seconds",
            "Time on the wire of each HTTP attempt to HepsiGlobal.",
            ["operation"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self._run_time = Histogram(
            "hgsync_run_duration_seconds",
            "Time of each finished run.",
            ["pipeline"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self._runs = Counter(
            "hgsync_runs", "Runs finished, by final status.", ["pipeline", "status"], registry=r
        )
        self._rows = Counter(
            "hgsync_rows", "Rows read, by the plan's verdict.", ["pipeline", "verdict"], registry=r
        )
        self._outcomes = Counter(
            "hgsync_deliveries",
            "Final outcomes of the requests runs sent.",
            ["pipeline", "outcome"],
            registry=r,
        )
        self._retries = Counter("hgsync_retries", "Attempts beyond the first.", ["pipeline"], registry=r)
        self._overlaps = Counter(
            "hgsync_skipped_overlaps",
            "Scheduled runs skipped because the previous run of the pipeline was still going.",
            ["pipeline"],
            registry=r,
        )
        self._last_success = Gauge(
            "hgsync_last_success_timestamp_seconds",
            "Unix time at which the last successful run of the pipeline finished.",
            ["pipeline"],
            registry=r,
        )
        self._last_ok = Gauge(
            "hgsync_last_run_ok",
            "1 when the last finished run of the pipeline succeeded, else 0.",
            ["pipeline"],
            registry=r,
        )
        if keys is not None or stale is not None:
            r.register(_FromState(keys or dict, stale or dict))  # type: ignore[arg-type]

    def attempt(self, pipeline: str, operation: str, status: int | None, seconds: float) -> None:
        label = str(status) if status is not None else "network_error"
        self._requests.labels(pipeline, operation, label).inc()
        self._latency.labels(operation).observe(seconds)

    def retried(self, pipeline: str, times: int) -> None:
        if times > 0:
            self._retries.labels(pipeline).inc(times)

    def overlap(self, pipeline: str) -> None:
        self._overlaps.labels(pipeline).inc()

    def run_ended(
        self, pipeline: str, status: str, counts: Mapping[str, Any] | None, seconds: float, at: float
    ) -> None:
        self._runs.labels(pipeline, status).inc()
        self._run_time.labels(pipeline).observe(seconds)
        for verdict in VERDICTS:
            if counts and counts.get(verdict):
                self._rows.labels(pipeline, verdict).inc(counts[verdict])
        for key, outcome in OUTCOMES.items():
            if counts and counts.get(key):
                self._outcomes.labels(pipeline, outcome).inc(counts[key])
        self._last_ok.labels(pipeline).set(1 if status == "ok" else 0)
        if status == "ok":
            self._last_success.labels(pipeline).set(at)

    def exposition(self) -> bytes:
        """The text ``GET /metrics`` answers."""
        return _generate(self.registry)


def idle_exposition() -> bytes:
    """``/metrics`` of a server without a daemon's metrics: ``hgsync_up 1`` only."""
    return DaemonMetrics().exposition()


def samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in an exposition, for tests and scripts."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), sample.value
