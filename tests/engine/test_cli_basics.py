"""The commands that need no sandbox: `ops`, `schema`, `validate` of the repo's own project, `--help`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from connectors.hepsiglobal.catalog import CATALOG
from connectors.hepsiglobal.webhooks import WEBHOOKS
from engine import logging as hglog
from engine.cli.commands import main
from engine.cli.demo_data import create_demo_database

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "pipelines"


def hgsync(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    hglog.configure(json=True)
    return result


# -- ops --------------------------------------------------------------------------------------


def _groups(out: str) -> dict[str, list[list[str]]]:
    """``hgsync ops`` output: each heading's rows, split into columns on runs of 2+ spaces."""
    groups: dict[str, list[list[str]]] = {}
    heading = None
    for line in out.splitlines()[1:]:  # the first line names the columns
        if not line:
            continue
        if not line.startswith("  "):
            heading = line
            groups[heading] = []
        else:
            assert heading is not None, line
            groups[heading].append(re.split(r" {2,}", line.strip()))
    return groups


def test_ops_lists_both_directions():
    result = hgsync("ops")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == [
        "name",
        "method",
        "path",
        "path",
        "certainty",
        "batch",
        "title",
    ]
    groups = _groups(result.stdout)
    assert list(groups) == ["MP → HG (hgsync sends)", "HG → MP webhooks (hgsync receives)"]
    sends, receives = groups.values()
    assert len(CATALOG) == 10
    assert [row[0] for row in sends] == list(CATALOG)
    for row, op in zip(sends, CATALOG.values(), strict=True):
        assert row[1:3] == [op.method, op.path]
        assert row[3] == op.certainty
    assert sends[0][0] == "create_token" and sends[0][-1] == "(used by hgsync itself)"
    assert sum(row[-1] == "(used by hgsync itself)" for row in sends) == 1
    assert [row[0] for row in receives] == list(WEBHOOKS)
    for row, op in zip(receives, WEBHOOKS.values(), strict=True):
        assert row[1:3] == [op.method, op.path]
        assert row[3] == op.certainty
        assert row[4] == (f"≤{op.batch_limit}" if op.batch_limit else "-")
    by_name = {row[0]: row for row in receives}
    assert by_name["price_update"][1:5] == ["PUT", "/webhooks/price-update", "doc", "≤1000"]
    assert by_name["refund_create_result"][1:4] == [
        "POST",
        "/webhooks/refund-create-result",
        "unknown (default chosen)",
    ]
    assert by_name["variant_listing_count"][-1] == "(a query: the marketplace answers)"


def test_ops_json():
    result = hgsync("ops", "--json")
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [*CATALOG, *WEBHOOKS]
    assert {r["direction"] for r in rows if r["name"] in WEBHOOKS} == {"inbound"}
    assert {r["name"]: r["batch_limit"] for r in rows}["price_update"] == 1000
    assert {r["name"]: r["method"] for r in rows}["tracking_by_barcode"] == "GET"


def test_ops_shows_one_operation():
    result = hgsync("ops", "cancel_order_item")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("cancel_order_item: ")
    assert "  PUT /v1/orders/{order_number}/order_items/{order_item_number}" in out
    assert "path parameters: order_number, order_item_number" in out
    assert re.search(r"^  reason  string  required", out, re.M)
    example = out.split("example body:\n", 1)[1]
    assert json.loads(example) == {"reason": "customer_demand"}


def test_ops_shows_an_operation_without_a_body():
    out = hgsync("ops", "tracking_by_shipment_id").stdout
    assert "  GET /v1/tracking/packages/{shipment_id}" in out
    assert "body: none" in out
    assert "example body" not in out


def test_ops_json_of_one_operation_has_its_schema_and_example():
    data = json.loads(hgsync("ops", "create_refund", "--json").stdout)
    assert (data["method"], data["path"]) == ("POST", "/v1/refunds")
    assert "items" in data["schema"]["properties"]
    assert data["example"]["refund_number"]


