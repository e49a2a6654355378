"""Fingerprints of requests, and what a row's request means against what was delivered.

The fingerprint hashes the operation's name, its path parameters and its body in canonical
JSON. It leaves out the concrete method and URL on purpose: correcting an operation's path
in config (the HG docs leave several unknown) must not make every key look changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from engine.store import KeyState

Verdict = Literal["new", "changed", "unchanged", "retry", "rejected", "held"]
SEND = ("new", "changed", "retry")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(operation: str, path_params: dict[str, Any], body: Any) -> str:
    return hashlib.sha256(canonical([operation, path_params, body]).encode()).hexdigest()


def idempotency_key(pipeline: str, key: str, fingerprint: str) -> str:
    """The idempotency key of one request: the same for every resend of it, different for
    another key or another request of the same key."""
    return hashlib.sha256(canonical([pipeline, key, fingerprint]).encode()).hexdigest()[:40]


def classify(
    mode: str,
    state: KeyState | None,
    new_fingerprint: str,
    *,
    retry_failed: bool = False,
    hold_in_doubt: bool = False,
) -> Verdict:
    """What to do with a key whose request now has ``new_fingerprint``.

    - never seen: ``new``;
    - delivered: ``unchanged`` when the request is the same (or the mode is ``insert``,
      which sends each key once), else ``changed``;
    - failed after every retry: ``retry``;
    - in doubt (its answer was lost, or a run that stopped left it ``sending``): ``retry``,
      or ``held`` when the pipeline holds such requests for a person (``hold_in_doubt``);
    - rejected by HG: ``changed`` once the request differs from the rejected one, ``retry``
      with ``--retry-failed``, otherwise ``rejected`` (not sent again); and ``unchanged``
      when the row went back to the request HG already accepted before the rejected change.
    """
    if state is None:
        return "new"
    delivered_before = state.fingerprint is not None
    if mode == "insert" and delivered_before:
        return "unchanged"
    if state.status == "delivered":
        return "unchanged" if state.fingerprint == new_fingerprint else "changed"
    if state.status in ("in_doubt", "sending"):
        return "held" if hold_in_doubt else "retry"
    if state.status == "failed":
        return "retry"
    if delivered_before and new_fingerprint == state.fingerprint:
        return "unchanged"  # HG refused the change, so it still has this very request
    if new_fingerprint != state.attempted_fingerprint:
        return "changed"
    return "retry" if retry_failed else "rejected"


def changes(old: Any, new: Any, where: str = "") -> list[str]:
    """What differs between two JSON values, one line per leaf: ``body.reason: 'a' → 'b'``."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new), key=str):
            at = f"{where}.{key}" if where else str(key)
            if key not in old:
                lines.append(f"{at}: added {_show(new[key])}")
            elif key not in new:
                lines.append(f"{at}: removed (was {_show(old[key])})")
            else:
                lines.extend(changes(old[key], new[key], at))
        return lines
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            line
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for line in changes(a, b, f"{where}[{i}]")
        ]
    if old == new and type(old) is type(new):
        return []
    return [f"{where or 'value'}: {_show(old)} → {_show(new)}"]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
