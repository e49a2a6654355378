"""Mapping tests: rows in, the expected request (or row error) out, kept beside the pipelines.

``pipelines/tests/<pipeline>.yaml`` holds the cases of ``pipelines/<pipeline>.yaml``::

    cases:
      - name: a cancellation is a PUT with its reason
        row: {order_number: "1001", sku: HBV1, reason: customer_demand}
        key: 1001_HBV1                                   # optional
        request:                                         # what is checked: the keys given
          method: PUT
          path: /v1/orders/1001/order_items/1001_HBV1
          body: {reason: customer_demand}
      - name: no reason is a row error
        row: {order_number: "1001", sku: HBV1, reason: null}
        error: reason                                    # a part of the row error
      - name: rows of another kind are left out
        row: {...}
        filtered: true

Each row goes through exactly what a run does with it (``when``, key, templates, the
operation's body model), with no source, state store or HTTP. A failed case shows a diff of
the expected and the rendered request. Values are compared as JSON (a Decimal rendered as
``12.50`` equals ``12.5`` in the case).
"""

from __future__ import annotations

import json
from typing import Any

from connectors.sources.base import Origin, Row
from engine.definitions.cases import CaseResult, diff
from engine.definitions.pipeline import Pipeline
from engine.outbound.diff import canonical
from engine.outbound.plan import render_row


def _json(value: Any) -> Any:
    """``value`` as JSON would carry it (Decimals and dates as the request writes them)."""
    return json.loads(canonical(value)) if value is not None else None


def run_case(pipeline: Pipeline, case: dict[str, Any], index: int) -> CaseResult:
    name = str(case.get("name") or f"case {index}")
    rendered = render_row(pipeline, Row(dict(case["row"]), Origin(f"case {index}")))
    problems: list[str] = []
    if "filtered" in case:
        if bool(case["filtered"]) != rendered.filtered:
            problems.append(
                "expected the row to be " + ("filtered out by `when`" if case["filtered"] else "kept")
            )
    elif "error" in case:
        if rendered.filtered:
            problems.append("expected a row error; the row was filtered out by `when`")
        elif rendered.error is None:
            problems.append(f"expected a row error containing {case['error']!r}; the row rendered fine")
        elif str(case["error"]) not in rendered.error:
            problems.append(f"expected a row error containing {case['error']!r}; got: {rendered.error}")
    elif rendered.filtered:
        problems.append("expected a request; the row was filtered out by `when`")
    elif rendered.error is not None:
        problems.append(f"expected a request; got a row error: {rendered.error}")
    else:
        expected = case["request"] or {}
        actual = _json(rendered.request(pipeline.operation.method))
        shown = {k: actual.get(k) for k in expected} if isinstance(expected, dict) else actual
        if _json(expected) != shown:
            problems.append("the request differs:\n" + diff(_json(expected), shown))
    if "key" in case and not rendered.filtered and str(case["key"]) != rendered.key:
        problems.append(f"expected key {str(case['key'])!r}; got {rendered.key!r}")
    return CaseResult(name, not problems, problems)


def run_cases(pipeline: Pipeline, cases: list[dict[str, Any]]) -> list[CaseResult]:
    return [run_case(pipeline, case, index) for index, case in enumerate(cases, 1)]
