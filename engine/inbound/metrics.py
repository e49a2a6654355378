"""The receiver's metrics: calls by webhook and HTTP status, their latency, and the inbox.

prometheus-client keeps the counters and writes the exposition format; the inbox's gauges
are read from the state store when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector


class _InboxCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, dict[str, int]]]):
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hgsync_inbox_events",
            "Webhook events in the inbox by operation and status",
            labels=["operation", "status"],
        )
        for operation, statuses in sorted(self.counts().items()):
            for status, number in sorted(statuses.items()):
                family.add_metric([operation, status], number)
        yield family


class ReceiverMetrics:
    """One receiver's metrics, in a registry of its own."""

    def __init__(self, inbox_counts: Callable[[], dict[str, dict[str, int]]] | None = None):
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "hgsync_webhook_calls",
            "Webhook calls received, by operation, HTTP status and outcome",
            ["operation", "status", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hgsync_webhook_seconds",
            "Time from a webhook call's arrival to its answer (the inbox commit included)",
            ["operation"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        if inbox_counts is not None:
            self.registry.register(_InboxCollector(inbox_counts))

    def observe(self, operation: str, status: int, outcome: str, seconds: float) -> None:
        self.calls.labels(operation, str(status), outcome).inc()
        self.latency.labels(operation).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
