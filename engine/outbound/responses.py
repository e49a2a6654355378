"""An outbound pipeline's ``response:`` block: HG's answers written back to the marketplace.

A delivered request of such a pipeline is kept with HG's answer and marked ``pending``, in
the transaction that records its delivery; after the requests of a run, the block applies
each pending answer (a row per answer, or per element of a list in it) through its sink, like
an inbound pipeline applies an event, and clears the mark. The sink's record of applied ids
(``<pipeline>:<key>:<fingerprint>``) makes a repeat after a crash write nothing twice; an
answer that fails to apply stays pending, with its reason logged, and is applied again by
the next run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.definitions.pipeline import Pipeline
from engine.definitions.settings import Settings
from engine.errors import ApplyError
from engine.logging import get_logger
from engine.mapping.render import RenderError
from engine.store.state_store import StateStore

log = get_logger("hgsync.responses")


def apply_responses(pipeline: Pipeline, state: StateStore, settings: Settings, home: Path) -> tuple[int, int]:
    """Apply the pending answers of ``pipeline``; (applied, failed)."""
    block = pipeline.response
    if block is None:
        return 0, 0
    applied = failed = 0
    sink = block.make_sink(settings, home)
    try:
        after: str | None = None  # each pending answer is tried once per run
        while batch := state.pending_responses(pipeline.name, after=after):
            after = batch[-1]["key"]
            done: list[tuple[str, str]] = []
            for row in batch:
                key, fingerprint = row["key"], row["fingerprint"]
                answer = json.loads(row["response"]) if row["response"] else {}
                request = json.loads(row["request"]) if row["request"] else {}
                meta = {"pipeline": pipeline.name, "delivered_at": row["delivered_at"].isoformat()}
                extra: dict[str, Any] = {"key": key, "request": request}
                try:
                    rows = block.rows(answer, meta, extra)
                    sink.write(rows, f"{pipeline.name}:{key}:{fingerprint}")
                except (RenderError, ApplyError) as exc:
                    failed += 1
                    log.warning("response_apply_failed", pipeline=pipeline.name, key=key, error=str(exc))
                    continue
                done.append((key, fingerprint))
            state.responses_applied(pipeline.name, done)
            applied += len(done)
    finally:
        sink.close()
    if applied or failed:
        log.info("responses_applied", pipeline=pipeline.name, applied=applied, failed=failed)
    return applied, failed
