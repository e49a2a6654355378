"""A webhook call as an event: its body checked against the operation, and its identity.

An event is identified by the id HG sends (a configured header, or the operation's id field
such as ``cancel_id``); without one, by a hash of operation and canonical body, a repeat of
which within the receiver's ``dedupe_window`` is acknowledged and dropped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from engine.definitions.operations import Operation
from engine.store.inbox import NewEvent

_MAX_ID = 200


class BadEvent(ValueError):
    """The body cannot be this operation's event; ``reasons`` lists every problem."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def parse(operation: Operation, raw: bytes) -> Any:
    """The JSON body, validated against the operation's model. Raises :class:`BadEvent`."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEvent([f"body: not JSON ({exc})"]) from None
    except RecursionError:
        raise BadEvent(["body: nested too deeply"]) from None
    reasons = operation.validate(body)
    if reasons:
        raise BadEvent(reasons)
    return body


def canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def identify(
    operation: Operation, body: Any, headers: Mapping[str, str], header: str | None, window: float
) -> NewEvent:
    """The event to store, with the id HG gave it, or a content hash when it gave none."""
    given = headers.get(header.lower(), "").strip() if header else ""
    if given:
        if len(given) > _MAX_ID or not given.isprintable():
            raise BadEvent([f"{header}: an event id must be printable and at most {_MAX_ID} characters"])
        return NewEvent(given, operation.name, body)
    field = operation.event_id_field
    if field and isinstance(body, dict) and body.get(field) not in (None, ""):
        value = str(body[field])
        if len(value) > _MAX_ID - len(operation.name) - 1:
            raise BadEvent(
                [f"{field}: an event id must be at most {_MAX_ID - len(operation.name) - 1} characters"]
            )
        return NewEvent(f"{operation.name}:{value}", operation.name, body)
    digest = hashlib.sha256(operation.name.encode() + b"\n" + canonical(body)).hexdigest()
    # each arrival gets its own id; the store drops it when the same content came within the window
    event_id = f"{operation.name}:{digest[:32]}:{time.time_ns()}"
    return NewEvent(event_id, operation.name, body, content_hash=digest, window=window)
