"""Tests of `hgsync daemon`; :func:`fake_snapshot` stands in for the daemon's status snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

XSS = "<script>alert(1)</script>"
CONFIG_PROBLEM = "config/hgsync.yaml:7:5 targets.hepsiglobal.rate_limt: unknown key (known: rate_limit, ...)"
STALE_PROBLEM = (
    "pipelines/order-status.yaml:12:9 request.body.status: unknown column 'stat' (columns: id, status)"
)
COUNT_KEYS = (
    *("read", "new", "changed", "unchanged", "retry", "rejected", "filtered", "error", "superseded"),
    *("sent", "delivered", "send_rejected", "send_failed", "unsent"),
)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _counts(**given: int) -> dict[str, int]:
    return {k: given.get(k, 0) for k in COUNT_KEYS}


def fake_snapshot(now: datetime | None = None) -> dict[str, Any]:
    """A daemon snapshot of the documented shape, with times around ``now``.

    Three pipelines: ``cancel-order-items`` (every 2s, last run failed, two failing rows, one
    with a ``<script>`` reason), ``order-status`` (cron, running, stale with a YAML problem),
    ``manual-fixes`` (by hand only, never run); plus a configuration problem.
    """
    now = now or datetime.now(UTC)
    ago = lambda seconds: _iso(now - timedelta(seconds=seconds))  # noqa: E731
    cancel = {
        "name": "cancel-order-items",
        "file": "pipelines/cancel-order-items.yaml",
        "description": "Cancel order items the marketplace cancelled",
        "operation": "cancel_order_item",
        "schedule": "every 2s",
        "enabled": True,
        "next_run": _iso(now + timedelta(seconds=2)),
        "running": False,
        "running_since": None,
        "problems": [],
        "stale": False,
        "last_runs": [
            {
                "run_id": "r-cancel-2",
                "status": "failed",
                "trigger": "daemon",
                "started_at": ago(62),
                "finished_at": ago(60),
                "message": None,
                "counts": _counts(read=10, new=2, unchanged=8, sent=2, delivered=1, send_rejected=1),
            },
            {
                "run_id": "r-cancel-1",
                "status": "ok",
                "trigger": "daemon",
                "started_at": ago(300),
                "finished_at": ago(299),
                "message": None,
                "counts": _counts(read=8, new=8, sent=8, delivered=8),
            },
        ],
        "last_success_at": ago(299),
        "failing": [
            {
                "key": "1001_HBV1",
                "status": "rejected",
                "attempts": 3,
                "last_status": 400,
                "last_error": "reason: must not be empty",
                "origin": "cancels(id=7)",
                "updated_at": ago(60),
            },
            {
                "key": "1002_HBV2",
                "status": "rejected",
                "attempts": 1,
                "last_status": 400,
                "last_error": f"reason: {XSS} is not allowed",
                "origin": "cancels(id=8)",
                "updated_at": ago(60),
            },
        ],
        "skipped_overlaps": 1,
    }
    status = {
        "name": "order-status",
        "file": "pipelines/order-status.yaml",
        "description": "Order status updates",
        "operation": "update_order_status",
        "schedule": "cron '*/5 * * * *' (UTC)",
        "enabled": True,
        "next_run": _iso(now + timedelta(minutes=4)),
        "running": True,
        "running_since": ago(3),
        "problems": [STALE_PROBLEM],
        "stale": True,
        "last_runs": [
            {
                "run_id": "r-status-2",
                "status": "running",
                "trigger": "daemon",
                "started_at": ago(3),
                "finished_at": None,
                "message": None,
                "counts": {},
            },
            {
                "run_id": "r-status-1",
                "status": "ok",
                "trigger": "daemon",
                "started_at": ago(303),
                "finished_at": ago(301),
                "message": None,
                "counts": _counts(read=5, changed=5, sent=5, delivered=5),
            },
        ],
        "last_success_at": ago(301),
        "failing": [],
        "skipped_overlaps": 0,
    }
    manual = {
        "name": "manual-fixes",
        "file": "pipelines/manual-fixes.yaml",
        "description": None,
        "operation": "cancel_order_item",
        "schedule": None,
        "enabled": True,
        "next_run": None,
        "running": False,
        "running_since": None,
        "problems": [],
        "stale": False,
        "last_runs": [],
        "last_success_at": None,
        "failing": [],
        "skipped_overlaps": 0,
    }
    return {
        "started_at": ago(600),
        "pid": 1234,
        "version": "0.1.0",
        "stopping": False,
        "config_problems": [CONFIG_PROBLEM],
        "pipelines": [cancel, status, manual],
    }
