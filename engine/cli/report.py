"""What the CLI prints for people: plans, run summaries, history. Logs go elsewhere (stderr)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engine.outbound.batches import batch_size, describe, sizes
from engine.outbound.plan import Plan
from engine.outbound.run import RunResult
from engine.store import RunRecord

_PLAN_LABELS = [
    ("new", "new"),
    ("changed", "changed"),
    ("unchanged", "unchanged"),
    ("retry", "due for retry"),
    ("error", "failing to render"),
    ("rejected", "rejected before (not resent; --retry-failed sends them)"),
    ("held", "in doubt, held for a person (`hgsync history --in-doubt`)"),
    ("filtered", "filtered out by `when`"),
    ("superseded", "superseded by a newer file"),
]


def _body(value: Any, indent: str) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return "\n".join(indent + line for line in text.splitlines())


def plan_text(plan: Plan, *, show: int = 3, base_url: str = "") -> str:
    pipeline = plan.pipeline
    op = pipeline.operation
    lines = [
        f"plan for {pipeline.name}: {op.name} ({op.method} {op.path}), mode {pipeline.spec.mode}, "
        f"target {pipeline.target} {base_url}".rstrip(),
        f"  read {plan.read} rows:",
    ]
    for verdict, label in _PLAN_LABELS:
        count = plan.counts.get(verdict, 0)
        if count or verdict in ("new", "changed", "unchanged", "retry", "error"):
            lines.append(f"    {count:>8}  {label}")
    size = batch_size(pipeline)
    if size is not None and plan.to_send:  # a bulk operation: the rows' items go out together
        counts = sizes(plan.spool.to_send(), pipeline)
        lines.append(
            f"  would send {plan.to_send} row(s) in {describe(counts)} (at most {size} a request)"
            + ("; the first rows:" if show else "")
        )
    else:
        lines.append(f"  would send {plan.to_send} request(s)" + (":" if plan.to_send and show else ""))
    shown = plan.sample(show) if show else []
    for row in shown:
        request = row.request or {}
        lines.append(
            f"    {request.get('method')} {base_url.rstrip('/')}{request.get('path')}    key {row.key!r} "
            f"({row.verdict}, {row.origin})"
        )
        if request.get("body") is not None:
            lines.append(_body(request["body"], "      "))
        for change in plan.describe_changes(row):
            lines.append(f"      changed: {change}")
        if row.verdict == "retry" and row.reason:
            lines.append(f"      last failure: {row.reason}")
    changed = [r for r in plan.spool.sample(("changed",), show + len(shown)) if r not in shown][:show]
    if changed:
        lines.append("  more changed keys:")
        for row in changed:
            lines.append(
                f"    key {row.key!r}: " + "; ".join(plan.describe_changes(row) or ["request changed"])
            )
    if plan.differ:
        lines.append(
            f"  {plan.differ} delivered key(s) differ from the source; insert mode does not resend "
            "them (`mode: upsert` would)"
        )
    errors = list(_take(plan.spool.errors(), show + 2))
    if errors:
        lines.append(
            f"  rows failing to render (not sent), showing {len(errors)} of {plan.counts.get('error', 0)} "
            "row errors:"
        )
        lines.extend(f"    {e.origin} key {e.key!r}: {e.reason}" for e in errors[: show + 2])
    return "\n".join(lines)


def plan_json(plan: Plan, *, show: int = 3, base_url: str = "") -> dict[str, Any]:
    """``plan --json``: the counts, what would be sent, and a sample of requests and row errors."""
    pipeline = plan.pipeline
    return {
        "pipeline": pipeline.name,
        "operation": pipeline.operation.name,
        "target": pipeline.target,
        "base_url": base_url,
        "read": plan.read,
        "counts": dict(plan.counts),
        "to_send": plan.to_send,
        "requests": _requests(plan),
        "sample": [
            {
                "key": row.key,
                "verdict": row.verdict,
                "origin": row.origin,
                "request": row.request,
                "changes": plan.describe_changes(row),
            }
            for row in (plan.sample(show) if show else [])
        ],
        "row_errors": [
            {"key": e.key, "origin": e.origin, "reason": e.reason}
            for e in _take(plan.spool.errors(), show + 2)
        ],
    }


def _requests(plan: Plan) -> dict[str, Any] | None:
    """A bulk operation's requests: how many, and the items in each."""
    size = batch_size(plan.pipeline)
    if size is None:
        return None
    counts = sizes(plan.spool.to_send(), plan.pipeline)
    return {"count": len(counts), "batch_size": size, "items": counts}


def _take(items: Iterable[Any], count: int) -> Iterable[Any]:
    for index, item in enumerate(items):
        if index >= count:
            return
        yield item


