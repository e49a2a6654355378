"""Health and status of `hgsync daemon` over HTTP, on a loopback port by default.

The server knows nothing of the daemon: on every request it calls ``snapshot()``, a cheap,
thread-safe function returning the daemon's status as a JSON-serialisable dict (its shape is
described in the daemon's docs and mirrored by the tests' fake). Routes, all ``GET``:

- ``/healthz``: JSON ``{"status": ..., "pipelines": {name: {"last_run_ok", "last_run_at",
  "stale", and "problem" for a file broken by an edit}}, "config_problems": n}`` (with the
  first as ``config_problem``; texts redacted, 300 characters at most). The rule: the answer is **HTTP 200 whenever the daemon
  is up**, because a failed run is the data's trouble, not the process's, and restarting the
  daemon would not fix it. ``status`` is ``"ok"`` when every pipeline's last finished run
  succeeded (or it has none yet), no pipeline runs a stale version and the configuration has
  no problems waiting; otherwise ``"degraded"``, with the body saying where. Only while the
  daemon is stopping (after SIGTERM) is it ``"stopping"`` with **HTTP 503**, so a load
  balancer or supervisor stops sending it work; and it is ``"stuck"`` with **HTTP 503**
  when a heartbeat (``heartbeats``: the scheduler's, the file watcher's; seconds since each
  beat) is older than :data:`STUCK_AFTER`, so that a supervisor restarts a daemon that hangs. ``last_run_ok`` is null before a first run;
  a run still going does not count until it finishes.
- ``/metrics``: the Prometheus text format, from the ``metrics`` callable (the daemon's
  :class:`engine.service.metrics.DaemonMetrics`), ``hgsync_up 1`` alone without one.
- ``/status.json``: the snapshot itself.
- ``/``: the status page for people (:func:`engine.service.status_page.render_page`).
- ``POST /actions``: the page's buttons, a form of ``pipeline``, ``action`` (``run`` or
  ``retry-failed``) and ``csrf``, the server's token, which only the page carries. Answered
  with a 303 back to the page, which then shows what happened. Given only when the server
  has an ``act`` callback and either credentials (``auth``) or a loopback address; a request
  whose ``Origin`` is not this server is refused.

With ``auth`` (:class:`Credentials`: ``daemon.http_token``, ``daemon.http_auth``), every
route but ``/healthz`` needs them (401 otherwise): Prometheus scrapes ``/metrics`` with the
token as ``bearer_token`` or with ``basic_auth``.

Anything else is 404; any other method 405 with ``Allow: GET``. When ``snapshot()`` or a
rendering raises, the answer is a short 500 naming the exception's type (the details go to
the log as ``status_snapshot_failed``) and the server goes on serving.

Served by :mod:`engine.http_server` (a stdlib ``ThreadingHTTPServer``): one daemon thread
per connection, HTTP/1.1 keep-alive, every answer with a Content-Length, no access log on
stderr (``status_request`` is logged at debug). Bound to a loopback address, the server answers only requests whose
``Host`` names a loopback address or ``localhost`` (403 otherwise), so that a web page cannot
read it through DNS rebinding; bound to another address, only an IP address, ``localhost``
or one of ``daemon.http_host_names`` (:func:`engine.http_server.host_allowed`). The page is sent with a Content-Security-Policy that allows
only its own inline style and script (by nonce) and fetches to itself.

Usage: ``with StatusServer("127.0.0.1", 8790, daemon.snapshot) as server: print(server.url)``.
:meth:`StatusServer.start` raises :class:`OSError` when the address cannot be bound.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engine.definitions.settings import DaemonSettings
from engine.http_server import BackgroundServer, TrackedHandler, TrackingServer, host_allowed, is_loopback
from engine.logging import get_logger, redact_text
from engine.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from engine.service.metrics import idle_exposition
from engine.service.status_page import last_finished, render_page

log = get_logger(__name__)

Snapshot = Callable[[], dict[str, Any]]
Act = Callable[[str, bool], str]  # (pipeline, retry failed rows) → what was done; ValueError: refused
ROUTES = ("/", "/healthz", "/metrics", "/status.json")
MAX_FORM = 4096
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


STUCK_AFTER = 60.0  # seconds without a heartbeat before /healthz says the daemon is stuck


def health(snapshot: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``/healthz`` for ``snapshot``: the rule in the module docstring."""
    pipelines: dict[str, dict[str, Any]] = {}
    degraded = False
    for p in snapshot.get("pipelines") or []:
        last = last_finished(p)
        ok = None if last is None else last.get("status") == "ok"
        stale = bool(p.get("stale"))
        degraded = degraded or ok is False or stale
        at = None if last is None else (last.get("finished_at") or last.get("started_at"))
        pipelines[str(p.get("name"))] = {"last_run_ok": ok, "last_run_at": at, "stale": stale}
        if p.get("problems"):  # a file broken by an edit: where and why, as validate says it
            pipelines[str(p.get("name"))]["problem"] = redact_text(str(p["problems"][0]))[:300]
    config = [redact_text(str(text))[:300] for text in snapshot.get("config_problems") or []]
    problems = len(config)
    beats = snapshot.get("heartbeats") or {}
    stuck = sorted(name for name, age in beats.items() if age > STUCK_AFTER)
    if snapshot.get("stopping"):
        status, code = "stopping", 503
    elif stuck:
        status, code = "stuck", 503
    else:
        status, code = ("degraded" if degraded or problems else "ok"), 200
    body: dict[str, Any] = {"status": status, "pipelines": pipelines, "config_problems": problems}
    if config:
        body["config_problem"] = config[0]
    if beats:
        body["heartbeats"] = beats
    if stuck:
        body["stuck"] = stuck
    return code, body


