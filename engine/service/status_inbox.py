"""The status page's webhook inbox section: events by webhook and state, and those that failed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.service.page_format import _e, when


def inbox_section(inbox: Mapping[str, Any], now: datetime) -> str:
    """Webhook events by state, and the newest that failed for good."""
    rows = "".join(
        f"<tr><td><code>{_e(w.get('operation'))}</code></td>"
        f"<td>{_e(w.get('pipeline')) if w.get('pipeline') else '<span class=muted>none: kept pending</span>'}</td>"
        f'<td class="n">{_e(w.get("pending"))}</td><td class="n">{_e(w.get("applied"))}</td>'
        f'<td class="n">{_e(w.get("failed"))}</td></tr>'
        for w in inbox.get("webhooks") or []
    )
    table = (
        '<table><thead><tr><th>Webhook</th><th>Pipeline</th><th class="n">Pending</th><th class="n">Applied</th>'
        f'<th class="n">Failed</th></tr></thead><tbody>{rows}</tbody></table>'
        if rows
        else '<p class="muted">No webhook event received yet.</p>'
    )
    failed = list(inbox.get("failed") or [])
    if failed:
        body = "".join(
            f"<tr><td>#{_e(e.get('id'))}</td><td><code>{_e(e.get('operation'))}</code></td>"
            f"<td><code>{_e(e.get('event_id'))}</code></td><td>{when(e.get('received_at'), now)}</td>"
            f'<td class="n">{_e(e.get("attempts"))}</td><td class="reason">{_e(e.get("error"))}</td></tr>'
            for e in failed
        )
        table += (
            f"<h3>Events that failed ({len(failed)})</h3>"
            '<div class="box bad">Fix the cause, then <code>hgsync inbox replay --failed</code>.</div>'
            '<div class="scroll"><table><thead><tr><th>#</th><th>Webhook</th><th>Event id</th><th>Received</th>'
            f'<th class="n">Attempts</th><th>Why</th></tr></thead><tbody>{body}</tbody></table></div>'
        )
    return f'<section class="inbox"><h2>Webhook inbox</h2>{table}</section>'
