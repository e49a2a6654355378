"""What `validate`, `plan` and the config loader say about rows before a run: rendered sample
rows, the exit code and counts of `plan`, keys of unreadable CSV rows, small config gaps.

The cases in tests/pipelines/invalid/rows-*.yaml cover where each row problem is reported;
these cover the options and the commands around them.
"""

from __future__ import annotations

import os
import time

import pytest

from engine.definitions.yamldoc import load_yaml

REFUNDS = """\
source:
  sql:
    connection: marketplace
    table: refunds
key: "{{ row.refund_number }}"
operation: create_refund
request:
  body:
    refund_number: "{{ row.refund_number }}"
    order_number: "{{ row.order_number }}"
    refund_date: "{{ row.refunded_at }}"
    items:
      - order_item_number: "{{ row.item }}"
        quantity: "{{ row.quantity }}"
        reason: "{{ row.reason }}"
        amount: "{{ row.amount }}"
"""


@pytest.fixture
def refunds(project):
    """175 refunds whose dates are not ISO 8601: every row fails to render."""
    project.sql(
        "CREATE TABLE refunds (id INTEGER PRIMARY KEY, refund_number TEXT, order_number TEXT,"
        " item TEXT, quantity INTEGER, reason TEXT, amount NUMERIC, refunded_at TEXT)"
    )
    project.sql(
        "INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (i, f"R{i}", f"O{i}", f"O{i}_X", 1, "incorrect_order", 10.5, "2024-07-13 10:00:00")
            for i in range(1, 176)
        ],
    )
    project.pipeline("refunds", REFUNDS)
    return project


def test_plan_exits_1_and_says_how_many_rows_fail(refunds):
    result = refunds.cli("plan", "refunds")
    assert result.exit_code == 1, result.output
    assert "175  failing to render" in result.output
    assert "rows failing to render (not sent), showing 5 of 175 row errors:" in result.output
    assert "refunds(id=1) key 'R1': request.body does not fit create_refund: refund_date:" in result.output
    assert "→ `| iso8601`" in result.output


def test_validate_renders_the_first_rows_and_offline_does_not(refunds):
    result = refunds.cli("validate")
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith(
        "pipelines/refunds.yaml:11:18 request.body.refund_date: '2024-07-13 10:00:00' is"
    )
    assert "(seen on refunds(id=1); also 19 more of the 20 rows read)" in result.stdout

    fewer = refunds.cli("validate", "--rows", "3")
    assert "also 2 more of the 3 rows read" in fewer.stdout

    for args in (("--offline",), ("--rows", "0")):
        quiet = refunds.cli("validate", *args)
        assert quiet.exit_code == 0, quiet.output
        assert quiet.stdout == ""


def test_validate_without_a_sample_still_finds_what_the_template_itself_gets_wrong(refunds):
    pipeline = refunds.home / "pipelines" / "refunds.yaml"
    pipeline.write_text(pipeline.read_text().replace('"{{ row.quantity }}"', "two"))
    result = refunds.cli("validate", "--offline")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "pipelines/refunds.yaml:14:19 request.body.items[0].quantity: the value 'two' written here does "
        "not fit: Input should be a valid integer"
    ]


def test_validate_of_rows_that_fit_is_clean_and_warns_about_item_numbers_off_the_examples(refunds):
    refunds.sql("UPDATE refunds SET refunded_at = '2024-07-13T10:00:00+03:00', item = 'oi1' WHERE id > 1")
    refunds.sql("DELETE FROM refunds WHERE id = 1")
    result = refunds.cli("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "pipelines/refunds.yaml:13:28 warning: request.body.items[0].order_item_number: "
        "'oi1' is not 'O2_...', the <order_number>_<sku> form of HG's "
        "examples (a convention, not a rule: it is sent as it is) (seen on refunds(id=2); also 19 more "
        "of the 20 rows read)"
    ]


def test_insert_mode_plan_counts_delivered_keys_that_now_differ(cancels, sandbox):
    project = cancels(12, mode="insert")
    assert project.cli("run", "cancels").exit_code == 0
    project.sql("UPDATE cancels SET reason = 'late_shipment' WHERE id <= 5")
    result = project.cli("plan", "cancels")
    assert result.exit_code == 0, result.output
    assert "12  unchanged" in result.output
    assert "5 delivered key(s) differ from the source; insert mode does not resend them" in result.output
    project.sql("UPDATE cancels SET reason = 'customer_demand'")
    assert "differ from the source" not in project.cli("plan", "cancels").output


