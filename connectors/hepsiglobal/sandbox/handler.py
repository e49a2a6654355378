"""The sandbox's HTTP layer: its server and request handler, on :mod:`engine.http_server`.

One thread per connection, HTTP/1.1 keep-alive, bodies read by Content-Length and every answer
sent with one. A request goes: admin API (``/_sandbox/...``), token endpoint, or an
operation: route (404/405) → injected fault → bearer token (401) → JSON body and the
operation's rules (400) → record → 2xx. State lives in :class:`~.state.SandboxState`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from connectors.hepsiglobal.sandbox.faults import Fate, Faults
from connectors.hepsiglobal.sandbox.operations import find_operation
from connectors.hepsiglobal.sandbox.rules import advice, not_an_object
from connectors.hepsiglobal.sandbox.state import SandboxState
from engine.http_server import TrackedHandler, TrackingServer, host_allowed
from engine.logging import get_logger

log = get_logger(__name__)

TOKEN_PATH = "/v1/auth/token"
ADMIN_PREFIX = "/_sandbox/"
ADMIN_METHODS = {
    "health": ("GET",),
    "requests": ("GET", "DELETE"),
    "stats": ("GET",),
    "faults": ("GET", "PUT"),
}
MAX_BODY = 10 * 1024 * 1024


class SandboxServer(TrackingServer):
    """Serves one sandbox (:class:`~.state.SandboxState`); its handlers reach it as ``self.server.sandbox``."""

    request_queue_size = 128
    error_event = "sandbox_connection_error"

    def __init__(self, address: tuple[str, int], sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        super().__init__(address, SandboxHandler)


class SandboxHandler(TrackedHandler):
    """Answers one connection's requests; :meth:`_send` logs each as ``sandbox_request``."""

    server_version = "hgsync-sandbox"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: SandboxServer
    _path = ""

    def _send(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, count: bool = True
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        # Count and log before answering, so that a client that got the answer sees it in stats.
        if count:
            self.server.sandbox._count(status)
        log.debug("sandbox_request", method=self.command, path=self._path, status=status)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes | None:
        """The request body by Content-Length; None when the request was already answered."""
        if self.headers.get("Transfer-Encoding", "identity").lower() != "identity":
            self.close_connection = True
            self._send(411, {"message": "send the body with a Content-Length, not chunked"})
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.close_connection = True
            self._send(400, {"message": "Content-Length must be a whole number of bytes"})
            return None
        if length > MAX_BODY:
            self.close_connection = True
            self._send(413, {"message": f"a body may be at most {MAX_BODY} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self._path = url.path
        raw = self._read_body()
        if raw is None:
            return
        if not host_allowed(self.headers.get("Host"), self.server.server_address[0]):  # DNS rebinding
            self._send(403, {"message": "this sandbox answers only requests for its IP address or localhost"})
            return
        if url.path.startswith(ADMIN_PREFIX):
            self._admin(url.path[len(ADMIN_PREFIX) :].strip("/"), url.query, raw)
        elif url.path == TOKEN_PATH:
            if self.command != "POST":
                self._send(405, {"message": "use POST for tokens"}, {"Allow": "POST"})
            else:
                self._token(raw)
        else:
            self._operation(url.path, raw)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _operation(self, path: str, raw: bytes) -> None:
        sandbox = self.server.sandbox
        op, params, allowed = find_operation(self.command, path, sandbox.operations)
        if op is None:
            if allowed:
                methods = ", ".join(sorted(set(allowed)))
                self._send(405, {"message": f"use {methods} on {path}"}, {"Allow": methods})
            else:
                self._send(404, {"message": f"no operation at {path}"})
            return
        fate = sandbox._draw_fault()
        if fate.delay:
            time.sleep(fate.delay)
        if fate.kind == "drop":
            self.close_connection = True
            log.debug("sandbox_request", method=self.command, path=path, status=None, fault="drop")
            return
        if fate.kind and fate.kind != "lost":
            message = f"fault injected by the sandbox ({fate.kind})"
            self._send(fate.status, {"message": message}, fate.headers)
            return
        problem = sandbox._check_token(self.headers.get("Authorization"))
        if problem:
            self._send(401, {"message": problem}, {"WWW-Authenticate": "Bearer"})
            return
        body, errors = None, []
        if op.has_body:
            body, errors = parse_json_object(raw)
        errors = errors or op.check(params, body)
        refused = sandbox.faults.reject_path
        if not errors and refused and refused in path:
            errors = [f"path: {refused!r} is refused here (a rule the sandbox was told to apply)"]
        if errors:
            self._send(400, {"message": "Unsuccessful Response", "errors": errors})
            return
        identity = op.identity(params, body) if op.identity is not None else None
        if not sandbox._claim(identity):
            self._answer(fate, 409, {"message": f"{identity} already exists"})
            return
        data = op.respond(params, body)
        key = self.headers.get(sandbox.idempotency_header)
        sandbox._record(op.name, self.command, path, params, body, op.status, data, key)
        answer: dict[str, Any] = {"data": data, "message": op.message}
        warnings = advice(op.name, params, body)
        if warnings:
            answer["warnings"] = warnings
        self._answer(fate, op.status, answer)

    def _answer(self, fate: Fate, status: int, payload: Any) -> None:
        """Send the answer, or lose it (the request was handled: a lost answer)."""
        if fate.kind == "lost":
            self.close_connection = True
            log.debug("sandbox_request", method=self.command, path=self._path, status=status, fault="lost")
            return
        self._send(status, payload)

    def _token(self, raw: bytes) -> None:
        form = _parse_token_body(raw, self.headers.get("Content-Type", ""))
        if form is None:
            self._send(400, {"message": "send a JSON object (or a form) with grant_type etc."})
            return
        if form.get("grant_type") != "client_credentials":
            self._send(400, {"message": "grant_type must be 'client_credentials'"})
            return
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = _basic_credentials(self.headers.get("Authorization"))
        if basic and client_id is None and secret is None:
            client_id, secret = basic
        token = self.server.sandbox._issue_token(client_id, secret)
        if token is None:
            self._send(401, {"message": "invalid client credentials"})
            return
        ttl = self.server.sandbox.token_ttl
        payload = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        self._send(200, payload, {"Cache-Control": "no-store"})

    def _admin(self, name: str, query: str, raw: bytes) -> None:
        methods = ADMIN_METHODS.get(name)
        if methods is None:
            known = ", ".join(ADMIN_PREFIX + n for n in ADMIN_METHODS)
            self._send(404, {"message": f"no admin endpoint here (known: {known})"}, count=False)
            return
        if self.command not in methods:
            allow = ", ".join(methods)
            self._send(405, {"message": f"use {allow}"}, {"Allow": allow}, count=False)
            return
        try:
            payload = self._admin_answer(self.server.sandbox, name, query, raw)
        except ValueError as exc:
            self._send(400, {"message": str(exc)}, count=False)
            return
        self._send(200, payload, count=False)

    def _admin_answer(self, sandbox: SandboxState, name: str, query: str, raw: bytes) -> Any:
        if name == "health":
            return {"ok": True}
        if name == "stats":
            return sandbox.stats()
        if name == "requests" and self.command == "DELETE":
            return {"cleared": sandbox.reset()}
        if name == "requests":
            operation = parse_qs(query).get("operation", [None])[0]
            records = sandbox.records(operation)
            return {"count": len(records), "requests": records}
        if self.command == "PUT":  # faults
            body, errors = parse_json_object(raw)
            if errors:
                raise ValueError(errors[0])
            sandbox.set_faults(Faults.from_dict(body))
        return sandbox.faults.to_dict()


def parse_json_object(raw: bytes) -> tuple[Any, list[str]]:
    """(the parsed body, []) or (None or the body, [what is wrong]): it must be a JSON object."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        return None, [f"body: not valid JSON ({exc})"]
    return body, ([] if isinstance(body, dict) else [not_an_object(body)])


def _parse_token_body(raw: bytes, content_type: str) -> dict[str, Any] | None:
    if "application/x-www-form-urlencoded" in content_type.lower():
        try:
            return dict(parse_qsl(raw.decode("utf-8")))
        except UnicodeDecodeError:
            return None
    body, errors = parse_json_object(raw)
    return None if errors else body


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from ``Authorization: Basic ...`` (OAuth client_secret_basic)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret
