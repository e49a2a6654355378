"""How the status page writes values: escaped text, times (absolute and relative), durations,
status badges. Shared by the page's sections."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

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
