"""The daemon's status page for people: HTML from the Jinja template ``templates/status.html``.

:func:`render_page` renders the daemon's snapshot with autoescape on: every value from the
snapshot (keys, reasons, YAML problems come from data and files) is escaped by Jinja, and
only the helpers below return :class:`markupsafe.Markup`, escaping what they put inside it.
The page has no external assets (inline CSS from ``status.css``, a system font, inline SVG
charts) and works offline.

What it shows: a header (up since, pid, stopping), the configuration problems waiting to be
fixed, a summary table of the pipelines (state with the first problem of a broken file, the
progress of a running run, a small chart of the last runs' delivered / failed / row errors,
failing and in-doubt counts, and, when the server allows actions, "Run now" and "Retry
failed rows" buttons posting a CSRF token), then per pipeline, collapsed, its schedule, next
run, problems, last runs with their counts, and the rows that keep failing.

Times are written in UTC, with a relative time beside them ("in 2s", "5 min ago") computed
here and kept right by a small inline script (``status.js``) from each element's ``data-at``
ISO attribute. Auto-refresh: the same script fetches the page again every
:data:`REFRESH_SECONDS` and swaps in the new ``<main>``, keeping opened pipelines open. We
chose that over fetching ``/status.json`` and rendering in JavaScript (one renderer, one place
that escapes) and over ``<meta http-equiv="refresh">`` (no flicker or lost scroll position,
and when the daemon stops answering the last state stays on screen under a banner instead of
a browser error page). Without JavaScript the page is complete and a ``<noscript>`` meta
refresh reloads it.

The script and the style carry ``nonce`` when given, for the server's Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from html import escape
from typing import Any

REFRESH_SECONDS = 5
_UNITS = ((86400, " d"), (3600, " h"), (60, " min"), (1, "s"))
_BADGE = {
    "ok": "ok",
    "delivered": "ok",
    "failed": "bad",
    "error": "bad",
    "rejected": "bad",
    "running": "run",
    "sending": "run",
    "interrupted": "warn",
    "stale": "warn",
    "stopping": "warn",
    "accepted": "ok",
    "awaiting": "run",
}


def _e(value: object) -> str:
    """``value`` as escaped HTML text; None as an empty string."""
    return "" if value is None else escape(str(value), quote=True)


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def relative(moment: datetime, now: datetime) -> str:
    """``in 2s``, ``5 min ago``, ``now``: the same words as the page's script."""
    delta = round((moment - now).total_seconds())
    if abs(delta) < 1:
        return "now"
    for size, unit in _UNITS:
        if abs(delta) >= size:
            amount = f"{abs(delta) // size}{unit}"
            return f"in {amount}" if delta > 0 else f"{amount} ago"
    return "now"  # pragma: no cover


def when(value: object, now: datetime, empty: str = "—") -> str:
    """A time as ``2026-11-26 19:40:02 UTC (5 min ago)``; unparsable text is shown as it is."""
    moment = parse_time(value)
    if moment is None:
        return f'<span class="muted">{_e(empty)}</span>' if value in (None, "") else _e(value)
    iso = _e(value)
    return (
        f'<span class="when"><time datetime="{iso}" title="{iso}">{moment:%Y-%m-%d %H:%M:%S} UTC</time> '
        f'<span class="rel" data-at="{iso}">{relative(moment, now)}</span></span>'
    )


def duration(start: object, end: object) -> str:
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return ""
    seconds = max((last - first).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def badge(status: object, label: object = None) -> str:
    kind = _BADGE.get(str(status), "")
    return f'<span class="badge {kind}">{_e(label if label is not None else status)}</span>'


def _anchor(index: int, name: object) -> str:
    return f"p{index}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", str(name))[:60]


