"""The receiver at work: uvicorn serving the app on its own thread, and the applier on another.

Used by ``hgsync serve`` (in the foreground) and by the daemon (beside its scheduler). The
socket is bound here, before uvicorn starts, so that a port in use is a clear error, and
port 0 gives a free port whose number :attr:`InboundService.url` tells.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import uvicorn

from engine.definitions.inbound_pipeline import AnswerPipeline, InboundPipeline
from engine.definitions.operations import Operation
from engine.definitions.plugins import known_operations
from engine.definitions.settings import Settings
from engine.errors import ConfigError
from engine.inbound.answers import Answerer
from engine.inbound.apply import Applier
from engine.inbound.intake import Intake
from engine.inbound.metrics import ReceiverMetrics
from engine.inbound.receiver import Receiving, build_app
from engine.logging import get_logger, register_secret
from engine.store.state_store import StateStore

log = get_logger("hgsync.serve")


def webhook_operations(settings: Settings) -> dict[str, Operation]:
    """Every webhook of the catalog, with the receiver's corrections applied."""
    overrides = settings.receiver.operations if settings.receiver else {}
    return {
        name: op.with_override(overrides.get(name))
        for name, op in known_operations().items()
        if op.direction == "inbound"
    }


def _secrets(settings: Settings) -> None:
    auth = settings.receiver.auth if settings.receiver else None
    if auth is not None:
        for secret in (
            auth.bearer,
            auth.basic.password if auth.basic else None,
            auth.hmac.secret if auth.hmac else None,
        ):
            if secret is not None:
                register_secret(secret.get_secret_value())


class InboundService:
    """The webhook receiver and the applier of one installation."""

    def __init__(
        self,
        settings: Settings,
        home: Path,
        store: StateStore,
        inbound: Callable[[], Mapping[str, InboundPipeline]],
        answers: Callable[[], Mapping[str, AnswerPipeline]],
        *,
        host: str | None = None,
        port: int | None = None,
    ):
        if settings.receiver is None:
            raise ConfigError(
                "config/hgsync.yaml has no receiver: block; add one to receive HG's webhooks (README)"
            )
        _secrets(settings)
        self.settings = settings
        self.receiver = settings.receiver
        self.host = host or self.receiver.host
        self.port = self.receiver.port if port is None else port
        self.store = store
        self.operations = webhook_operations(settings)
        results = {name: op.result for name, op in self.operations.items() if op.result is not None}
        self.applier = Applier(store, settings, home, inbound, self.receiver.retry, results=results)
        self.answerer = Answerer(settings, home, answers)
        self.metrics = ReceiverMetrics(store.inbox_counts)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2] if self._socket else (self.host, self.port)
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"the receiver cannot listen on {self.host}:{self.port}: {exc.strerror}; "
                "change receiver.host/port in config/hgsync.yaml or pass --port"
            ) from None
        sock.listen(2048)
        return sock

    def start(self) -> str:
        """Bind, start serving and applying; returns the URL HG should call."""
        self._socket = self._bind()
        intake = Intake(self.store, on_stored=self.applier.wake)
        app = build_app(
            Receiving(self.receiver, list(self.operations.values()), intake, self.answerer, self.metrics)
        )
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        serving = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="hgsync-receiver", daemon=True
        )
        applying = threading.Thread(
            target=self.applier.run, args=(self._stop,), name="hgsync-applier", daemon=True
        )
        self._threads = [serving, applying]
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not serving.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the receiver did not start on {self.url}")
            time.sleep(0.01)
        log.info("receiver_listening", url=self.url, webhooks=len(self.operations))
        return self.url

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def stop(self, timeout: float = 10.0) -> None:
        """Answer the calls in progress (their events are stored first), then stop."""
        if self._server is not None:
            self._server.should_exit = True
        self._stop.set()
        self.applier.wake()
        for thread in self._threads:
            thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self.answerer.close()
        log.info("receiver_stopped")