@dataclass(frozen=True)
class Credentials:
    """What the status server asks for: ``daemon.http_token`` (``Authorization: Bearer
    TOKEN``, or HTTP Basic with any user name and TOKEN as password) and/or
    ``daemon.http_auth`` (HTTP Basic user and password). Compared in constant time."""

    token: str | None = None
    basic: tuple[str, str] | None = None

    def any(self) -> bool:
        return bool(self.token) or self.basic is not None

    def describe(self) -> str:
        ways = ["daemon.http_token (Bearer, or Basic as the password)"] if self.token else []
        return " or ".join(ways + (["daemon.http_auth (Basic)"] if self.basic else []))

    def accepts(self, header: str | None) -> bool:
        scheme, _, value = (header or "").strip().partition(" ")
        if scheme.lower() == "bearer":
            return bool(self.token) and _same(value.strip(), self.token or "")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        by_token = bool(self.token) and _same(password, self.token or "")
        by_user = self.basic is not None and _same(user, self.basic[0]) & _same(password, self.basic[1])
        return by_token or by_user


def _same(given: str, wanted: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), wanted.encode())


class _Server(TrackingServer):
    allow_reuse_address = True
    request_queue_size = 64
    error_event = "status_connection_error"

    def __init__(
        self,
        address: tuple[str, int],
        snapshot: Snapshot,
        act: Act | None = None,
        auth: Credentials | None = None,
        metrics: Callable[[], bytes] | None = None,
        host_names: tuple[str, ...] = (),
    ) -> None:
        self.snapshot = snapshot
        self.metrics = metrics or idle_exposition
        self.loopback_only = is_loopback(address[0])
        self.auth = auth if auth is not None and auth.any() else None
        self.host_names = tuple(n.lower() for n in host_names)
        self.act = act if act is not None and (self.auth is not None or self.loopback_only) else None
        self.csrf = secrets.token_urlsafe(24)
        self.notices: OrderedDict[str, tuple[str, str]] = OrderedDict()  # id → (kind, text), the last few
        super().__init__(address, _Handler)

    def remember(self, kind: str, text: str) -> str:
        key = secrets.token_urlsafe(8)
        self.notices[key] = (kind, text)
        while len(self.notices) > 32:
            self.notices.popitem(last=False)
        return key


