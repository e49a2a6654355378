"""What HG's answers say, read defensively: error messages (short, redacted), Retry-After,
JSON bodies that may not be JSON, token lifetimes; and request bodies made JSON-ready."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.logging import redact_text

MAX_RETRY_AFTER = 300.0
DEFAULT_EXPIRES_IN = 3600.0
MESSAGE_LIMIT = 300


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP-date), capped at 300."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def response_message(response: httpx.Response) -> str | None:
    """HG's ``message`` and ``errors`` from a JSON body, short and redacted; None if absent."""
    payload = json_or_none(response)
    parts: list[str] = []
    if isinstance(payload, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
        errors = payload.get("errors")
        if errors:
            parts.append(_errors_text(errors))
    if not parts:
        return None
    return short(": ".join(parts))


def _errors_text(errors: object) -> str:
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_errors_text(v)}" for k, v in errors.items())
    if isinstance(errors, list):
        return "; ".join(_errors_text(e) for e in errors)
    if isinstance(errors, str):
        return errors
    return json.dumps(errors, ensure_ascii=False, default=str)


def short(text: str) -> str:
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def json_bytes(payload: Any) -> bytes:
    """A request body as sent: compact UTF-8 JSON (no NaN or infinities: HG could not read them)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def jsonable(value: Any) -> Any:
    """``value`` with Decimals (as SQL drivers return them) made JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def token_lifetime(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_EXPIRES_IN


def network_text(error: BaseException | None) -> str:
    if error is None:
        return "network error"
    detail = str(error).strip()
    return f"network error: {type(error).__name__}" + (f" {detail}" if detail else "")
