"""Fault injection for the sandbox: what share of operation requests goes wrong, and how.

:class:`Faults` is plain settings (also the JSON of ``PUT /_sandbox/faults``);
:func:`draw_fault` decides the fate of one request with the sandbox's seeded random generator,
so a test with a ``seed`` sees the same faults on every run.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

SERVER_ERRORS = (500, 502, 503)
FAULT_KINDS = ("429", "5xx", "drop", "lost", "delay")


@dataclass
class Faults:
    """What share of operation requests goes wrong, and how. Rates are shares from 0 to 1;
    the shares of 429, 5xx and dropped connections add up, so their sum is at most 1."""

    rate_429: float = 0  # answered 429 with ``Retry-After: <retry_after>``
    retry_after: float = 1  # seconds, sent as given ("0.2")
    rate_500: float = 0  # answered 500, 502 or 503, picked at random
    rate_drop: float = 0  # connection closed without any response, before the request is handled
    rate_lost: float = 0  # the request is handled (and recorded), then its answer is lost
    delay: float = 0  # seconds that a delayed request waits before it is answered
    rate_delay: float = 0  # share of requests delayed (whether faulted or not)
    seed: int | None = None  # seeds the sandbox's random choices, for repeatable tests
    # a request whose path holds this text is refused with a 400, as HG refuses what breaks a
    # rule of its own that no client model knows
    reject_path: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "reject_path":
                if value is not None and (not isinstance(value, str) or not value):
                    raise ValueError(f"faults.reject_path must be non-empty text or null, got {value!r}")
            elif f.name == "seed":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise ValueError(f"faults.seed must be an integer or null, got {value!r}")
            elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"faults.{f.name} must be a number >= 0, got {value!r}")
            elif f.name.startswith("rate_") and value > 1:
                raise ValueError(f"faults.{f.name} is a share from 0 to 1, got {value!r}")
        if self.rate_429 + self.rate_500 + self.rate_drop + self.rate_lost > 1:
            raise ValueError("faults.rate_429 + rate_500 + rate_drop + rate_lost must not be above 1")

    @classmethod
    def from_dict(cls, data: Any) -> Faults:
        """Faults from JSON; an unknown field is an error that names the known ones."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown faults field(s) {unknown} (known: {', '.join(known)})")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Fate(NamedTuple):
    """What happens to one request: a fault kind (or None), its status and headers, a wait."""

    kind: str | None
    status: int
    headers: dict[str, str]
    delay: float


def retry_after_header(seconds: float) -> str:
    """``1`` → "1", ``0.2`` → "0.2": a Retry-After value as given."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def draw_fault(faults: Faults, rng: random.Random) -> Fate:
    """The fate of one operation request. Not thread-safe: the caller holds a lock."""
    delay = float(faults.delay) if faults.rate_delay and rng.random() < faults.rate_delay else 0.0
    draw = rng.random()
    if draw < faults.rate_429:
        return Fate("429", 429, {"Retry-After": retry_after_header(faults.retry_after)}, delay)
    if draw < faults.rate_429 + faults.rate_500:
        return Fate("5xx", rng.choice(SERVER_ERRORS), {}, delay)
    if draw < faults.rate_429 + faults.rate_500 + faults.rate_drop:
        return Fate("drop", 0, {}, delay)
    if draw < faults.rate_429 + faults.rate_500 + faults.rate_drop + faults.rate_lost:
        return Fate("lost", 0, {}, delay)
    return Fate(None, 0, {}, delay)