def seconds_text(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def run_text(result: RunResult) -> str:
    c = result.counts
    sent = c.get("sent", 0)
    attempts = sent + c.get("retries", 0)
    retried = (
        f" in {attempts} attempts ({c['requests_retried']} retried)" if c.get("requests_retried") else ""
    )
    lines = [
        f"{result.pipeline}: {result.status} in {seconds_text(result.elapsed)}  (run {result.run_id})",
        f"  read {c.get('read', 0)}: new {c.get('new', 0)}, changed {c.get('changed', 0)}, "
        f"unchanged {c.get('unchanged', 0)}, due again {c.get('retry', 0)}, row errors {c.get('error', 0)}"
        + (f", still rejected {c['rejected']}" if c.get("rejected") else "")
        + (f", in doubt and held {c['held']}" if c.get("held") else "")
        + (f", filtered {c['filtered']}" if c.get("filtered") else "")
        + (f", superseded {c['superseded']}" if c.get("superseded") else ""),
        f"  sent {sent}{retried}: delivered {c.get('delivered', 0)}, rejected {c.get('send_rejected', 0)}, "
        f"failed after retries {c.get('send_failed', 0)}"
        + (f", in doubt {c['in_doubt']}" if c.get("in_doubt") else "")
        + (f", not sent (stopped) {c['unsent']}" if c.get("unsent") else ""),
    ]
    if c.get("duplicates"):
        lines.append(f"  {c['duplicates']} of the delivered were duplicates HG refused: it had them already")
    if c.get("responses_applied") or c.get("responses_failed"):
        failed = c.get("responses_failed", 0)
        lines.append(
            f"  HG's answers written back: {c.get('responses_applied', 0)}"
            + (f", {failed} failed (kept; the next run tries them again; see the log)" if failed else "")
        )
    for row in result.rejected:
        status = f"HTTP {row['status']}" if row.get("status") is not None else "no answer"
        lines.append(f"  {row['kind']}: key {row['key']!r} ({status}): {row['message']}  [{row['origin']}]")
    not_delivered = c.get("send_rejected", 0) + c.get("send_failed", 0)
    if not_delivered:
        more = "lists them all" if not_delivered > len(result.rejected) else "lists them"
        lines.append(f"  `hgsync history {result.pipeline} --failing` {more} ({not_delivered})")
    if c.get("in_doubt") or c.get("held"):
        lines.append(
            f"  in doubt (HG may have them): `hgsync history {result.pipeline} --in-doubt` lists them, "
            "`hgsync resolve` settles each"
        )
    for error in result.errors[:5]:
        lines.append(f"  row error: {error['origin']} key {error['key']!r}: {error['reason']}")
    if c.get("error", 0) > 5:
        lines.append(f"  ... `hgsync history --errors {result.run_id}` lists all {c['error']}")
    if c.get("rejected"):
        lines.append(
            "  rows rejected earlier are not resent until they change; `hgsync run --retry-failed` forces them"
        )
    return "\n".join(lines)


def run_json(result: RunResult) -> dict[str, Any]:
    """A run's result for ``--json``: what :func:`run_text` says, as data."""
    return {
        "pipeline": result.pipeline,
        "run_id": result.run_id,
        "status": result.status,
        "exit_code": result.exit_code,
        "seconds": result.elapsed,
        "counts": result.counts,
        "rejected": result.rejected,
        "row_errors": result.errors,
    }


def history_text(records: list[RunRecord]) -> str:
    if not records:
        return "no runs yet"
    header = f"{'run':<24} {'pipeline':<26} {'status':<12} {'started (UTC)':<20} {'read':>7} {'sent':>6} {'deliv':>6} {'rejct':>6} {'fail':>5} {'errors':>6}"
    lines = [header]
    for r in records:
        c = r.counts
        lines.append(
            f"{r.run_id:<24} {r.pipeline[:26]:<26} {r.status:<12} {r.started_at:%Y-%m-%d %H:%M:%S} "
            f"{c.get('read', 0):>7} {c.get('sent', 0):>6} {c.get('delivered', 0):>6} "
            f"{c.get('send_rejected', 0) + c.get('rejected', 0):>6} {c.get('send_failed', 0):>5} {c.get('error', 0):>6}"
        )
        if r.message:
            lines.append(f"{'':<24} {r.message}")
    return "\n".join(lines)


def run_record_json(r: RunRecord) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "pipeline": r.pipeline,
        "trigger": r.trigger,
        "status": r.status,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "counts": r.counts,
        "message": r.message,
    }


_FAILING_COLUMNS = ("PIPELINE", "KEY", "STATUS", "TRIES", "HTTP", "LAST TRIED (UTC)", "ORIGIN", "REASON")


def failing_table(rows: list[dict[str, Any]]) -> str:
    """``history --failing``: one headed row per failing key or row error, the reason last."""
    cells = [
        (
            str(r["pipeline"]),
            str(r["key"]),
            str(r["status"]),
            "" if r.get("attempts") is None else str(r["attempts"]),
            "" if r.get("last_status") is None else str(r["last_status"]),
            r["updated_at"].strftime("%Y-%m-%d %H:%M:%S") if r.get("updated_at") else "",
            str(r.get("origin") or ""),
            str(r.get("reason") or ""),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_FAILING_COLUMNS[:-1])]
    right = {3, 4}

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values[:-1], widths, strict=True))
        ]
        return "  ".join([*parts, values[-1]]).rstrip()

    return "\n".join([line(_FAILING_COLUMNS), *(line(c) for c in cells)])


def cases_text(name: str, display: str, results: list[Any]) -> str:
    """``hgsync test``: one line per case, the problems (a diff among them) under a failed one."""
    lines = [f"{name} ({display})"]
    for result in results:
        lines.append(f"  {'ok  ' if result.passed else 'FAIL'}  {result.name}")
        for problem in result.problems:
            lines.extend("        " + line for line in problem.splitlines())
    return "\n".join(lines)
