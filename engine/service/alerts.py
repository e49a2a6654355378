"""Alerts from the daemon to a webhook: once per incident, and a notice when it is over.

Three kinds of incident, each per pipeline:

- ``run_failed``: a run ended ``failed`` or ``error``; over at the next ``ok`` run
  (``interrupted`` and ``skipped`` runs change nothing).
- ``pipeline_broken``: the file on disk has problems (an edit broke it; the config file counts
  as the pipeline ``config``); over when it loads again.
- ``failing_rows``: the pipeline's failing keys reached ``alerts.failing_rows``; over when
  they are fewer.

An incident that opens is POSTed once as ``firing``; while it stays open nothing more is sent;
when it closes a ``resolved`` notice follows. The body is Slack's ``{"text": ...}`` unless
``alerts.body`` gives a Jinja template (sandboxed) rendering JSON, with ``alert`` holding
``pipeline``, ``kind``, ``state``, ``summary``, ``details`` and ``page`` (the status page's
URL). A webhook that fails is logged (``alert_failed``) and never stops the daemon; the
incident is then sent again on the next change, since it was not delivered. Incidents live
in memory: a restarted daemon alerts again for what is still wrong. The webhook's URL is a
secret (Slack's carry a token) and never logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from engine.definitions.settings import AlertSettings
from engine.logging import get_logger, register_secret

log = get_logger("hgsync.alerts")
ICONS = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


@dataclass(frozen=True)
class Alert:
    pipeline: str
    kind: str  # run_failed | pipeline_broken | failing_rows
    state: str  # firing | resolved
    summary: str
    details: str = ""
    page: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "pipeline": self.pipeline,
            "kind": self.kind,
            "state": self.state,
            "summary": self.summary,
            "details": self.details,
            "page": self.page,
        }


def slack_text(alert: Alert) -> str:
    head = f"{ICONS[alert.state]} hgsync {alert.pipeline}: {alert.summary}"
    lines = [head]
    if alert.details:
        lines.append(alert.details)
    if alert.page:
        lines.append(alert.page)
    return "\n".join(lines)


def render_body(settings: AlertSettings, alert: Alert) -> Any:
    """The JSON to POST: the template's, or Slack's ``{"text": ...}``."""
    if settings.body is None:
        return {"text": slack_text(alert)}
    from jinja2.sandbox import SandboxedEnvironment

    text = SandboxedEnvironment().from_string(settings.body).render(alert=alert.as_dict())
    return json.loads(text)


class Alerter:
    """What is wrong now, per pipeline and kind, and the webhook to tell."""

    def __init__(self, settings: AlertSettings | None, page: str = ""):
        self.settings = settings
        self.page = page
        self.open: dict[tuple[str, str], str] = {}  # (pipeline, kind) → summary
        if settings is not None:
            register_secret(settings.webhook.get_secret_value())

    def reconfigure(self, settings: AlertSettings | None) -> None:
        self.settings = settings
        if settings is not None:
            register_secret(settings.webhook.get_secret_value())

    async def run_ended(self, pipeline: str, status: str, summary: str, failing: int) -> None:
        if status in ("failed", "error"):
            await self._set(pipeline, "run_failed", f"run {status}", summary)
        elif status == "ok":
            await self._clear(pipeline, "run_failed", "a run went well again")
        threshold = self.settings.failing_rows if self.settings is not None else None
        if threshold is not None and failing >= threshold:
            await self._set(pipeline, "failing_rows", f"{failing} failing keys (threshold {threshold})", "")
        elif threshold is not None:
            await self._clear(pipeline, "failing_rows", f"{failing} failing keys now")

    async def files_checked(self, broken: Mapping[str, list[str]], known: set[str]) -> None:
        """``broken``: pipeline (or ``config``) → its problems now; ``known``: every name."""
        for name, problems in broken.items():
            await self._set(name, "pipeline_broken", "file broken by an edit", "\n".join(problems[:5]))
        for pipeline, kind in list(self.open):
            if kind == "pipeline_broken" and pipeline not in broken:
                gone = pipeline not in known and pipeline != "config"
                await self._clear(pipeline, kind, "file removed" if gone else "file fixed")

    async def _set(self, pipeline: str, kind: str, summary: str, details: str) -> None:
        if (pipeline, kind) in self.open:
            return
        if await self._send(Alert(pipeline, kind, "firing", summary, details, self.page)):
            self.open[(pipeline, kind)] = summary

    async def _clear(self, pipeline: str, kind: str, summary: str) -> None:
        if (pipeline, kind) not in self.open:
            return
        if await self._send(Alert(pipeline, kind, "resolved", summary, "", self.page)):
            del self.open[(pipeline, kind)]

    async def _send(self, alert: Alert) -> bool:
        settings = self.settings
        if settings is None:
            return False
        try:
            body = render_body(settings, alert)
        except Exception as exc:  # a broken template must not take the daemon down
            log.error("alert_failed", pipeline=alert.pipeline, kind=alert.kind, error=f"body: {exc}")
            return False
        try:
            async with httpx.AsyncClient(timeout=settings.timeout) as http:
                answer = await http.post(settings.webhook.get_secret_value(), json=body)
        except httpx.HTTPError as exc:
            log.error("alert_failed", pipeline=alert.pipeline, kind=alert.kind, error=type(exc).__name__)
            return False
        if answer.status_code >= 300:
            log.error("alert_failed", pipeline=alert.pipeline, kind=alert.kind, status=answer.status_code)
            return False
        log.info("alert_sent", pipeline=alert.pipeline, kind=alert.kind, state=alert.state)
        return True