def test_ops_shows_a_webhook():
    result = hgsync("ops", "order_cancel_by_seller")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("order_cancel_by_seller: Order cancel (canceled by seller)\n")
    assert "  PUT /webhooks/order-cancel    (path: doc)" in out
    assert "hgsync receives it (`receive: order_cancel_by_seller`)" in out
    assert "event id: the body's `cancel_id`" in out
    assert re.search(r"^  cancel_id  integer  required", out, re.M)
    assert json.loads(out.split("example body:\n", 1)[1])["cancel_id"] == 556677

    stock = hgsync("ops", "stock_update").stdout
    assert "entities: each element of `items`, at most 1000 a call" in stock
    assert "(path: inferred)" in stock


def test_ops_shows_a_query_with_its_answer():
    out = hgsync("ops", "variant_listing_count").stdout
    assert "  GET /webhooks/variant-listing-count    (path: unknown (default chosen))" in out
    assert "HG → MP query" in out
    assert "query parameters (VariantListingCountQuery" in out
    assert re.search(r"^  count  integer >= 0  required", out, re.M)
    assert "example query parameters:" in out

    data = json.loads(hgsync("ops", "variant_listing_status", "--json").stdout)
    assert (data["direction"], data["method"], data["path"]) == (
        "inbound",
        "POST",
        "/webhooks/variant-listing-status",
    )
    assert {"page", "size", "mp_sku"} <= set(data["schema"]["properties"])
    assert set(data["answer_schema"]["properties"]) == {"items", "page", "size", "total"}


def test_ops_of_an_unknown_name_lists_the_known_ones():
    result = hgsync("ops", "cancel_order")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "unknown operation 'cancel_order'; known: " in result.stderr
    for name in CATALOG:
        assert name in result.stderr
    assert "did you mean 'cancel_order_item'?" in result.stderr
    assert hgsync("ops", "nope").exit_code == 2


# -- schema -----------------------------------------------------------------------------------

_IGNORED = {"title", "description", "default", "examples", "format", "writeOnly", "$defs"}
_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "") -> list[str]:
    """A small JSON Schema checker for the keywords pydantic writes (the test fails on others)."""
    unknown = set(schema) - _IGNORED - {
        "$ref", "anyOf", "type", "enum", "const", "properties", "additionalProperties",
        "required", "items", "pattern", "minimum", "maximum", "exclusiveMinimum",
        "allOf", "if", "then", "minProperties", "maxProperties", "minLength", "maxLength",
    }  # fmt: skip
    assert not unknown, f"the checker does not know {sorted(unknown)}"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return schema_errors(value, root["$defs"][name], root, where)
    if "anyOf" in schema:
        found = [schema_errors(value, option, root, where) for option in schema["anyOf"]]
        if all(found):
            return [f"{where or '.'}: fits none of anyOf: {found}"]
    errors: list[str] = []
    for branch in schema.get("allOf", []):
        if "if" not in branch:
            errors += schema_errors(value, branch, root, where)
        elif not schema_errors(value, branch["if"], root, where):
            errors += schema_errors(value, branch["then"], root, where)
    kind = schema.get("type")
    if kind is not None:
        python = _TYPES[kind]
        if not isinstance(value, python) or (isinstance(value, bool) and kind in ("integer", "number")):
            return [f"{where or '.'}: {value!r} is not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str) and not schema.get("minLength", 0) <= len(value) <= schema.get(
        "maxLength", len(value)
    ):
        errors.append(f"{where}: {value!r} is not {schema.get('minLength')}..{schema.get('maxLength')} long")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    for key, check in (
        ("minimum", float.__ge__),
        ("maximum", float.__le__),
        ("exclusiveMinimum", float.__gt__),
    ):
        if key in schema and isinstance(value, int | float) and not check(float(value), float(schema[key])):
            errors.append(f"{where}: {value!r} breaks {key} {schema[key]}")
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            errors.append(f"{where or '.'}: fewer than {schema['minProperties']} key(s)")
        if len(value) > schema.get("maxProperties", len(value)):
            errors.append(f"{where or '.'}: more than {schema['maxProperties']} key(s)")
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}.{name}: required")
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], root, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}.{name}: not allowed")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], root, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root, f"{where}[{i}]")
    return errors