def last_finished(pipeline: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The newest run of ``pipeline`` that has finished (not ``running``), if any."""
    for run in pipeline.get("last_runs") or []:
        if run.get("status") != "running":
            return run
    return None


def _state_badges(pipeline: Mapping[str, Any]) -> str:
    last = last_finished(pipeline)
    parts = [badge("running") if pipeline.get("running") else ""]
    parts.append(
        badge(last.get("status"), f"last run {last.get('status')}") if last else badge("", "never run")
    )
    if pipeline.get("stale"):
        parts.append(badge("stale", "stale: file broken, runs its last good version"))
    elif pipeline.get("problems"):
        parts.append(badge("error", "broken: not running"))
    if not pipeline.get("enabled", True):
        parts.append(badge("", "disabled"))
    return " ".join(p for p in parts if p)


def _schedule(pipeline: Mapping[str, Any]) -> str:
    if pipeline.get("schedule"):
        return _e(pipeline["schedule"])
    return '<span class="muted">by hand only</span>'


def _count_cell(counts: Mapping[str, Any], keys: tuple[str, ...], hot: bool = False) -> str:
    if not counts:  # a run still going has no counts yet
        return '<td class="n"></td>'
    value = sum(int(counts.get(k) or 0) for k in keys)
    kind = "n zero" if not value else ("n hot" if hot else "n")
    return f'<td class="{kind}">{value}</td>'


_BAR_W, _BAR_GAP, _CHART_H = 7, 2, 26
_COLOURS = (("delivered", "#2da44e"), ("failed", "#cf222e"), ("errors", "#d4a72c"))


def chart(runs: list[Mapping[str, Any]]) -> str:
    """An inline SVG of the last finished runs, oldest first: one bar each, stacked delivered,
    rejected or failed, and rows that failed to render; a tooltip per bar."""
    done = [r for r in runs if r.get("status") != "running"][::-1]
    if not done:
        return '<span class="muted">—</span>'
    bars = []
    for run in done:
        c: Mapping[str, Any] = run.get("counts") or {}
        parts = {
            "delivered": int(c.get("delivered") or 0),
            "failed": sum(int(c.get(k) or 0) for k in ("send_rejected", "send_failed", "in_doubt")),
            "errors": int(c.get("error") or 0),
        }
        bars.append((run, parts))
    top = max(max(sum(p.values()) for _, p in bars), 1)
    width = len(bars) * (_BAR_W + _BAR_GAP)
    shapes = []
    for index, (run, parts) in enumerate(bars):
        x = index * (_BAR_W + _BAR_GAP)
        y = float(_CHART_H)
        tip = (
            f"{run.get('started_at')}: {run.get('status')}, delivered {parts['delivered']}, "
            f"rejected or failed {parts['failed']}, row errors {parts['errors']}"
        )
        rects = [f'<rect x="{x}" y="0" width="{_BAR_W}" height="{_CHART_H}" fill="#f6f8fa"/>']
        for name, colour in _COLOURS:
            if parts[name]:
                height = max(parts[name] / top * _CHART_H, 1.5)
                y -= height
                rects.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{_BAR_W}" height="{height:.1f}" fill="{colour}"/>'
                )
        shapes.append(f"<g><title>{_e(tip)}</title>{''.join(rects)}</g>")
    return (
        f'<svg class="chart" width="{width}" height="{_CHART_H}" viewBox="0 0 {width} {_CHART_H}" '
        f'role="img" aria-label="last {len(bars)} runs">{"".join(shapes)}</svg>'
    )


def progress(pipeline: Mapping[str, Any]) -> str:
    """How far a running run is: requests answered of those to send, as a bar and numbers."""
    info = pipeline.get("progress") or {}
    total = info.get("to_send")
    if total is None:
        return '<span class="muted">reading and planning</span>'
    done = int(info.get("done") or 0)
    share = done / total if total else 1.0
    return (
        f'<span class="progress" title="{done} of {total}"><svg width="140" height="10">'
        f'<rect width="{140 * share:.1f}" height="10" fill="#54aeff"/></svg></span> '
        f'<span class="muted">{done} of {total} sent</span>'
    )


def _next_run(pipeline: Mapping[str, Any], now: datetime) -> str:
    if not pipeline.get("enabled", True):
        return '<span class="muted">disabled</span>'
    return when(pipeline.get("next_run"), now, "not scheduled")


def _title(snapshot: Mapping[str, Any]) -> str:
    pipelines = snapshot.get("pipelines") or []
    bad = sum(1 for p in pipelines if (last_finished(p) or {}).get("status") not in (None, "ok"))
    prefix = "stopping · " if snapshot.get("stopping") else (f"{bad} failing · " if bad else "")
    return f"{prefix}hgsync daemon"


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("engine.service", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_page(
    snapshot: Mapping[str, Any],
    *,
    nonce: str | None = None,
    now: datetime | None = None,
    csrf: str | None = None,
    notice: str | None = None,
    notice_kind: str = "ok",
) -> str:
    """The whole status page for ``snapshot`` (the daemon's status snapshot) as HTML text.

    ``csrf``: the server's token, when it allows actions (the buttons are shown only then);
    ``notice``: a line shown at the top, such as the answer to a button."""
    from markupsafe import Markup

    now = now or datetime.now(UTC)

    def safe(func: Any) -> Any:
        return lambda *args: Markup(func(*args))

    template = _environment().get_template("status.html")
    return (
        template.render(
            snap=_Lenient(snapshot),
            pipelines=[_Lenient(p) for p in snapshot.get("pipelines") or []],
            lease=_Lenient(snapshot.get("lease") or {}),
            config_problems=list(snapshot.get("config_problems") or []),
            title=_title(snapshot),
            refresh=REFRESH_SECONDS,
            now=now,
            attr=Markup(f' nonce="{_e(nonce)}"') if nonce else "",
            csrf=csrf,
            notice=notice,
            notice_kind=notice_kind,
            when=safe(lambda value, empty="—": when(value, now, empty)),
            badge=safe(badge),
            duration=duration,
            anchor=_anchor,
            schedule=safe(_schedule),
            next_run=safe(lambda p: _next_run(p, now)),
            state_badges=safe(_state_badges),
            progress=safe(progress),
            chart=safe(chart),
            count_cell=safe(_count_cell),
        ).rstrip("\n")
        + "\n"
    )


class _Lenient(dict):  # type: ignore[type-arg]
    """A snapshot mapping whose missing keys read as None in the template (the snapshot's
    shape grows; an older or partial one must still render)."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        if isinstance(value, Mapping) and not isinstance(value, _Lenient):
            return _Lenient(value)
        return value
