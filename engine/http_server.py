"""Plumbing for the small HTTP servers hgsync runs in-process (the status server, the sandbox).

Built on the standard library's :class:`~http.server.ThreadingHTTPServer`:

- :class:`TrackingServer` binds IPv4 or IPv6 by the host, skips the slow host-name lookup of
  ``server_bind``, serves each connection in a daemon thread, knows its open connections so
  that :meth:`~TrackingServer.close_connections` can shut them down, and logs a connection's
  error at debug under its subclass's ``error_event``.
- :class:`TrackedHandler`, the base of its request handlers: HTTP/1.1 keep-alive, registers its
  connection with the server, no access log on stderr.
- :class:`BackgroundServer`, the life cycle an owner delegates to: bind and serve in a named
  daemon thread (:meth:`~BackgroundServer.start`) or in the calling thread
  (:meth:`~BackgroundServer.serve_forever`), :meth:`~BackgroundServer.stop` (safe twice) and
  the base :attr:`~BackgroundServer.url`. The event names it logs are its owner's.

Usage: subclass the two (``error_event``, the handler's ``do_GET`` ...), and let the owner hold
``BackgroundServer(lambda: MyServer((host, port), MyHandler), what="the thing", ...)``; see
:class:`engine.service.status_server.StatusServer`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from engine.logging import get_logger

log = get_logger(__name__)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def host_name(header: str) -> str:
    """The host part of a ``Host`` header: ``[::1]:80`` → ``::1``, ``localhost:8790`` → ``localhost``."""
    header = header.strip()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str | None, bound: str, names: tuple[str, ...] = ()) -> bool:
    """Whether a request's ``Host`` may be answered (against DNS rebinding, where a web page
    reaches a local server under the attacker's domain name): a server bound to loopback
    answers loopback names only; any server answers an IP address, ``localhost`` and the
    ``names`` it was given (a proxy's public name), and no other name."""
    host = host_name(header or "").lower()
    if not host:
        return True  # HTTP/1.0 without Host: no browser sends that
    if is_loopback(bound):
        return is_loopback(host) or host in names
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return host == "localhost" or host in names


class TrackingServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections, so that stopping can close them.

    A subclass names ``error_event``, the debug event an error on a connection is logged as.
    """

    daemon_threads = True
    error_event: ClassVar[str] = "http_connection_error"

    def __init__(self, address: tuple[str, int], handler: type[TrackedHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._open: set[socket.socket] = set()
        self._open_changed = threading.Condition()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def track(self, sock: socket.socket, opened: bool) -> None:
        with self._open_changed:
            (self._open.add if opened else self._open.discard)(sock)
            self._open_changed.notify_all()

    def close_connections(self, wait: float = 2.0) -> None:
        """Shut open keep-alive connections down and wait (a little) for their threads to end."""
        with self._open_changed:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open_changed.wait_for(lambda: not self._open, timeout=wait)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug(self.error_event, client=str(client_address), exc_info=True)


class TrackedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, its connection tracked by the server, no access log on stderr."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: TrackingServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr; a subclass logs its requests via structlog."""


class BackgroundServer:
    """Binds a server with ``bind()`` and serves it until :meth:`stop`; binds anew after a stop.

    ``what`` names the owner in errors (``"the sandbox"``: "the sandbox is serving already").
    :meth:`start` logs ``started_event`` (with the url) and :meth:`stop` ``stopped_event``, at debug.
    """

    def __init__(
        self,
        bind: Callable[[], TrackingServer],
        *,
        what: str,
        thread_name: str,
        poll_interval: float,
        started_event: str,
        stopped_event: str,
    ) -> None:
        self._bind_server, self._what = bind, what
        self._thread_name, self._poll_interval = thread_name, poll_interval
        self._started_event, self._stopped_event = started_event, stopped_event
        self._lock = threading.Lock()
        self._server: TrackingServer | None = None
        self._thread: threading.Thread | None = None
        self._looping = False  # a serve_forever loop runs, or is about to, for self._server

    @property
    def server(self) -> TrackingServer | None:
        """The server bound now, or None."""
        return self._server

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:8790`` (``http://[::1]:8790``): the base URL, with the real port."""
        server = self._server
        if server is None:
            raise RuntimeError(f"{self._what} is not serving; call start() first")
        host, port = server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def _bind(self) -> TrackingServer:
        """Bind a new server (the caller holds the lock); raises OSError when the bind fails."""
        if self._server is not None:
            raise RuntimeError(f"{self._what} is serving already")
        self._server = self._bind_server()
        self._looping = True
        return self._server

    def start(self) -> TrackingServer:
        """Bind and serve in a daemon thread; returns the server. Raises OSError when the bind fails."""
        with self._lock:
            server = self._bind()
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": self._poll_interval},
                name=self._thread_name,
                daemon=True,
            )
            self._thread.start()
        log.debug(self._started_event, url=self.url)
        return server

    def serve_forever(self, poll_interval: float, listening_event: str) -> None:
        """Serve in this thread until :meth:`stop` is called from another thread, or Ctrl-C.

        Logs ``listening_event`` (with the url) at info once bound. After :meth:`start`, it only
        waits (Ctrl-C still ends the wait) until the server stops.
        """
        with self._lock:
            thread = self._thread if self._server is not None else None
        if thread is not None:
            while thread.is_alive():
                thread.join(0.2)
            return
        with self._lock:
            server = self._bind()
        log.info(listening_event, url=self.url)
        try:
            server.serve_forever(poll_interval=poll_interval)
        finally:
            with self._lock:
                mine = self._server is server
                self._looping = self._looping and not mine
            if mine:
                self.stop()

    def stop(self) -> None:
        """Stop serving, free the port and close every open connection; safe to call twice."""
        with self._lock:
            server, thread, looping = self._server, self._thread, self._looping
            self._server, self._thread, self._looping = None, None, False
        if server is None:
            return
        if looping:  # shutdown() waits for a serve_forever loop, so only when one runs
            server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()
        server.close_connections()
        log.debug(self._stopped_event)
