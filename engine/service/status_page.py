"""The daemon's status page for people: one self-contained HTML page built from the snapshot.

:func:`render_page` writes everything on the server: a header (up since, pid, stopping), the
configuration problems waiting to be fixed, a summary of the pipelines, then per pipeline its
schedule, next run, whether it runs, a stale-version warning with the file's problems, its
last runs with their counts, and the rows that keep failing with their reasons.

Every value from the snapshot goes through :func:`html.escape` (keys, reasons and YAML
problems come from data and files); the page has no external assets (inline CSS, a system
font) and works offline.

Times are written in UTC, with a relative time beside them ("in 2s", "5 min ago") computed
here and kept right by a small inline script from each element's ``data-at`` ISO attribute.
Auto-refresh: the same script fetches the page again every :data:`REFRESH_SECONDS` and swaps
in the new ``<main>``. We chose that over fetching ``/status.json`` and rendering in
JavaScript (one renderer, one place that escapes) and over ``<meta http-equiv="refresh">``
(no flicker or lost scroll position, and when the daemon stops answering the last state stays
on screen under a banner instead of a browser error page). Without JavaScript the page is
complete and a ``<noscript>`` meta refresh reloads it.

The script and the style carry ``nonce`` when given, for the server's Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.service.page_format import _e, badge, duration, when
from engine.service.status_inbox import inbox_section

REFRESH_SECONDS = 5
CSS = """
:root{color-scheme:light;--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:#fff}
main{max-width:1280px;margin:0 auto;padding:8px 24px 16px}
header{padding:4px 0 10px;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:4px 0}h2{font-size:17px;margin:0 0 4px}h3{font-size:14px;margin:14px 0 6px}
.meta{color:var(--muted)}.meta span+span:before{content:" · "}
a{color:#0969da}code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
section{border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:16px 0}
.box{border-radius:6px;padding:10px 14px;margin:10px 0}
.box.warn{background:#fff8c5;border:1px solid #d4a72c}.box.bad{background:#ffebe9;border:1px solid #ff8182}
.box ul{margin:6px 0 0;padding-left:20px}.box li code{white-space:pre-wrap;word-break:break-word}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dt{color:var(--muted)}dd{margin:0}
table{border-collapse:collapse;width:100%;margin:4px 0}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#afb8c1}td.hot{color:#cf222e;font-weight:600}
td.reason{word-break:break-word;max-width:460px}
tbody tr:hover{background:#f6f8fa}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;
line-height:20px;border:1px solid transparent;white-space:nowrap;background:#eaeef2;color:#424a53}
.badge.ok{background:#dafbe1;color:#116329;border-color:#4ac26b}
.badge.bad{background:#ffebe9;color:#a40e26;border-color:#ff8182}
.badge.run{background:#ddf4ff;color:#0550ae;border-color:#54aeff}
.badge.warn{background:#fff8c5;color:#7d4e00;border-color:#d4a72c}
.when time,.when .rel{white-space:nowrap}.scroll{overflow-x:auto}.rel,.muted,.desc{color:var(--muted)}.desc{margin:0 0 6px}
#conn{position:sticky;top:0;margin:0;text-align:center}#conn[hidden]{display:none}
footer{color:var(--muted);font-size:12px;padding:4px 0}
"""

SCRIPT = """
(function () {
  "use strict";
  var UNITS = [[86400, " d"], [3600, " h"], [60, " min"], [1, "s"]];
  function rel(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return "";
    var d = Math.round((t - Date.now()) / 1000), a = Math.abs(d);
    if (a < 1) return "now";
    for (var i = 0; i < UNITS.length; i++) {
      if (a >= UNITS[i][0]) {
        var n = Math.floor(a / UNITS[i][0]) + UNITS[i][1];
        return d > 0 ? "in " + n : n + " ago";
      }
    }
    return "";
  }
  function tick() {
    document.querySelectorAll("[data-at]").forEach(function (el) {
      el.textContent = rel(el.getAttribute("data-at"));
    });
  }
  var down = null;
  function refresh() {
    fetch(window.location.href, {cache: "no-store", headers: {Accept: "text/html"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("content");
        if (!fresh) throw new Error("not a status page");
        document.getElementById("content").replaceWith(document.adoptNode(fresh));
        document.title = doc.title;
        down = null;
        document.getElementById("conn").hidden = true;
        tick();
      })
      .catch(function (err) {
        var conn = document.getElementById("conn");
        down = down || new Date();
        conn.textContent = "No fresh status since " + down.toISOString().slice(11, 19) + " UTC (" +
          (err && err.message || "no answer") + "); showing the last state, retrying every REFRESH s.";
        conn.hidden = false;
      });
  }
  document.documentElement.setAttribute("data-live", "1");  // the page's script runs
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, REFRESH * 1000);
})();
""".replace("REFRESH", str(REFRESH_SECONDS))


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
        parts.append(badge("stale"))
    if not pipeline.get("enabled", True):
        parts.append(badge("", "disabled"))
    return " ".join(p for p in parts if p)


def _schedule(pipeline: Mapping[str, Any]) -> str:
    if pipeline.get("schedule"):
        return _e(pipeline["schedule"])
    return '<span class="muted">by hand only</span>'


def _problems(problems: list[Any]) -> str:
    return "<ul>" + "".join(f"<li><code>{_e(p)}</code></li>" for p in problems) + "</ul>"


def _count_cell(value: int | None, hot: bool = False) -> str:
    if value is None:  # a run still going has no counts yet
        return '<td class="n"></td>'
    kind = "n zero" if not value else ("n hot" if hot else "n")
    return f'<td class="{kind}">{value}</td>'


def _runs_table(runs: list[Mapping[str, Any]], now: datetime) -> str:
    if not runs:
        return '<p class="muted">No runs yet.</p>'
    head = (
        "<tr><th>Started</th><th>Status</th><th>Trigger</th><th>Took</th>"
        + "".join(
            f'<th class="n">{h}</th>'
            for h in ("Read", "New", "Changed", "Unchanged", "Sent", "Delivered", "Rejected", "Failed")
        )
        + '<th class="n">Row errors</th><th>Message</th></tr>'
    )
    rows = []
    for run in runs:
        c: Mapping[str, Any] = run.get("counts") or {}

        def n(*keys: str, c: Mapping[str, Any] = c) -> int | None:
            return sum(int(c.get(k) or 0) for k in keys) if c else None

        rows.append(
            f'<tr><td title="run {_e(run.get("run_id"))}">{when(run.get("started_at"), now)}</td>'
            f"<td>{badge(run.get('status'))}</td><td>{_e(run.get('trigger'))}</td>"
            f"<td>{duration(run.get('started_at'), run.get('finished_at'))}</td>"
            + "".join(_count_cell(n(k)) for k in ("read", "new", "changed", "unchanged", "sent", "delivered"))
            + _count_cell(n("rejected", "send_rejected"), True)
            + _count_cell(n("send_failed"), True)
            + _count_cell(n("error"), True)
            + f'<td class="reason">{_e(run.get("message"))}</td></tr>'
        )
    return f'<div class="scroll"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def _failing_table(failing: list[Mapping[str, Any]], now: datetime) -> str:
    if not failing:
        return '<p class="muted">None: every row sent lately was delivered.</p>'
    head = (
        '<tr><th>Key</th><th>Status</th><th class="n">Attempts</th><th class="n">HTTP</th>'
        "<th>Reason</th><th>Origin</th><th>Last tried</th></tr>"
    )
    rows = "".join(
        f"<tr><td><code>{_e(row.get('key'))}</code></td><td>{badge(row.get('status'))}</td>"
        f'<td class="n">{_e(row.get("attempts"))}</td><td class="n">{_e(row.get("last_status"))}</td>'
        f'<td class="reason">{_e(row.get("last_error"))}</td><td><code>{_e(row.get("origin"))}</code></td>'
        f"<td>{when(row.get('updated_at'), now)}</td></tr>"
        for row in failing
    )
    return f'<div class="scroll"><table><thead>{head}</thead><tbody>{rows}</tbody></table></div>'


def _in_doubt_table(rows: list[Mapping[str, Any]], now: datetime) -> str:
    head = "<tr><th>Key</th><th>Since</th><th>Idempotency key</th><th>Why</th><th>Origin</th></tr>"
    body = "".join(
        f"<tr><td><code>{_e(row.get('key'))}</code></td><td>{when(row.get('updated_at'), now)}</td>"
        f"<td><code>{_e(row.get('idempotency_key'))}</code></td>"
        f'<td class="reason">{_e(row.get("last_error"))}</td><td><code>{_e(row.get("origin"))}</code></td></tr>'
        for row in rows
    )
    return (
        '<div class="box warn">HG may have these: their answers were lost. Check with HG, then settle each '
        "with <code>hgsync resolve PIPELINE KEY --delivered</code> or <code>--resend</code>.</div>"
        f'<div class="scroll"><table><thead>{head}</thead><tbody>{body}</tbody></table></div>'
    )


def _pipeline_section(index: int, p: Mapping[str, Any], now: datetime) -> str:
    state = f"running since {when(p.get('running_since'), now)}" if p.get("running") else "idle"
    schedule = _schedule(p)
    next_run = when(p.get("next_run"), now, "not scheduled")
    if not p.get("enabled", True):
        next_run = '<span class="muted">disabled</span>'
    facts = [
        ("Operation", f"<code>{_e(p.get('operation'))}</code>"),
        ("File", f"<code>{_e(p.get('file'))}</code>"),
        ("Schedule", schedule),
        ("Next run", next_run),
        ("State", state),
        ("Last success", when(p.get("last_success_at"), now, "never")),
    ]
    if p.get("skipped_overlaps"):
        facts.append(("Skipped overlaps", _e(p.get("skipped_overlaps"))))
    problems = list(p.get("problems") or [])
    warning = ""
    if problems:
        text = (
            "The file on disk has problems; the daemon keeps running the last good version until they are fixed:"
            if p.get("stale")
            else "The file on disk has problems; the pipeline cannot run until they are fixed:"
        )
        warning = f'<div class="box {"warn" if p.get("stale") else "bad"}">{text}{_problems(problems)}</div>'
    failing = list(p.get("failing") or [])
    doubt = list(p.get("in_doubt") or [])
    return (
        f'<section class="pipeline" id="{_anchor(index, p.get("name"))}">'
        f"<h2>{_e(p.get('name'))} {_state_badges(p)}</h2>"
        + (f'<p class="desc">{_e(p.get("description"))}</p>' if p.get("description") else "")
        + "<dl>"
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
        + "</dl>"
        + warning
        + f"<h3>Last runs</h3>{_runs_table(list(p.get('last_runs') or []), now)}"
        + f"<h3>Rows that keep failing ({len(failing)})</h3>{_failing_table(failing, now)}"
        + (f"<h3>Requests in doubt ({len(doubt)})</h3>{_in_doubt_table(doubt, now)}" if doubt else "")
        + "</section>"
    )


def _summary(pipelines: list[Mapping[str, Any]], now: datetime) -> str:
    rows = "".join(
        f'<tr><td><a href="#{_anchor(i, p.get("name"))}">{_e(p.get("name"))}</a></td>'
        f"<td>{_schedule(p)}</td>"
        f"<td>{when(p.get('next_run'), now, 'not scheduled')}</td><td>{_state_badges(p)}</td>"
        f'<td class="n">{len(p.get("failing") or [])}</td><td class="n">{len(p.get("in_doubt") or [])}</td></tr>'
        for i, p in enumerate(pipelines)
    )
    return (
        "<table><thead><tr><th>Pipeline</th><th>Schedule</th><th>Next run</th><th>State</th>"
        f'<th class="n">Failing rows</th><th class="n">In doubt</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _title(snapshot: Mapping[str, Any]) -> str:
    pipelines = snapshot.get("pipelines") or []
    bad = sum(1 for p in pipelines if (last_finished(p) or {}).get("status") not in (None, "ok"))
    prefix = "stopping · " if snapshot.get("stopping") else (f"{bad} failing · " if bad else "")
    return f"{prefix}hgsync daemon"


def render_page(snapshot: Mapping[str, Any], *, nonce: str | None = None, now: datetime | None = None) -> str:
    """The whole status page for ``snapshot`` (the daemon's status snapshot) as HTML text."""
    now = now or datetime.now(UTC)
    attr = f' nonce="{_e(nonce)}"' if nonce else ""
    pipelines = list(snapshot.get("pipelines") or [])
    meta = [
        f"up since {when(snapshot.get('started_at'), now)}",
        f"pid {_e(snapshot.get('pid'))}",
        f"version {_e(snapshot.get('version'))}",
        f"{len(pipelines)} pipeline{'s' if len(pipelines) != 1 else ''}",
    ]
    lease = snapshot.get("lease") or {}
    if lease.get("role"):
        meta.append(f"{_e(lease.get('role'))} on {_e(lease.get('node'))}")
    parts = [
        f"<header><h1>hgsync daemon {badge('stopping') if snapshot.get('stopping') else badge('ok', 'running')}</h1>"
        f'<div class="meta">{"".join(f"<span>{m}</span>" for m in meta)}</div></header>',
    ]
    if lease.get("role") == "standby":
        active = lease.get("active") or {}
        parts.append(
            f'<div class="box warn">Standby: another daemon is active ({_e(active.get("owner"))}, pid '
            f"{_e(active.get('pid'))} on {_e(active.get('host'))}, last heartbeat {_e(active.get('heartbeat_at'))})."
            f" This one takes over after {_e(lease.get('lease_seconds'))} s without a heartbeat.</div>"
        )
    if snapshot.get("stopping"):
        parts.append(
            '<div class="box warn">Stopping: a stop signal arrived; runs in flight are finishing.</div>'
        )
    problems = list(snapshot.get("config_problems") or [])
    if problems:
        parts.append(
            '<section class="config-problems"><h2>Configuration problems waiting to be fixed</h2>'
            '<div class="box bad">The daemon keeps the last good configuration until these are fixed '
            "(check with <code>hgsync validate</code>):"
            f"{_problems(problems)}</div></section>"
        )
    if pipelines:
        parts.append(f"<section><h2>Pipelines</h2>{_summary(pipelines, now)}</section>")
        parts += [_pipeline_section(i, p, now) for i, p in enumerate(pipelines)]
    else:
        parts.append('<section><p class="muted">No pipelines are loaded.</p></section>')
    if snapshot.get("inbox") is not None:
        parts.append(inbox_section(snapshot["inbox"], now))
    parts.append(
        f"<footer>Rendered {now:%Y-%m-%d %H:%M:%S} UTC; times are in UTC; refreshes every "
        f'{REFRESH_SECONDS} s. <a href="status.json">status.json</a> · <a href="metrics">metrics</a>'
        ' · <a href="healthz">healthz</a></footer>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{_e(_title(snapshot))}</title>'
        f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS}"></noscript>'
        f"<style{attr}>{CSS}</style></head><body>"
        '<p id="conn" class="box bad" role="status" hidden></p>'
        f'<main id="content">{"".join(parts)}</main>'
        f"<script{attr}>{SCRIPT}</script></body></html>\n"
    )
