"""Config's corrections of the catalog reach the sandbox as they reach the client's models.

For each set of corrections (renamed, added, retyped, relaxed fields; accepted values), the
client's derived model (``Operation.with_override``) and the sandbox's corrected rules
(:mod:`connectors.hepsiglobal.sandbox.corrections`), written apart, must accept the corrected
example and agree on every one-field change of it, as ``test_hg_examples`` asks of the catalog.
Then over HTTP: a corrected operation is served at its corrected path and method only.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.hepsiglobal.catalog import CATALOG
from connectors.hepsiglobal.sandbox import Sandbox
from connectors.hepsiglobal.sandbox.corrections import corrected_operations
from engine.definitions.targets import OperationOverride
from tests.sandbox.test_hg_examples import DROP, EXAMPLES, VALUES, _mutated, _paths

CORRECTIONS: dict[str, dict[str, Any]] = {
    "order_item_delivery": {
        "path": "/v1/deliveries/{order_item_number}",
        "method": "POST",
        "rename": {"delivered_at": "delivery_date"},
        "required": ["carrier"],
        "types": {"attempt": "integer", "signed_by": "text"},
    },
    "shipment_status": {"optional": ["status"], "required": ["status_date"], "types": {"status": "integer"}},
    "product_status": {
        "rename": {"sku": "variant_sku"},
        "required": ["company_id", "listed"],
        "types": {"company_id": "integer", "listed": "boolean", "price": "money", "weight": "number"},
        "choices": {"status": ["ENABLED", "DISABLED"]},
    },
    "cancel_order_item": {"choices": {"reason": ["customer_demand", "out_of_stock"]}, "required": ["note"]},
    "create_refund": {"choices": {"items.reason": ["damaged", "other"]}, "required": ["channel"]},
    "shipment_label": {"required": ["carrier"], "types": {"carrier": "text", "shipped_at": "datetime"}},
}
# a valid value of each type, for the optional fields the corrections add
SAMPLES = {
    "integer": 2,
    "text": "x",
    "boolean": False,
    "money": 1.5,
    "number": 0.125,
    "datetime": "2024-07-13T16:01:26+00:00",
}


def _params(operation: str) -> dict[str, str]:
    found = [e["params"] for e in EXAMPLES.values() if e["operation"] == operation]
    params = found[0] if found else {}
    path = OperationOverride.model_validate(CORRECTIONS[operation]).path
    return {k: v for k, v in params.items() if path is None or "{" + k + "}" in path}


def _corrected(operation: str) -> tuple[Any, Any, dict[str, Any]]:
    fix = OperationOverride.model_validate(CORRECTIONS[operation])
    client = CATALOG[operation].with_override(fix)
    (served,) = [op for op in corrected_operations({operation: fix}) if op.name == operation]
    body = dict(client.example)
    for name, kind in (fix.types or {}).items():
        body.setdefault(name, SAMPLES[kind])
    return client, served, body


@pytest.mark.parametrize("operation", sorted(CORRECTIONS))
def test_the_corrected_example_passes_both_sides(operation: str) -> None:
    client, served, body = _corrected(operation)
    assert client.validate(body) == []
    assert served.check(_params(operation), body) == []


def _changes(body: dict[str, Any], fix: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each field changed to each value, and the names the corrections speak of added."""
    names = {*fix.get("rename", {}), *fix.get("rename", {}).values(), *fix.get("required", ())}
    names |= {*fix.get("optional", ()), *fix.get("types", {}), *fix.get("choices", {})}
    values = VALUES + [v for accepted in fix.get("choices", {}).values() for v in accepted]
    found = [(".".join(map(str, at)), _mutated(body, at, value)) for at in _paths(body) for value in values]
    for name in sorted(names - set(body)):
        found += [(name, {**body, name: value}) for value in values if value is not DROP]
    return found


@pytest.mark.parametrize("operation", sorted(CORRECTIONS))
def test_model_and_sandbox_agree_on_every_one_field_change_of_a_corrected_body(operation: str) -> None:
    client, served, body = _corrected(operation)
    params, disagreements = _params(operation), []
    changes = _changes(body, CORRECTIONS[operation])
    for dotted, changed in changes:
        model, rules = client.validate(changed), served.check(params, changed)
        if bool(model) != bool(rules):
            disagreements.append(
                f"{dotted}: model {model or 'accepts'}, sandbox {rules or 'accepts'}; {changed}"
            )
    assert len(changes) > 40
    assert not disagreements, f"{len(disagreements)} of {len(changes)} disagree:\n" + "\n".join(
        disagreements[:10]
    )


def test_a_refused_value_names_the_accepted_ones_on_both_sides() -> None:
    client, served, body = _corrected("cancel_order_item")
    changed = {**body, "reason": "changed_mind"}
    (model,) = client.validate(changed)
    assert "'changed_mind' is not an accepted reason" in model
    assert "customer_demand, out_of_stock" in model and "choices.reason of cancel_order_item" in model
    assert served.check(_params("cancel_order_item"), changed) == [
        "reason: must be one of the accepted values (customer_demand, out_of_stock), got 'changed_mind'"
    ]


def test_the_sandbox_refuses_corrections_it_cannot_apply() -> None:
    with pytest.raises(ValueError, match="serves no operation nope"):
        corrected_operations({"nope": {"path": "/x"}})
    with pytest.raises(ValueError, match="cancel_order_item's fields are documented"):
        corrected_operations({"cancel_order_item": {"rename": {"reason": "why"}}})
    with pytest.raises(ValueError, match="bogus"):  # pydantic.ValidationError is a ValueError
        corrected_operations({"order_item_delivery": {"optional": ["x"], "required": ["x"], "bogus": 1}})


def _token(client: httpx.Client) -> dict[str, str]:
    body = {"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox"}
    return {"Authorization": f"Bearer {client.post('/v1/auth/token', json=body).json()['access_token']}"}


def test_a_corrected_operation_is_served_at_its_corrected_path_and_method_only() -> None:
    with Sandbox(corrections=CORRECTIONS) as sb, httpx.Client(base_url=sb.url, timeout=5) as client:
        headers = _token(client)
        body = {"delivery_date": "2024-07-13T16:01:26+00:00", "carrier": "hepsijet"}
        moved = client.post("/v1/deliveries/1001_HBV1", json=body, headers=headers)
        assert moved.status_code == 200, moved.text
        old = client.put("/v1/orders/1001/order_items/1001_HBV1/delivery", json=body, headers=headers)
        assert old.status_code == 404
        wrong = client.put("/v1/deliveries/1001_HBV1", json=body, headers=headers)
        assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
        stale = client.post(
            "/v1/deliveries/1001_HBV1", json={"delivered_at": body["delivery_date"]}, headers=headers
        )
        assert stale.status_code == 400
        assert stale.json()["errors"] == [
            "delivery_date: required, an ISO 8601 date-time like '2024-07-13T16:01:26+00:00'",
            "carrier: required (config's correction of order_item_delivery)",
        ]
        (record,) = sb.records("order_item_delivery")
        assert record["method"] == "POST" and record["path_params"] == {"order_item_number": "1001_HBV1"}
        assert record["body"] == body
