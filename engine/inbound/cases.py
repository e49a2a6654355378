"""Mapping tests of inbound pipelines: an event in, the rows it becomes (or a row error) out.

``pipelines/tests/<pipeline>.yaml`` of an inbound pipeline::

    cases:
      - name: a stock update writes one row per item
        event: {items: [{sku: HBV1, company_id: 7, stock: 3}]}
        rows:                                   # what is checked: the columns given, per row
          - {sku: HBV1, company_id: "7", stock: "3"}
      - name: an item without a SKU fails the event
        event: {items: [{company_id: 7}]}
        error: sku

The event is checked against the webhook's model first (as the receiver would: a body it
answers 400 to never reaches a pipeline), then rendered as the applier renders it, with no
receiver, inbox or database.
"""

from __future__ import annotations

import json
from typing import Any

from engine.definitions.cases import CaseResult, diff
from engine.definitions.inbound_pipeline import InboundPipeline
from engine.mapping.render import RenderError

EXPECTATIONS = ("rows", "error")
_META = {"received_at": "2026-01-01T00:00:00+00:00"}


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_case(pipeline: InboundPipeline, case: dict[str, Any], index: int) -> CaseResult:
    name = str(case.get("name") or f"case {index}")
    event = case["event"]
    refused = pipeline.operation.validate(event)
    if refused:
        why = "; ".join(refused)
        return CaseResult(name, False, [f"the receiver would refuse this event (400): {why}"])
    meta = {**_META, "event_id": f"case-{index}", "operation": pipeline.operation.name}
    try:
        rows, error = pipeline.rows(event, meta), None
    except RenderError as exc:
        rows, error = [], str(exc)
    problems: list[str] = []
    if "error" in case:
        if error is None:
            problems.append(f"expected an error containing {case['error']!r}; the event rendered fine")
        elif str(case["error"]) not in error:
            problems.append(f"expected an error containing {case['error']!r}; got: {error}")
    elif error is not None:
        problems.append(f"expected rows; got an error: {error}")
    else:
        expected = _json(case["rows"] or [])
        got = _json(rows)
        shown = [
            {k: row.get(k) for k in want} if isinstance(want, dict) and isinstance(row, dict) else row
            for want, row in zip(expected, got, strict=False)
        ] + got[len(expected) :]
        if expected != shown:
            problems.append("the rows differ:\n" + diff(expected, shown))
    return CaseResult(name, not problems, problems)


def run_cases(pipeline: InboundPipeline, cases: list[dict[str, Any]]) -> list[CaseResult]:
    return [run_case(pipeline, case, index) for index, case in enumerate(cases, 1)]
