"""The ``receiver:`` block of config/hgsync.yaml: where hgsync listens for HG's webhooks and
how it knows a call comes from HG.

How HG authenticates its calls is not documented, so the three usual ways are offered, each
with configurable header names: a bearer token, basic auth, or an HMAC-SHA256 signature of
``<timestamp>.<raw body>`` with a timestamp window against replays. Secrets come from the
environment (``${env:NAME}``) and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from engine.definitions.targets import OperationOverride
from engine.definitions.values import parse_every

_HEADER = r"^[A-Za-z0-9-]+$"
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB)?\s*$", re.I)
_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The HMAC scheme's signature: hex HMAC-SHA256 of ``<timestamp>.<raw body>``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class BasicAuth(BaseModel):
    """Basic auth: the user and password HG sends with every call."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(description="the user name HG sends")
    password: SecretStr = Field(description="its password; use ${env:NAME}")


class HmacAuth(BaseModel):
    """``signature_header`` carries hex(HMAC-SHA256(secret, timestamp + "." + raw body)),
    optionally prefixed ``sha256=``; ``timestamp_header`` carries Unix seconds."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(description="the shared secret; use ${env:NAME}")
    signature_header: str = Field("X-HG-Signature", pattern=_HEADER, description="header of the signature")
    timestamp_header: str = Field("X-HG-Timestamp", pattern=_HEADER, description="header of the timestamp")
    window: float = Field(
        300.0, gt=0, le=86400, description="seconds a signed call stays valid either side of now"
    )


class ReceiverAuth(BaseModel):
    """Exactly one of bearer, basic or hmac."""

    model_config = ConfigDict(extra="forbid")

    bearer: SecretStr | None = Field(None, description="the token HG sends as 'Authorization: Bearer ...'")
    basic: BasicAuth | None = Field(None, description="user and password HG sends as basic auth")
    hmac: HmacAuth | None = Field(None, description="a signature of each call's body")

    @model_validator(mode="after")
    def _one(self) -> ReceiverAuth:
        given = [name for name in ("bearer", "basic", "hmac") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of bearer, basic or hmac (given: {', '.join(given) or 'none'})"
            )
        return self


def parse_size(value: str | int) -> int:
    """``1MB``, ``512KiB``, ``65536`` → bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a size like 65536, 512KB or 2MB")
        size = int(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]
    if size < 1024:
        raise ValueError("the body limit must be at least 1KB")
    return size


class Retry(BaseModel):
    """How often an event that fails to apply is tried again before it is left for a person."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(8, ge=1, le=100, description="attempts before the event is marked failed")
    base: float = Field(1.0, gt=0, description="seconds before the second attempt (doubles each time)")
    max: float = Field(300.0, gt=0, description="the longest wait between two attempts, in seconds")

    def delay(self, attempt: int) -> float | None:
        """Seconds before attempt ``attempt + 1``; None when ``attempt`` was the last."""
        if attempt >= self.attempts:
            return None
        return min(self.max, self.base * 2 ** (attempt - 1))


class ReceiverSettings(BaseModel):
    """The webhook receiver (`hgsync serve`, and the daemon when this block is present)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8780, ge=0, le=65535, description="port to listen on (0: any free port)")
    auth: ReceiverAuth = Field(description="how a call proves it comes from HG")
    max_body: int | str = Field(
        "1MB", validate_default=True, description="the largest body accepted, e.g. 1MB; larger calls get 413"
    )
    event_id_header: str | None = Field(
        "X-HG-Event-Id",
        pattern=_HEADER,
        description="header carrying an event's id, where HG sends one; otherwise the operation's id "
        "field, else a hash of operation and body, identifies an event (a repeat is acknowledged, "
        "not applied twice)",
    )
    dedupe_window: int | str = Field(
        "1h",
        validate_default=True,
        description="for events without an id (no header, no id field): a body identical to one received "
        "within this interval is a repeat; keep it short, as an identical later event (stock 5, 3, "
        "then 5 again) is a new one",
    )
    retry: Retry = Field(default_factory=Retry, description="retries of events that fail to apply")
    operations: dict[str, OperationOverride] = Field(
        default_factory=dict, description="per-webhook method or path corrections, by operation name"
    )

    @field_validator("max_body", mode="after")
    @classmethod
    def _size(cls, value: int | str) -> int:
        return parse_size(value)

    @field_validator("dedupe_window", mode="after")
    @classmethod
    def _window(cls, value: int | str) -> int:
        return parse_every(value)

    @property
    def body_limit(self) -> int:
        return int(self.max_body)

    @property
    def window(self) -> int:
        return int(self.dedupe_window)
