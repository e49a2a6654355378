"""Config's corrections of an operation's fields and accepted values, followed everywhere.

`targets.<name>.operations.<op>` may rename, add, retype or relax fields of a body the HG docs
leave unknown, add fields to any body, and restrict a field to a list of values (`choices`:
cancel_order_item's reasons). The run, `validate` (offline and on rows), `plan`, `ops` and the
sandbox (`hgsync sandbox --target`) all follow the corrected operation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.hepsiglobal.sandbox import Sandbox

CORRECTED = """\
connections:
  marketplace: sqlite:///marketplace.db
targets:
  hepsiglobal:
    base_url: {url}
    client_id: test-client
    client_secret: test-secret-value
    rate_limit: null
    max_attempts: 2
    backoff: {{base: 0.01, max: 0.05}}
    operations:
      order_item_delivery:
        path: /v1/deliveries/{{order_item_number}}
        method: POST
        rename: {{delivered_at: delivery_date}}
        required: [carrier]
        types: {{attempt: integer}}
      cancel_order_item:
        choices: {{reason: [customer_demand, out_of_stock]}}
state: sqlite:///state/state.db
"""
CORRECTIONS = {
    "order_item_delivery": {
        "path": "/v1/deliveries/{order_item_number}",
        "method": "POST",
        "rename": {"delivered_at": "delivery_date"},
        "required": ["carrier"],
        "types": {"attempt": "integer"},
    },
    "cancel_order_item": {"choices": {"reason": ["customer_demand", "out_of_stock"]}},
}
DELIVERIES = """\
source:
  sql: {connection: marketplace, table: deliveries}
key: "{{ row.item }}"
operation: order_item_delivery
request:
  path:
    order_item_number: "{{ row.item }}"
  body:
%s
"""
CANCELS = """\
source:
  sql: {connection: marketplace, table: cancels}
key: "{{ row.item }}"
operation: cancel_order_item
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.item }}"
  body:
    reason: %s