def _described(schema: dict[str, Any]) -> list[str]:
    """Properties (of the model and of each $defs model) that have no description."""
    missing = []
    for model_name, model in [("", schema), *schema.get("$defs", {}).items()]:
        assert model.get("description"), f"model {model_name or 'top'} has no description"
        for name, prop in model.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{model_name}.{name}")
    return missing


def test_the_inbound_schema_takes_both_kinds_and_refuses_a_mix():
    schema = json.loads(hgsync("schema", "inbound").stdout)
    receive = {
        "receive": "stock_update",
        "into": {"csv": {"path": "x.csv"}},
        "columns": {"sku": "{{ item.sku }}"},
    }
    answer = {"answer": "variant_listing_count", "query": {"connection": "marketplace", "sql": "SELECT 1"}}
    assert schema_errors(receive, schema, schema) == [] and schema_errors(answer, schema, schema) == []
    assert schema_errors({**receive, "answer": "variant_listing_count"}, schema, schema) != []
    assert schema_errors({**receive, "source": {"sql": {}}}, schema, schema) != []


@pytest.mark.parametrize("what", ["pipeline", "config"])
def test_schema_is_json_schema_with_descriptions(what):
    result = hgsync("schema", what)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert _described(schema) == []
    refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', result.stdout)
    assert refs and set(refs) <= set(schema["$defs"])


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "path",
    [*sorted((REPO / "pipelines").glob("*.yaml")), *sorted((CASES / "valid").glob("*.yaml"))],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_pipelines_that_validate_fit_the_published_schema(path: Path):
    """What editors are told (the schema) accepts what hgsync accepts."""
    doc = _yaml(path)
    schema = json.loads(
        hgsync("schema", "inbound" if "receive" in doc or "answer" in doc else "pipeline").stdout
    )
    assert schema_errors(doc, schema, schema) == []


def test_the_schema_describes_each_source_type_block():
    schema = json.loads(hgsync("schema", "pipeline").stdout)
    csv = schema["properties"]["source"]["properties"]["csv"]
    assert "strptime" in csv["properties"]["datetime_format"]["description"]
    assert "decimal_separator" in csv["properties"]
    assert "query" in schema["properties"]["source"]["properties"]["sql"]["properties"]
    block = {"csv": {"folder": "drop", "datetime_format": 5}}
    assert schema_errors(block, schema["properties"]["source"], schema) != []


def test_the_schema_catches_what_editors_should_flag():
    schema = json.loads(hgsync("schema", "pipeline").stdout)
    broken = {"source": {}, "key": "k", "operation": "x", "opration": "x", "mode": "update", "schedule": 5}
    errors = schema_errors(broken, schema, schema)
    assert any(e.startswith(".opration: not allowed") for e in errors)
    assert any(e.startswith(".mode:") for e in errors)
    assert any(e.startswith(".schedule:") for e in errors)
    assert sorted(schema_errors({"source": {}}, schema, schema)) == [
        ".key: required",
        ".operation: required",
        ".source: fewer than 1 key(s)",
    ]


def test_the_pipeline_schema_knows_operations_sources_and_each_operations_body():
    schema = json.loads(hgsync("schema", "pipeline").stdout)
    pushed = [n for n, op in WEBHOOKS.items() if not op.query]  # to a marketplace target
    assert (
        schema["properties"]["operation"]["enum"] == [n for n, op in CATALOG.items() if op.pipeline] + pushed
    )
    assert "variant_listing_status" not in pushed and "price_update" in pushed
    assert {"sql", "csv"} <= set(schema["properties"]["source"]["properties"])
    pipeline = {
        "source": {"sql": {"connection": "marketplace", "table": "cancels"}},
        "key": "{{ row.id }}",
        "operation": "cancel_order_item",
        "request": {"path": {"order_number": "{{ row.o }}"}, "body": {"reasn": "{{ row.r }}"}},
        "enabled": "${env:CANCELS_ON:-true}",
    }
    errors = schema_errors(pipeline, schema, schema)
    assert ".request.path.order_item_number: required" in errors
    branch = next(
        b for b in schema["allOf"] if b["if"]["properties"]["operation"]["const"] == "cancel_order_item"
    )
    body = branch["then"]["properties"]["request"]["properties"]["body"]
    assert body["properties"]["reason"]["description"]  # an editor completes and explains it
    assert not any(e.startswith(".enabled") for e in errors)
    assert ".source: more than 1 key(s)" in schema_errors(
        {**pipeline, "source": {"sql": {}, "csv": {}}}, schema, schema
    )
    assert any(
        e.startswith(".enabled") for e in schema_errors({**pipeline, "enabled": "yes"}, schema, schema)
    )


