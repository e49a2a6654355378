"""The Grafana dashboard shipped in deploy/grafana/ asks only for series the daemon exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine.service.metrics import DaemonMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "hgsync-dashboard.json"


def _exposed() -> set[str]:
    metrics = DaemonMetrics(keys=lambda: {"p": {"failed": 1}}, stale=lambda: {"p": False})
    metrics.attempt("p", "create_order", 200, 0.1)
    metrics.retried("p", 1)
    metrics.overlap("p")
    metrics.run_ended("p", "ok", {"new": 1, "delivered": 1}, 1.0, 1.0)
    return {s.name for family in metrics.registry.collect() for s in family.samples}


def test_every_query_of_the_dashboard_names_a_series_the_daemon_exposes():
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = _exposed()
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries.append(dashboard["templating"]["list"][0]["query"]["query"])
    assert len(queries) >= 12
    for query in queries:
        names = set(re.findall(r"\bhgsync_[a-z_]+", query))
        assert names and names <= exposed, (query, names - exposed)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for needed in ("HTTP status", "latency", "Run duration", "verdict", "Failing", "doubt"):
        assert needed in titles