class _Handler(TrackedHandler):
    """Answers one connection's requests; :meth:`_send` logs each as ``status_request``."""

    server_version = "hgsync-status"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def _send(
        self, status: int, body: str | bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        # Log before answering, so that a client that got the answer finds it logged.
        took = round((time.perf_counter() - self._started) * 1000, 1)
        log.debug("status_request", method=self.command, path=self._path, status=status, ms=took)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _begin(self) -> None:
        self._started = time.perf_counter()
        self._path = urlsplit(self.path).path
        # This server reads no request bodies: one that carries a body ends its connection.
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0").strip() != "0":
            self.close_connection = True

    def _refused(self) -> bool:
        """Answer 403 for a foreign host name, 401 without the credentials; True when answered."""
        bound = self.server.server_address[0]
        if not host_allowed(self.headers.get("Host"), bound, self.server.host_names):
            names = "a loopback host" if is_loopback(bound) else "an IP address"
            self._send(
                403,
                f"this status server answers only requests for {names} or daemon.http_host_names\n",
                TEXT_TYPE,
            )
            return True
        auth = self.server.auth
        if (
            auth is not None
            and self._path != "/healthz"
            and not auth.accepts(self.headers.get("Authorization"))
        ):
            self._send(
                401,
                f"credentials needed: {auth.describe()}\n",
                TEXT_TYPE,
                {"WWW-Authenticate": 'Basic realm="hgsync", charset="UTF-8"'},
            )
            return True
        return False

    def do_GET(self) -> None:
        self._begin()
        if self._refused():
            return
        if self._path not in ROUTES:
            known = ", ".join(ROUTES)
            self._send(404, f"not found: {self._path} (known: {known})\n", TEXT_TYPE)
        else:
            self._route(self._path)

    def do_POST(self) -> None:
        self._started = time.perf_counter()
        self._path = urlsplit(self.path).path
        if self._path != "/actions":
            self._not_allowed()
            return
        length = self.headers.get("Content-Length", "")
        if self.headers.get("Transfer-Encoding") or not length.isdigit() or int(length) > MAX_FORM:
            self.close_connection = True
            self._send(400, f"a form of at most {MAX_FORM} bytes, with a Content-Length\n", TEXT_TYPE)
            return
        form = parse_qs(self.rfile.read(int(length)).decode("utf-8", "replace"))
        if self._refused():
            return
        if self.server.act is None:
            self._send(
                403, "actions are off: set daemon.http_auth, or listen on a loopback address\n", TEXT_TYPE
            )
            return
        origin = self.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != self.headers.get("Host", ""):
            self._send(403, "a form from another site\n", TEXT_TYPE)
            return
        given = (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(given.encode(), self.server.csrf.encode()):
            self._send(403, "the form's token is missing or old: reload the page\n", TEXT_TYPE)
            return
        pipeline, action = (form.get("pipeline") or [""])[0], (form.get("action") or [""])[0]
        if action not in ("run", "retry-failed"):
            self._send(400, "action: run or retry-failed\n", TEXT_TYPE)
            return
        try:
            kind, text = "ok", self.server.act(pipeline, action == "retry-failed")
        except ValueError as exc:
            kind, text = "bad", str(exc)
        log.info("status_action", pipeline=pipeline, action=action, result=kind, message=text)
        key = self.server.remember(kind, text)
        self._send(303, f"{text}\n", TEXT_TYPE, {"Location": f"./?notice={key}"})

    def _not_allowed(self) -> None:
        self._begin()
        self._send(405, "method not allowed: use GET\n", TEXT_TYPE, {"Allow": "GET"})

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _not_allowed

    def _route(self, path: str) -> None:
        try:
            snapshot = self.server.snapshot()
            if path == "/healthz":
                code, payload = health(snapshot)
                answer = (code, json.dumps(payload) + "\n", JSON_TYPE, {})
            elif path == "/metrics":
                answer = (200, self.server.metrics(), METRICS_CONTENT_TYPE, {})
            elif path == "/status.json":
                answer = (200, json.dumps(snapshot, default=str) + "\n", JSON_TYPE, {})
            else:
                nonce = secrets.token_urlsafe(16)
                csp = {"Content-Security-Policy": _CSP.format(nonce=nonce), "Referrer-Policy": "no-referrer"}
                key = (parse_qs(urlsplit(self.path).query).get("notice") or [""])[0]
                kind, notice = self.server.notices.get(key, ("ok", None))
                csrf = self.server.csrf if self.server.act is not None else None
                page = render_page(snapshot, nonce=nonce, csrf=csrf, notice=notice, notice_kind=kind)
                answer = (200, page, HTML_TYPE, csp)
        except Exception as exc:  # a broken snapshot must not take the server down
            log.error("status_snapshot_failed", path=path, error=type(exc).__name__, exc_info=True)
            message = (
                f"internal error: the daemon's status could not be read ({type(exc).__name__}); see its log\n"
            )
            self._send(500, message, TEXT_TYPE)
            return
        self._send(*answer)


class StatusServer:
    """Serves ``/healthz``, ``/metrics``, ``/status.json`` and ``/`` from ``snapshot()``.

    ``start()`` binds (port 0 picks a free one) and serves in a background thread; ``stop()``
    closes the port and the open connections, and is safe to call twice. As a context manager
    it starts (unless started already) and stops.
    """

    @classmethod
    def for_daemon(cls, daemon: DaemonSettings, port: int, snapshot: Snapshot, **more: Any) -> StatusServer:
        """The daemon's server: address, credentials and host names from ``daemon:`` settings."""
        auth = Credentials(
            token=daemon.http_token.get_secret_value() if daemon.http_token else None,
            basic=(daemon.http_auth.username, daemon.http_auth.password.get_secret_value())
            if daemon.http_auth
            else None,
        )
        return cls(
            daemon.http_host, port, snapshot, auth=auth, host_names=tuple(daemon.http_host_names), **more
        )

    def __init__(
        self,
        host: str,
        port: int,
        snapshot: Snapshot,
        *,
        metrics: Callable[[], bytes] | None = None,
        act: Act | None = None,
        auth: Credentials | None = None,
        host_names: tuple[str, ...] = (),
    ) -> None:
        """``port`` 0 picks a free port; after :meth:`start`, ``port`` is the one bound.
        ``metrics``: the /metrics text; ``act``: runs a pipeline now, for the page's buttons;
        ``auth``: what every route but /healthz requires; ``host_names``: names (a proxy's)
        accepted in ``Host`` besides IP addresses and loopback names."""
        self.host, self.port, self.snapshot = host, port, snapshot
        self._background = BackgroundServer(
            lambda: _Server((self.host, self.port), self.snapshot, act, auth, metrics, host_names),
            what="the status server",
            thread_name="hgsync-status",
            poll_interval=0.1,
            started_event="status_server_listening",
            stopped_event="status_server_stopped",
        )

    def start(self) -> StatusServer:
        """Bind and serve in a daemon thread; returns self. Raises OSError when the bind fails."""
        self.port = self._background.start().server_address[1]
        return self

    def stop(self) -> None:
        """Stop serving, free the port and close open connections."""
        self._background.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:8790``: the base URL, with the real port once started."""
        return self._background.url

    @property
    def serving(self) -> bool:
        return self._background.serving

    def __enter__(self) -> StatusServer:
        return self if self.serving else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