def test_a_null_key_names_its_column_in_plan(cancels):
    project = cancels(3)
    project.sql("UPDATE cancels SET sku = NULL WHERE id = 2")
    result = project.cli("plan", "cancels")
    assert result.exit_code == 1
    assert (
        "cancels(id=2) key None: key: NULL in the key: column 'sku' is NULL; fix the source or "
        "leave such rows out with `when:`"
    ) in result.output


def test_a_when_that_fails_on_a_row_is_named_as_the_when_with_the_rows_key(cancels):
    project = cancels(3)
    text = (project.home / "pipelines" / "cancels.yaml").read_text()
    project.pipeline("cancels", text.replace("operation:", 'when: "10 ** (row.id * 999999) > 1"\noperation:'))
    result = project.cli("plan", "cancels")
    assert result.exit_code == 1, result.output
    assert "cancels(id=1) key '100000_HBV00000001': when: " in result.output, result.output
    assert "key: " not in result.output.split("row errors:")[1], result.output


def test_plan_of_a_pipeline_that_does_not_exist(project):
    result = project.cli("plan", "nosuch")
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0] == "error: no pipeline named 'nosuch' in pipelines/ (pipelines: none)"
    )


CARRIER = """\
source:
  csv:
    folder: drop
    settle_seconds: 0
    columns: {order_number: text, sku: text, delivered_at: datetime}
    %s
key: "{{ row.order_number }}_{{ row.sku }}"
operation: order_item_delivery
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "{{ row.order_number }}_{{ row.sku }}"
  body:
    delivered_at: "{{ row.delivered_at | iso8601('Europe/Istanbul') }}"
"""


def _drop(project, text: str) -> None:
    folder = project.home / "drop"
    folder.mkdir(exist_ok=True)
    path = folder / "day.csv"
    path.write_text(text)
    moment = time.time() - 60
    os.utime(path, (moment, moment))


def test_a_csv_date_that_does_not_parse_is_reported_with_its_key(project):
    project.pipeline("carrier", CARRIER % "")
    _drop(project, "order_number,sku,delivered_at\n1000,A,13.07.2024 10:00\n,B,14.07.2024 10:00\n")
    plan = project.cli("plan", "carrier")
    assert plan.exit_code == 1
    assert (
        "day.csv:2 key '1000_A': column 'delivered_at': '13.07.2024 10:00' is not a date-time" in plan.output
    )
    assert "day.csv:3 key None: column 'delivered_at'" in plan.output
    check = project.cli("validate")
    assert check.exit_code == 2
    assert "another form needs `datetime_format:` in the source" in check.stdout
    assert check.stdout.startswith("pipelines/carrier.yaml:2:3 source.csv: the source could not read it: ")

    project.pipeline("carrier", CARRIER % 'datetime_format: "%d.%m.%Y %H:%M"')
    assert project.cli("validate").stdout.splitlines() == [
        "pipelines/carrier.yaml:7:6 key: NULL in the key: column 'order_number' is NULL; fix the source "
        "or leave such rows out with `when:` (seen on day.csv:3)"
    ]
    fixed = project.cli("plan", "carrier")
    assert (
        "1  new" in fixed.output and "key None: key: NULL in the key: column 'order_number'" in fixed.output
    )


def test_an_environment_variable_defaulting_to_null_gives_null(tmp_path, monkeypatch):
    path = tmp_path / "x.yaml"
    path.write_text(
        "a: ${env:HGSYNC_TEST_A:-null}\nb: x${env:HGSYNC_TEST_A:-null}\nc: ${env:HGSYNC_TEST_A:-0}\n"
    )
    monkeypatch.delenv("HGSYNC_TEST_A", raising=False)
    assert load_yaml(path).data == {"a": None, "b": "xnull", "c": "0"}
    monkeypatch.setenv("HGSYNC_TEST_A", "5")
    assert load_yaml(path).data == {"a": "5", "b": "x5", "c": "5"}
