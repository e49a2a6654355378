"""structlog set-up, once per process, and the redaction every log line goes through.

JSON lines on stderr when stderr is not a terminal, coloured readable lines when it is. On a
terminal every line is printed through one ``rich`` console (:func:`console`), so that a
progress bar drawn on that console stays at the bottom with the log lines printed above it
instead of through it. Context such
as ``pipeline`` and ``run_id`` rides in contextvars (``structlog.contextvars``), so every
event inside a run carries them without passing a logger around.

Secrets never reach the output: values registered with :func:`register_secret` (client
secrets, access tokens) are replaced by ``***`` wherever they appear in an event, and the
values of keys that name a secret (``token``, ``secret``, ``password``, ``authorization``)
are dropped whatever they hold.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

REDACTED = "***"
_SECRET_KEY = re.compile(r"(secret|token|password|passwd|authorization|api[_-]?key)", re.I)
_SAFE_KEYS = {"token_type", "expires_in", "token_path"}
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)", re.I)


def register_secret(value: str | None) -> None:
    """Never let ``value`` appear in any log output (tokens, client secrets, passwords)."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact_text(text: str) -> str:
    """``text`` with every registered secret and every password in a URL replaced by ``***``."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _URL_PASSWORD.sub(lambda m: m.group("scheme") + REDACTED, text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_secret_key(k) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key not in _SAFE_KEYS and bool(_SECRET_KEY.search(key))


def redact_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last step before rendering."""
    return {k: (REDACTED if _is_secret_key(k) else _redact(v)) for k, v in event_dict.items()}


class _ConsoleLogger:
    """A structlog logger that prints each rendered line through a rich console, above any
    progress bar shown on it. ANSI colours from the renderer are kept, markup is not read."""

    def __init__(self, terminal: Any):
        self._console = terminal

    def msg(self, message: str) -> None:
        from rich.text import Text

        self._console.print(Text.from_ansi(message), soft_wrap=True, highlight=False, markup=False)

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg


_console: Any = None


def console() -> Any:
    """The rich console log lines go to when they go to a terminal, or None (JSON, a file)."""
    return _console


def _is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def configure(*, json: bool | None = None, level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog for this process. ``json=None`` picks JSON unless ``stream`` is a tty."""
    global _console
    stream = stream or sys.stderr
    terminal = _is_terminal(stream)
    if json is None:
        json = not terminal
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=terminal, exception_formatter=structlog.dev.plain_traceback)
    )
    factory: Any = structlog.PrintLoggerFactory(file=stream)
    _console = None
    if terminal:
        from rich.console import Console

        _console = Console(file=stream)
        factory = lambda *_args: _ConsoleLogger(_console)  # noqa: E731
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
