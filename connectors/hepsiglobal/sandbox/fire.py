"""The sandbox playing HG towards a marketplace: webhook events fired at a receiver.

:func:`fire` sends ``count`` events of the webhooks given (each built from the webhook's
documented example, with its SKUs and numbers varied), with a share of exact repeats, of
calls with a wrong signature or token, and of bodies that are not valid, and reports what
each kind was answered. An answer of the wrong kind (a 2xx to a forged call, a 4xx to a
valid one) is counted in ``unexpected``, so that a test or a person sees it at once.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.hepsiglobal.transport import AiohttpTransport
from engine.definitions.operations import Operation
from engine.definitions.receiver import ReceiverAuth, signature

_NUMBERS = ("stock", "quantity", "price", "retail_price", "discount_percentage", "count")


@dataclass
class FireReport:
    """What was fired and how the receiver answered, by kind of call."""

    sent: Counter[str] = field(default_factory=Counter)  # kind → calls
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (kind, status) → calls
    unexpected: list[str] = field(default_factory=list)
    accepted: dict[str, tuple[str, Any]] = field(default_factory=dict)  # event id → (operation, body)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"fired {sum(self.sent.values())} calls in {self.seconds:.2f}s"]
        for (kind, status), number in sorted(self.answers.items()):
            lines.append(f"  {kind:<15} HTTP {status}: {number}")
        lines.append(f"  unexpected answers: {len(self.unexpected)}")
        lines.extend(f"    {line}" for line in self.unexpected[:10])
        return "\n".join(lines)

    def line(self) -> str:
        """The summary in one line: ``45 valid → 200, 5 duplicate → 200, ...; 0 unexpected``."""
        parts = ", ".join(f"{n} {kind} → {status}" for (kind, status), n in sorted(self.answers.items()))
        return f"answers: {parts}; {len(self.unexpected)} unexpected"


def vary(example: Any, rng: random.Random) -> Any:
    """The example with its SKUs and stock and price figures changed."""
    body = copy.deepcopy(example)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "sku" and isinstance(inner, str):
                    value[key] = f"HBV{rng.randrange(10**8):08d}"
                elif key == "cancel_id" and isinstance(inner, int):
                    value[key] = rng.randrange(10**9)
                elif key in _NUMBERS and isinstance(inner, int | float) and not isinstance(inner, bool):
                    value[key] = (
                        rng.randrange(1, 500) if isinstance(inner, int) else round(rng.uniform(1, 500), 2)
                    )
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(body)
    return body


def credentials(auth: ReceiverAuth, body: bytes, *, forged: bool) -> dict[str, str]:
    """The headers that authenticate ``body`` (or wrong ones, when ``forged``)."""
    if auth.bearer is not None:
        token = auth.bearer.get_secret_value()
        return {"Authorization": f"Bearer {'x' + token if forged else token}"}
    if auth.basic is not None:
        password = auth.basic.password.get_secret_value() + ("x" if forged else "")
        pair = base64.b64encode(f"{auth.basic.username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    assert auth.hmac is not None
    stamp = str(int(time.time()))
    sign = signature(auth.hmac.secret.get_secret_value() + ("x" if forged else ""), stamp, body)
    return {auth.hmac.signature_header: f"sha256={sign}", auth.hmac.timestamp_header: stamp}


def _invalid(operation: Operation, body: Any, rng: random.Random) -> bytes:
    """A body the receiver must refuse: not JSON, or JSON that breaks the operation's model."""
    if operation.model is not None and isinstance(body, dict) and rng.random() < 0.5:
        broken = {key: {"not": "this"} for key in body}  # every field of the wrong type
        if operation.validate(broken):
            return json.dumps(broken).encode()
    return b'{"items": [ this is not JSON'


async def fire(
    url: str,
    operations: Sequence[Operation],
    auth: ReceiverAuth,
    *,
    count: int,
    duplicates: float = 0.0,
    forged: float = 0.0,
    invalid: float = 0.0,
    concurrency: int = 16,
    event_id_header: str | None = "X-HG-Event-Id",
    seed: int | None = None,
    mix: Mapping[str, float] | None = None,
) -> FireReport:
    """Fire ``count`` calls at the receiver at ``url`` and report the answers."""
    rng = random.Random(seed)
    events = [op for op in operations if op.example is not None and not op.query]
    weights = [(mix or {}).get(op.name, 1.0 if mix is None else 0.0) for op in events]
    if not events or not any(weights):
        raise ValueError("no webhook with an example to fire")
    report = FireReport()
    fired: list[tuple[Operation, str, bytes]] = []
    calls: list[tuple[str, Operation, str | None, bytes, dict[str, str]]] = []
    for _ in range(count):
        draw = rng.random()
        if fired and draw < duplicates:
            operation, event_id, raw = rng.choice(fired)
            calls.append(("duplicate", operation, event_id, raw, credentials(auth, raw, forged=False)))
            continue
        operation = rng.choices(events, weights)[0]
        body = vary(operation.example, rng)
        if draw < duplicates + forged:
            raw = json.dumps(body).encode()
            calls.append(("forged", operation, None, raw, credentials(auth, raw, forged=True)))
        elif draw < duplicates + forged + invalid:
            raw = _invalid(operation, body, rng)
            calls.append(("invalid", operation, None, raw, credentials(auth, raw, forged=False)))
        else:
            event_id = str(uuid.UUID(int=rng.getrandbits(128)))
            raw = json.dumps(body).encode()
            fired.append((operation, event_id, raw))
            calls.append(("valid", operation, event_id, raw, credentials(auth, raw, forged=False)))
    expected = {"valid": 200, "duplicate": 200, "forged": 401, "invalid": 400}
    gate = asyncio.Semaphore(concurrency)
    # the HG client's own wire: over httpx's async pool, firing cost 3.8-4.3 ms of CPU a call
    # and was the limit (184-203 calls/s); over this, 1.5-1.7 ms and 261-267 calls/s
    transport = AiohttpTransport(connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:

        async def one(
            kind: str, operation: Operation, event_id: str | None, raw: bytes, headers: dict[str, str]
        ) -> None:
            headers = {**headers, "Content-Type": "application/json"}
            if event_id is not None and event_id_header:
                headers[event_id_header] = event_id
            async with gate:
                try:
                    answer = await client.request(
                        operation.method, operation.path, content=raw, headers=headers
                    )
                    status = answer.status_code
                except httpx.HTTPError as exc:
                    status = 0
                    report.unexpected.append(f"{kind} {operation.name}: {type(exc).__name__}")
            report.sent[kind] += 1
            report.answers[(kind, status)] += 1
            if status and status != expected[kind]:
                report.unexpected.append(f"{kind} {operation.name} {event_id or ''}: HTTP {status}")
            if kind == "valid" and status == 200 and event_id is not None:
                report.accepted[event_id] = (operation.name, json.loads(raw))

        await asyncio.gather(*(one(*call) for call in calls))
    report.seconds = time.perf_counter() - started
    return report