"""


@pytest.fixture
def corrected(project) -> Iterator:
    """A project whose config corrects two operations, and a sandbox told the same corrections."""
    with Sandbox(client_id="test-client", client_secret="test-secret-value", corrections=CORRECTIONS) as sb:
        project.write_config(CORRECTED.format(url=sb.url))
        project.sql(
            "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, item TEXT, at TEXT, carrier TEXT, tries TEXT);"
            "INSERT INTO deliveries VALUES (1, '1001_HBV1', '2024-07-13T16:01:26+00:00', 'hepsijet', '1'),"
            " (2, '1001_HBV2', '2024-07-14T10:00:00+00:00', NULL, '2');"
            "CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, item TEXT, reason TEXT);"
            "INSERT INTO cancels VALUES (1, '1001', '1001_HBV1', 'customer_demand'),"
            " (2, '1001', '1001_HBV2', 'changed_mind'), (3, '1002', '1002_HBV3', 'out_of_stock');"
        )
        project.sandbox = sb
        yield project


def _lines(output: str, fragment: str) -> list[str]:
    return [line for line in output.splitlines() if fragment in line]


def test_a_template_under_the_catalogs_names_is_caught_offline_at_its_leaf(corrected):
    corrected.pipeline("deliveries", DELIVERIES % '    delivered_at: "{{ row.at }}"')
    result = corrected.cli("validate", "--offline")
    assert result.exit_code == 2, result.output
    (required,) = _lines(result.output, "'delivery_date' is required")
    assert required.startswith("pipelines/deliveries.yaml:8:3 request.body:")
    assert "is 'delivery_date' the one written as 'delivered_at'?" in required
    (carrier,) = _lines(result.output, "'carrier' is required")
    assert carrier.startswith("pipelines/deliveries.yaml:8:3 request.body:")


def test_corrected_fields_are_validated_on_rows_sent_where_config_says_and_served_by_the_sandbox(corrected):
    body = (
        '    delivery_date: "{{ row.at }}"\n    carrier: "{{ row.carrier }}"\n    attempt: "{{ row.tries }}"'
    )
    corrected.pipeline("deliveries", DELIVERIES % body)
    checked = corrected.cli("validate")
    assert checked.exit_code == 2
    (attempt,) = _lines(checked.output, "request.body.attempt")
    assert attempt.startswith("pipelines/deliveries.yaml:11:14") and "→ `| to_int`" in attempt
    (carrier,) = _lines(checked.output, "request.body.carrier")
    assert "is null" in carrier and "deliveries(id=2)" in carrier

    corrected.pipeline("deliveries", DELIVERIES % body.replace("row.tries }}", "row.tries | to_int }}"))
    plan = corrected.cli("plan", "deliveries")
    assert plan.exit_code == 1
    assert f"POST {corrected.sandbox.url}/v1/deliveries/1001_HBV1" in plan.output
    assert "carrier: is null" in plan.output

    run = corrected.cli("run", "deliveries")
    assert run.exit_code == 1 and "row errors 1" in run.output and "delivered 1" in run.output
    (record,) = corrected.sandbox.records("order_item_delivery")
    assert record["method"] == "POST" and record["path"] == "/v1/deliveries/1001_HBV1"
    assert record["body"] == {
        "delivery_date": "2024-07-13T16:01:26+00:00",
        "carrier": "hepsijet",
        "attempt": 1,
    }


def test_a_literal_reason_outside_the_list_is_caught_offline_at_its_leaf(corrected):
    corrected.pipeline("cancels", CANCELS % "changed_mind")
    result = corrected.cli("validate", "--offline")
    assert result.exit_code == 2
    (line,) = _lines(result.output, "request.body.reason")
    assert line.startswith("pipelines/cancels.yaml:10:13 request.body.reason: the value 'changed_mind'")
    assert "customer_demand, out_of_stock" in line


def test_a_text_template_that_can_make_an_accepted_reason_is_not_refused_offline(corrected):
    corrected.pipeline("cancels", CANCELS % '"customer_{{ row.reason }}"')
    result = corrected.cli("validate", "--offline")
    assert result.exit_code == 0, result.output


def test_reasons_outside_the_list_are_caught_on_rows_and_are_row_errors_naming_the_list(corrected):
    corrected.pipeline("cancels", CANCELS % '"{{ row.reason }}"')
    checked = corrected.cli("validate")
    assert checked.exit_code == 2
    (line,) = _lines(checked.output, "request.body.reason")
    assert line.startswith(
        "pipelines/cancels.yaml:10:13 request.body.reason: 'changed_mind' is not an accepted reason"
    )
    assert "(config's choices.reason of cancel_order_item: customer_demand, out_of_stock)" in line
    assert "cancels(id=2)" in line

    run = corrected.cli("run", "cancels")
    assert run.exit_code == 1 and "row errors 1" in run.output and "delivered 2" in run.output
    assert "'changed_mind' is not an accepted reason" in run.output
    assert sorted(r["body"]["reason"] for r in corrected.sandbox.records("cancel_order_item")) == [
        "customer_demand",
        "out_of_stock",
    ]


def test_without_a_list_any_non_empty_reason_goes(project, sandbox):
    project.sql(
        "CREATE TABLE cancels (id INTEGER PRIMARY KEY, order_number TEXT, item TEXT, reason TEXT);"
        "INSERT INTO cancels VALUES (1, '1001', '1001_HBV1', 'changed_mind');"
    )
    project.pipeline("cancels", CANCELS % '"{{ row.reason }}"')
    assert project.cli("validate").exit_code == 0
    assert project.cli("run", "cancels").exit_code == 0
    assert [r["body"] for r in sandbox.records("cancel_order_item")] == [{"reason": "changed_mind"}]


def test_a_delete_over_a_body_is_a_warning_at_the_method(project):
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(
        config.read_text().replace(
            "state:", "    operations:\n      cancel_order_item: {method: DELETE}\nstate:"
        )
    )
    result = project.cli("validate", "--offline")
    assert result.exit_code == 0, result.output
    (line,) = _lines(result.output, "method")
    assert line.startswith(
        "config/hgsync.yaml:13:35 warning: targets.hepsiglobal.operations.cancel_order_item.method:"
    )
    assert "servers and proxies may drop a DELETE's body" in line


# -- hgsync ops -------------------------------------------------------------------------------


def test_ops_shows_the_operation_as_config_corrects_it(corrected):
    shown = corrected.cli("ops", "order_item_delivery")
    assert shown.exit_code == 0
    lines = shown.output.splitlines()
    assert lines[1].split() == ["POST", "/v1/deliveries/{order_item_number}", "(path:", "config)"]
    assert lines[2] == (
        "  as corrected by targets.hepsiglobal.operations.order_item_delivery in config/hgsync.yaml: "
        "delivered_at is called delivery_date; required: carrier; attempt is integer"
    )
    fields = [
        line.split()[:3]
        for line in lines
        if line.startswith("  ") and "required" in line or "optional" in line
    ]
    assert ["delivery_date", "date-time", "required"] in fields and ["carrier", "any", "required"] in fields
    assert ["attempt", "integer", "|"] in fields
    example = json.loads(shown.output.split("example body:")[1])
    assert set(example) == {"delivery_date", "carrier"}

    cancel = corrected.cli("ops", "cancel_order_item", "--json")
    schema = json.loads(cancel.output)
    assert schema["corrected_by"] == "targets.hepsiglobal.operations.cancel_order_item"
    assert schema["schema"]["properties"]["reason"]["enum"] == ["customer_demand", "out_of_stock"]

    listing = corrected.cli("ops")
    (row,) = _lines(listing.output, "order_item_delivery")
    assert row.split()[1:4] == ["POST", "/v1/deliveries/{order_item_number}", "config"]


def test_ops_with_a_broken_config_says_so_and_shows_the_catalog(corrected):
    config = corrected.home / "config" / "hgsync.yaml"
    config.write_text(config.read_text().replace("method: POST", "method: GET"))
    shown = corrected.cli("ops", "order_item_delivery")
    assert shown.exit_code == 0
    assert "note: config/hgsync.yaml has 1 problem(s)" in shown.stderr
    assert "hgsync sends no body with a GET" in shown.stderr
    assert "PUT /v1/orders/{order_number}/order_items/{order_item_number}/delivery" in shown.stdout


def test_ops_of_an_unknown_target_is_a_usage_error(corrected):
    result = corrected.cli("ops", "cancel_order_item", "--target", "nope")
    assert result.exit_code == 2
    assert "no target 'nope' in config (targets: hepsiglobal)" in result.output


# -- hgsync sandbox --target ------------------------------------------------------------------


def test_sandbox_target_needs_a_readable_config(project):
    unknown = project.cli("sandbox", "--port", "0", "--target", "elsewhere")
    assert unknown.exit_code == 2 and "no target 'elsewhere'" in unknown.output
    config = project.home / "config" / "hgsync.yaml"
    config.write_text(
        config.read_text().replace(
            "state:", "    operations:\n      cancel_order_item: {method: GET}\nstate:"
        )
    )
    result = project.cli("sandbox", "--port", "0", "--target", "hepsiglobal")
    assert result.exit_code == 2
    assert "--target needs the config: config/hgsync.yaml has 1 problem(s)" in result.stderr


def test_sandbox_without_target_says_config_has_corrections_it_does_not_serve(corrected):
    said = _serve(corrected, [])
    assert any(
        "note: config/hgsync.yaml corrects operations of target 'hepsiglobal'" in line for line in said
    )
    assert not any("serving the corrections" in line for line in said)


def _serve(project, args: list[str]) -> list[str]:
    """What `hgsync sandbox ARGS` says on stderr until it listens; then it is stopped."""
    hgsync = Path(sys.executable).parent / "hgsync"
    command = [str(hgsync), "--home", str(project.home), "sandbox", "--port", "0", *args]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        said = []
        for line in process.stderr:  # type: ignore[union-attr]
            said.append(line)
            if "listening on" in line:
                return said
        raise AssertionError(f"the sandbox did not start: {said}")
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()  # type: ignore[union-attr]


def test_sandbox_target_serves_configs_corrections(corrected):
    hgsync = Path(sys.executable).parent / "hgsync"
    command = [
        str(hgsync),
        "--home",
        str(corrected.home),
        "sandbox",
        "--port",
        "0",
        "--target",
        "hepsiglobal",
    ]
    command += ["--client-id", "test-client"]
    env = {**os.environ, "HG_SANDBOX_SECRET": "test-secret-value"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        said = []
        for line in process.stderr:  # type: ignore[union-attr]
            said.append(line)
            if "listening on" in line:
                break
        assert (
            "serving the corrections of target 'hepsiglobal': order_item_delivery, cancel_order_item\n"
            in said
        )
        url = re.search(r"listening on (http://\S+)", said[-1]).group(1)  # type: ignore[union-attr]
        with httpx.Client(base_url=url, timeout=5) as client:
            form = {
                "grant_type": "client_credentials",
                "client_id": "test-client",
                "client_secret": "test-secret-value",
            }
            token = client.post("/v1/auth/token", json=form).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            refused = client.put(
                "/v1/orders/1/order_items/1_2", json={"reason": "changed_mind"}, headers=headers
            )
            assert refused.status_code == 400
            assert refused.json()["errors"] == [
                "reason: must be one of the accepted values (customer_demand, out_of_stock), got 'changed_mind'"
            ]
            moved = client.post(
                "/v1/deliveries/1_2",
                json={"delivery_date": "2024-07-13T16:01:26Z", "carrier": "x"},
                headers=headers,
            )
            assert moved.status_code == 200, moved.text
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()  # type: ignore[union-attr]


def test_the_pipeline_schema_follows_the_targets_corrections(corrected):
    schema = json.loads(corrected.cli("schema", "pipeline").output)
    (delivery,) = [
        b for b in schema["allOf"] if b["if"]["properties"]["operation"]["const"] == "order_item_delivery"
    ]
    request = delivery["then"]["properties"]["request"]["properties"]
    assert set(request["body"]["properties"]) == {"delivery_date", "carrier", "attempt"}
    assert list(request["path"]["properties"]) == ["order_item_number"]
    (cancel,) = [
        b for b in schema["allOf"] if b["if"]["properties"]["operation"]["const"] == "cancel_order_item"
    ]
    reason = cancel["then"]["properties"]["request"]["properties"]["body"]["properties"]["reason"]
    assert reason["examples"] == ["customer_demand", "out_of_stock"]