def test_the_repo_config_fits_the_published_schema():
    schema = json.loads(hgsync("schema", "config").stdout)
    data = _yaml(REPO / "config" / "hgsync.yaml")
    assert schema_errors(data, schema, schema) == []


def test_the_schema_accepts_a_rate_limit_as_written():
    schema = json.loads(hgsync("schema", "config").stdout)
    target = {
        "base_url": "http://127.0.0.1:8765",
        "client_id": "a",
        "client_secret": "b",
        "rate_limit": "20/s",
    }
    assert schema_errors({"targets": {"hg": target}}, schema, schema) == []


# -- validate of the repo's own project -------------------------------------------------------


def repo_project(home: Path, monkeypatch) -> Path:
    """A copy of the repo's config, pipelines and demo folders (without databases), defaults only."""
    for name in ("MARKETPLACE_DB_URL", "HG_BASE_URL", "HG_CLIENT_ID", "HG_CLIENT_SECRET", "HG_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HGSYNC_STATE_URL", raising=False)
    shutil.copytree(REPO / "config", home / "config")
    shutil.copytree(REPO / "pipelines", home / "pipelines")
    if (REPO / "demo").is_dir():
        shutil.copytree(REPO / "demo", home / "demo", ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    (home / "demo").mkdir(exist_ok=True)
    return home


def test_validate_the_repo_project(tmp_path: Path, monkeypatch):
    home = repo_project(tmp_path / "home", monkeypatch)
    create_demo_database(home / "demo" / "marketplace.db")

    result = hgsync("--home", str(home), "validate")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # not even a warning
    files = [yaml.safe_load(p.read_text()) for p in (REPO / "pipelines").glob("*.yaml")]
    inbound = sum(1 for doc in files if "receive" in doc or "answer" in doc)
    assert f"ok: config and {len(files) - inbound} pipeline(s), {inbound} inbound" in result.stderr
    assert not (home / ".hgsync").exists(), "validate must not create the state store"


def test_validate_the_repo_project_without_its_database(tmp_path: Path, monkeypatch):
    """No demo database yet: columns cannot be checked, which is a warning per pipeline."""
    home = repo_project(tmp_path / "home", monkeypatch)

    result = hgsync("--home", str(home), "validate")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines
    assert all(" warning: source.sql: columns not checked: " in line for line in lines), lines
    assert "pipelines/create-orders.yaml:" in result.stdout


# -- help, README -----------------------------------------------------------------------------


def _commands() -> list[str]:
    return sorted(main.commands)


def test_the_lifecycle_commands_exist():
    assert {"validate", "ops", "plan", "run", "history", "schema", "sandbox", "demo"} <= set(_commands())


@pytest.mark.parametrize("command", [None, *_commands()])
def test_every_command_has_help(command):
    args = ["--help"] if command is None else [command, "--help"]
    result = hgsync(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    if command is None:
        for name in _commands():
            assert re.search(rf"^  {name}\s+\S", result.stdout, re.M), f"{name} has no summary"
    else:
        assert (main.commands[command].help or "").strip(), f"{command} has no help text"


def test_every_command_appears_in_the_readme():
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("no README.md yet")
    text = readme.read_text(encoding="utf-8")
    missing = [name for name in _commands() if f"hgsync {name}" not in text]
    assert missing == [], f"commands not in README.md: {missing}"
