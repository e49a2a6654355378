"""CSV drop folders: real files in a temporary folder, run end to end against the real sandbox.

Files are aged with ``os.utime`` instead of waiting: a file modified less than
``settle_seconds`` ago counts as still being written.
"""

from __future__ import annotations

import asyncio
import csv
import os
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import structlog.testing

from connectors.hepsiglobal.sandbox import Faults
from connectors.sources import csv_archive
from connectors.sources.csv_drop import CsvDropSource, CsvSourceConfig
from engine.definitions.loader import load_project
from engine.definitions.plugins import SourceContext, known_sources
from engine.definitions.settings import resolve_url
from engine.outbound.run import run_pipeline
from engine.store import StateStore

PIPELINE = """\
source:
  csv:
    folder: drop
    settle_seconds: 30
    columns: {order_number: text, sku: text, delivered_at: datetime%s}
key: "{{ row.order_number }}_{{ row.sku }}"
operation: order_item_delivery
mode: insert
request:
  path:
    order_number: "{{ row.order_number }}"
    order_item_number: "%s"
  body:
    delivered_at: "{{ row.delivered_at | iso8601 }}"
"""
HEADER = "order_number,sku,delivered_at\n"


def drop(
    folder: Path, name: str, content: str | bytes, *, age: float = 3600.0, encoding: str = "utf-8"
) -> Path:
    """Write a file into the drop folder, last modified ``age`` seconds ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    moment = time.time() - age
    os.utime(path, (moment, moment))
    return path


def rows(*numbers: int, order: int = 1000) -> str:
    return "".join(f"{order},SKU{n},2024-07-13 16:{n % 60:02d}:00\n" for n in numbers)


def setup(project, *, extra: str = "", item: str = "{{ row.order_number }}_{{ row.sku }}") -> Path:
    project.pipeline("carrier", PIPELINE % (extra, item))
    folder = project.home / "drop"
    folder.mkdir()
    return folder


def paths(sandbox) -> list[str]:
    return [r["path_params"]["order_item_number"] for r in sandbox.records("order_item_delivery")]


def report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def last_run(project) -> str:
    return project.cli("history").output.splitlines()[1].split()[0]


def source(home: Path, state=None, **config) -> CsvDropSource:
    cfg = CsvSourceConfig.model_validate({"folder": "drop", **config})
    return CsvDropSource(cfg, SourceContext(home=home, pipeline="carrier", state=state))


def read(home: Path, **config) -> list[tuple[str, dict, str | None]]:
    return [(str(r.origin), r.values, r.error) for r in source(home, **config).read()]


# -- reading: formats and types ---------------------------------------------------------------


def test_the_csv_source_is_registered():
    assert known_sources()["csv"] is CsvDropSource


def test_typed_columns_reach_templates_with_their_types(project, sandbox):
    project.pipeline(
        "typed",
        """\
        source:
          csv:
            folder: drop
            columns:
              order_number: text
              sku: text
              qty: integer
              price: decimal
              delivered_at: date-time
              note: text
        key: "{{ row.order_number }}_{{ row.sku }}"
        operation: order_item_delivery
        mode: insert
        request:
          path:
            order_number: "{{ row.order_number }}"
            order_item_number: "{{ row.order_number }}_{{ row.sku }}"
          body:
            delivered_at: "{{ row.delivered_at | iso8601 }}"
            twice: "{{ row.qty * 2 }}"
            price: "{{ row.price }}"
            cents: "{{ row.price * 100 }}"
            year: "{{ row.delivered_at.year }}"
            note: "{{ row.note }}"
        """,
    )
    drop(
        project.home / "drop",
        "typed.csv",
        "order_number,sku,qty,price,delivered_at,note\n"
        "1000,A,3,12.50,2024-07-13 16:01:26,fragile\n"
        "1000,B,-2,0.5,2024-07-13T16:01:26+03:00,\n",
    )
    result = project.cli("run", "typed")
    assert result.exit_code == 0, result.output
    bodies = {r["path_params"]["order_item_number"]: r["body"] for r in sandbox.records()}
    assert bodies["1000_A"] == {
        "delivered_at": "2024-07-13T16:01:26+00:00",
        "twice": 6,
        "price": 12.5,
        "cents": 1250,
        "year": 2024,
        "note": "fragile",
    }
    assert bodies["1000_B"]["twice"] == -4 and bodies["1000_B"]["note"] is None
    assert bodies["1000_B"]["delivered_at"] == "2024-07-13T16:01:26+03:00"


def test_values_are_typed_and_empty_fields_are_none(tmp_path):
    drop(tmp_path / "drop", "a.csv", "n,d,t,s\n 7 ,-1.25e2,2024-07-13,x\n1,,, \n,,,\n")
    found = read(tmp_path, columns={"n": "integer", "d": "decimal", "t": "datetime", "s": "text"})
    assert found == [
        ("a.csv:2", {"n": 7, "d": Decimal("-125"), "t": datetime(2024, 7, 13), "s": "x"}, None),
        ("a.csv:3", {"n": 1, "d": None, "t": None, "s": None}, None),
    ]  # a line of empty fields carries nothing: it is skipped like a blank line


def test_utf8_with_and_without_bom(tmp_path):
    text = "order_number,sku,delivered_at\n1000,Gümüş,2024-07-13 16:00:00\n"
    drop(tmp_path / "drop", "bom.csv", b"\xef\xbb\xbf" + text.encode(), age=7200)
    drop(tmp_path / "drop", "plain.csv", text)
    found = read(tmp_path, columns={"order_number": "text", "sku": "text", "delivered_at": "datetime"})
    assert [(origin, values["sku"], error) for origin, values, error in found] == [
        ("bom.csv:2", "Gümüş", None),
        ("plain.csv:2", "Gümüş", None),
    ]


def test_latin1_by_name_and_as_a_row_error_when_not_declared(tmp_path):
    drop(tmp_path / "drop", "l1.csv", "name,city\nZoë,Köln\nBob,Bonn\n", encoding="latin-1")
    assert read(tmp_path, encoding="latin-1") == [
        ("l1.csv:2", {"name": "Zoë", "city": "Köln"}, None),
        ("l1.csv:3", {"name": "Bob", "city": "Bonn"}, None),
    ]
    (origin, _, error), good = read(tmp_path)
    assert origin == "l1.csv:2" and error is not None
    assert error.startswith("line 2 is not valid UTF-8 (byte 0xeb at byte 3)")
    assert good == ("l1.csv:3", {"name": "Bob", "city": "Bonn"}, None)


def test_semicolons_and_decimal_commas(tmp_path):
    drop(tmp_path / "drop", "tr.csv", "sku;price\nA;12,50\nB;1.234,50\n")
    found = read(tmp_path, delimiter=";", decimal_separator=",", columns={"sku": "text", "price": "decimal"})
    assert found[0] == ("tr.csv:2", {"sku": "A", "price": Decimal("12.50")}, None)
    assert found[1][2] == "column 'price': '1.234,50' is not a decimal number (like 12,50)"


def test_without_a_header_the_declared_columns_give_the_order(tmp_path):
    drop(tmp_path / "drop", "raw.csv", "1000,A,4\n1000,B,x\n")
    found = read(
        tmp_path,
        header=False,
        columns=[{"name": "order", "type": "text"}, {"name": "sku"}, {"name": "qty", "type": "integer"}],
    )
    assert found[0] == ("raw.csv:1", {"order": "1000", "sku": "A", "qty": 4}, None)
    # the fields that did convert are kept, so that the row's key can still be named
    assert found[1] == ("raw.csv:2", {"order": "1000", "sku": "B"}, "column 'qty': 'x' is not an integer")


def test_datetime_format_and_quoted_fields_spanning_lines(tmp_path):
    drop(
        tmp_path / "drop", "q.csv", 'at,note\n13.07.2024 16:01,"two\nlines"\n14.07.2024 09:00,"say ""hi"""\n'
    )
    found = read(tmp_path, datetime_format="%d.%m.%Y %H:%M", columns={"at": "datetime", "note": "text"})
    assert found == [
        ("q.csv:2", {"at": datetime(2024, 7, 13, 16, 1), "note": "two\nlines"}, None),
        ("q.csv:4", {"at": datetime(2024, 7, 14, 9, 0), "note": 'say "hi"'}, None),
    ]


# -- reading: which files ---------------------------------------------------------------------


def test_temporary_hidden_and_unmatched_names_are_ignored(tmp_path):
    folder = tmp_path / "drop"
    for name in ("a.csv.tmp", "b.csv.part", "c.tmp", ".hidden.csv", "notes.txt"):
        drop(folder, name, "x\n1\n")
    drop(folder, "UPPER.CSV", "x\n1\n")
    assert read(tmp_path) == [("UPPER.CSV:2", {"x": "1"}, None)]


def test_a_file_modified_just_now_is_left_for_a_later_run(tmp_path):
    path = drop(tmp_path / "drop", "fresh.csv", "x\n1\n", age=0)
    assert read(tmp_path, settle_seconds=30) == []
    moment = time.time() - 31
    os.utime(path, (moment, moment))
    assert read(tmp_path, settle_seconds=30) == [("fresh.csv:2", {"x": "1"}, None)]


def test_a_file_archived_before_is_skipped_and_says_why(tmp_path):
    path = drop(tmp_path / "drop", "day.csv", "x\n1\n")
    drop(tmp_path / "drop", "other.csv", "x\n2\n")
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        state.record_file("carrier", "day.csv", csv_archive.sha256_of(path), "archived", 1)
        with structlog.testing.capture_logs() as logs:
            found = [str(r.origin) for r in source(tmp_path, state=state).read()]
    finally:
        state.close()
    assert found == ["other.csv:2"]
    (skipped,) = [e for e in logs if e["event"] == "csv_file_skipped"]
    assert skipped["file"] == "day.csv" and skipped["reason"].startswith("already processed")


def test_columns_are_the_declared_ones_or_the_headers_found(tmp_path):
    assert source(tmp_path, columns={"a": "text"}).columns() == ["a"]
    (tmp_path / "drop").mkdir()
    assert source(tmp_path).columns() is None
    drop(tmp_path / "drop", "one.csv", "a,b\n1,2\n", age=7200)
    drop(tmp_path / "drop", "two.csv", "b,c\n1,2\n")
    drop(tmp_path / "drop", "new.csv", "z\n1\n", age=0)  # still being written
    assert source(tmp_path).columns() == ["a", "b", "c"]


# -- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "origin", "reason"),
    [
        (HEADER + rows(1) + "1000,SKU2\n" + rows(3), "bad.csv:3", "2 field(s), expected 3"),
        (HEADER + rows(1) + '1000,"SKU2,2024-07-13 16:00:00\n1000,SKU3,x\n', "bad.csv:3", "unclosed quote"),
        (HEADER + rows(1) + '1000,"SKU"2,2024-07-13 16:00:00\n' + rows(3), "bad.csv:3", "malformed CSV"),
        (
            HEADER.encode() + b"1000,SKU\xff,2024-07-13 16:00:00\n" + rows(3).encode(),
            "bad.csv:2",
            "line 2 is not valid UTF-8",
        ),
        (b"", "bad.csv:1", "the file is empty"),
        ("\n \n", "bad.csv:1", "the file is empty"),
        (
            "order_number;sku;delivered_at\n" + rows(1),
            "bad.csv:1",
            "the header does not match the declared columns",
        ),
        ("order_number,sku,when\n" + rows(1), "bad.csv:1", "missing 'delivered_at'; not declared 'when'"),
        (
            b"order_number,sk\xff,delivered_at\n" + rows(1).encode(),
            "bad.csv:1",
            "cannot read the header: line 1 is not valid UTF-8",
        ),
        (
            HEADER + "1000,SKU1,13/07/2024\n",
            "bad.csv:2",
            "column 'delivered_at': '13/07/2024' is not a date-time",
        ),
        (HEADER + "1000,SK\x00U1,2024-07-13\n", "bad.csv:2", "a field holds a NUL byte (line 2)"),
    ],
    ids=[
        "field-count",
        "unclosed-quote",
        "text-after-quote",
        "encoding",
        "empty",
        "blank",
        "delimiter",
        "header",
        "header-encoding",
        "date-time",
        "nul-byte",
    ],
)
def test_malformed_input_is_a_row_error_with_file_and_line(tmp_path, content, origin, reason):
    drop(tmp_path / "drop", "bad.csv", content)
    found = read(tmp_path, columns={"order_number": "text", "sku": "text", "delivered_at": "datetime"})
    errors = [(o, e) for o, _, e in found if e is not None]
    assert len(errors) == 1, found
    assert errors[0][0] == origin and reason in errors[0][1]
    good = [o for o, _, e in found if e is None]
    assert all(o.startswith("bad.csv:") for o in good)


def test_a_header_that_does_not_match_rejects_the_whole_file(tmp_path):
    drop(tmp_path / "drop", "bad.csv", "order_number,sku,when\n" + rows(1, 2, 3))
    found = read(tmp_path, columns={"order_number": "text", "sku": "text", "delivered_at": "datetime"})
    assert len(found) == 1 and found[0][0] == "bad.csv:1" and found[0][2] is not None


def test_a_header_of_a_million_names_is_one_short_row_error(tmp_path):
    """A partner's header is read in linear time (a quadratic check of 200,000 names takes
    minutes) and the error names a few of them, not all."""
    names = [f"c{n}" for n in range(200_000)]
    columns = {"order_number": "text", "sku": "text", "delivered_at": "datetime"}
    drop(tmp_path / "drop", "wide.csv", ",".join(names) + "\n" + "1,2,3\n")
    drop(tmp_path / "drop", "twice.csv", ",".join([*names, "c7"]) + "\n", age=3000)
    found = read(tmp_path, columns=columns)
    assert [origin for origin, _, _ in found] == ["wide.csv:1", "twice.csv:1"]
    wide, twice = (error or "" for _, _, error in found)
    assert "not declared 'c0', 'c1', " in wide and "'c9' and 199990 more" in wide, wide[:300]
    assert len(wide) < 500, len(wide)
    assert twice == "the header names 'c7' more than once"


def test_a_row_short_of_a_wide_header_gets_a_short_error(tmp_path):
    """Without declared columns the header gives them; a row error names 20 of them, not all
    (each bad row of a 100,000-column file wrote 600 KB to errors.csv and the log)."""
    names = ["order_number", "sku", *(f"c{n}" for n in range(100_000))]
    drop(tmp_path / "drop", "wide.csv", ",".join(names) + "\n" + "1000,SKU1\n")
    [(origin, _, error)] = read(tmp_path)
    assert origin == "wide.csv:2"
    assert (
        error
        == "2 field(s), expected 100002 (order_number, sku, c0, "
        + ", ".join(f"c{n}" for n in range(1, 18))
        + " and 99982 more)"
    )


def test_reading_has_no_side_effects(project, sandbox):
    folder = setup(project)
    drop(folder, "a.csv", HEADER + rows(1, 2) + "1000,x\n")
    plan = project.cli("plan", "carrier")
    assert plan.exit_code == 1, plan.output  # a row fails to render
    assert "2  new" in plan.output and "1  failing to render" in plan.output
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv"]
    assert sandbox.records() == []


# -- after the run ----------------------------------------------------------------------------


def test_each_file_is_processed_once(project, sandbox):
    folder = setup(project)
    original = drop(folder, "day.csv", HEADER + rows(1, 2, 3)).read_bytes()
    first = project.cli("run", "carrier")
    assert first.exit_code == 0, first.output
    assert sorted(paths(sandbox)) == ["1000_SKU1", "1000_SKU2", "1000_SKU3"]
    assert not (folder / "day.csv").exists() and (folder / "archive" / "day.csv").read_bytes() == original

    second = project.cli("run", "carrier")
    assert second.exit_code == 0 and "read 0" in second.output

    # the same file dropped again is not read again, and is archived beside the first
    drop(folder, "day.csv", original)
    third = project.cli("run", "carrier")
    assert third.exit_code == 0 and "read 0" in third.output
    assert sorted(p.name for p in (folder / "archive").iterdir()) == ["day.2.csv", "day.csv"]
    assert not (folder / "day.csv").exists()

    # a file with the same name and new content is read: only its new rows are sent
    drop(folder, "day.csv", HEADER + rows(3, 4))
    fourth = project.cli("run", "carrier")
    assert fourth.exit_code == 0 and "new 1, changed 0, unchanged 1" in fourth.output
    assert sorted(paths(sandbox)) == ["1000_SKU1", "1000_SKU2", "1000_SKU3", "1000_SKU4"]
    assert len(list((folder / "archive").iterdir())) == 3


def test_the_issue_scenario_good_rows_once_bad_rows_reported_nothing_lost(project, sandbox):
    project.pipeline("carrier", PIPELINE % (", note: text", "{{ row.order_number }}_{{ row.sku }}"))
    folder = project.home / "drop"
    header = "order_number,sku,delivered_at,note\n"
    drop(
        folder,
        "good.csv",
        header + "".join(f"1000,G{n},2024-07-13 10:00:00,ok\n" for n in range(20)),
        age=5000,
    )
    lines = [f"2000,M{n},2024-07-13 11:00:00,ok\n" for n in range(100)]
    lines[9] = "2000,M9,2024-07-13 11:00:00\n"  # line 11: a field missing
    lines[49] = "2000,M49,yesterday,ok\n"  # line 51: not a date-time
    lines[89] = '2000,M89,2024-07-13 11:00:00,"o"k\n'  # line 91: text after a closing quote
    drop(folder, "mixed.csv", header + "".join(lines), age=4000)
    drop(
        folder, "truncated.csv", header + "3000,T1,2024-07-13 12:00:00,ok\n3000,T2,2024-07-13 12:0", age=3000
    )
    latin = header + "4000,L1,2024-07-13 13:00:00,Café\n4000,L2,2024-07-13 13:00:00,plain\n"
    drop(folder, "latin1.csv", latin, encoding="latin-1", age=2000)
    drop(folder, "writing.csv", header + "5000,W1,2024-07-13 14:00:00,ok\n", age=0)
    drop(folder, "coming.csv.part", header + "6000,P1,2024-07-13 14:00:00,ok\n")

    result = project.cli("run", "carrier")
    assert result.exit_code == 1  # row errors
    assert "row errors 5" in result.output
    expected = {f"1000_G{n}" for n in range(20)} | {f"2000_M{n}" for n in range(100) if n not in (9, 49, 89)}
    expected |= {"3000_T1", "4000_L2"}
    sent = paths(sandbox)
    assert len(sent) == len(set(sent)) and set(sent) == expected

    assert sorted(p.name for p in (folder / "archive").iterdir()) == ["good.csv"]
    rejected = folder / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "latin1.csv",
        "latin1.csv.errors.csv",
        "mixed.csv",
        "mixed.csv.errors.csv",
        "truncated.csv",
        "truncated.csv.errors.csv",
    ]
    mixed = report(rejected / "mixed.csv.errors.csv")
    assert [(r["file"], r["line"], r["column"]) for r in mixed] == [
        ("mixed.csv", "11", ""),
        ("mixed.csv", "51", "delivered_at"),
        ("mixed.csv", "91", ""),
    ]
    assert "3 field(s), expected 4" in mixed[0]["reason"]
    assert "'yesterday' is not a date-time" in mixed[1]["reason"]
    assert "malformed CSV" in mixed[2]["reason"]
    (truncated,) = report(rejected / "truncated.csv.errors.csv")
    assert truncated["line"] == "3" and "3 field(s), expected 4" in truncated["reason"]
    (latin1,) = report(rejected / "latin1.csv.errors.csv")
    assert latin1["line"] == "2" and "not valid UTF-8" in latin1["reason"]
    # nothing lost: every row of the read files was delivered or is in a report
    assert len(sent) + len(mixed) + 2 == 20 + 100 + 2 + 2

    errors = project.cli("history", "--errors", last_run(project)).output
    assert "5 row error(s)" in errors
    for origin in ("mixed.csv:11", "mixed.csv:51", "mixed.csv:91", "truncated.csv:3", "latin1.csv:2"):
        assert origin in errors
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["coming.csv.part", "writing.csv"]

    # the next run sends nothing new; once the incomplete file is complete, its rows arrive
    again = project.cli("run", "carrier")
    assert again.exit_code == 0 and "read 0" in again.output
    moment = time.time() - 60
    os.utime(folder / "writing.csv", (moment, moment))
    last = project.cli("run", "carrier")
    assert last.exit_code == 0, last.output
    assert len(paths(sandbox)) == len(expected) + 1 and "5000_W1" in paths(sandbox)
    assert (folder / "archive" / "writing.csv").exists()


def test_the_newer_file_wins_for_the_same_key(project, sandbox):
    folder = setup(project)
    drop(folder, "z-old.csv", HEADER + "1000,SKU1,2024-07-01 10:00:00\n" + rows(2), age=7200)
    drop(folder, "a-new.csv", HEADER + "1000,SKU1,2024-07-02 10:00:00\n", age=3600)
    plan = project.cli("plan", "carrier")
    assert "1  superseded by a newer file" in plan.output
    result = project.cli("run", "carrier")
    assert result.exit_code == 0, result.output
    records = sandbox.records("order_item_delivery")
    assert sorted(paths(sandbox)) == ["1000_SKU1", "1000_SKU2"]
    (sku1,) = [r for r in records if r["path_params"]["order_item_number"] == "1000_SKU1"]
    assert sku1["body"]["delivered_at"] == "2024-07-02T10:00:00+00:00"
    assert sorted(p.name for p in (folder / "archive").iterdir()) == ["a-new.csv", "z-old.csv"]


def test_a_file_whose_rows_hg_rejects_is_moved_aside_with_a_report(project, sandbox):
    folder = setup(project, extra=", proof: text")
    pipeline = project.home / "pipelines" / "carrier.yaml"
    # an extra field the model lets through (extras are open) and the sandbox checks: a date-time
    # field without an offset
    pipeline.write_text(
        pipeline.read_text().replace('iso8601 }}"', 'iso8601 }}"\n    proof_date: "{{ row.proof }}"')
    )
    body = "order_number,sku,delivered_at,proof\n"
    body += "1000,A,2024-07-13 10:00:00,2024-07-13T10:00:00Z\n1000,B,2024-07-13 10:00:00,13.07.2024\n"
    drop(folder, "hg.csv", body)
    result = project.cli("run", "carrier")
    assert result.exit_code == 1
    assert "delivered 1, rejected 1" in result.output
    (line,) = report(folder / "rejected" / "hg.csv.errors.csv")
    assert line["file"] == "hg.csv" and line["line"] == "3"
    assert "proof_date: must be an ISO 8601 date-time" in line["reason"]  # HG's own words
    assert "proof_date" in project.cli("history", "--failing").output

    # dropped again as it was, a rejected file is read again: nothing is sent twice
    drop(folder, "hg.csv", body)
    again = project.cli("run", "carrier")
    assert "sent 0" in again.output and "still rejected 1" in again.output
    assert len(paths(sandbox)) == 1
    assert (folder / "rejected" / "hg.2.csv.errors.csv").exists()


def test_a_file_with_requests_still_failing_stays_for_the_next_run(project, sandbox):
    folder = setup(project)
    drop(folder, "day.csv", HEADER + rows(1, 2))
    sandbox.set_faults(Faults(rate_500=1.0, seed=1))
    result = project.cli("run", "carrier")
    assert result.exit_code == 1 and "failed after retries 2" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["day.csv"]

    sandbox.set_faults(Faults())
    again = project.cli("run", "carrier")
    assert again.exit_code == 0, again.output
    assert sorted(paths(sandbox)) == ["1000_SKU1", "1000_SKU2"]
    assert (folder / "archive" / "day.csv").exists()


def test_a_run_stopped_before_the_end_moves_nothing(project, sandbox):
    folder = setup(project)
    drop(folder, "small.csv", HEADER + rows(1), age=7200)  # read first, so sent first, and delivered
    drop(folder, "big.csv", HEADER + rows(*range(2, 52)))
    loaded = load_project(project.home)
    state = StateStore(resolve_url(loaded.settings.state, loaded.home))
    try:
        stop = asyncio.Event()
        result = asyncio.run(
            run_pipeline(loaded, "carrier", state, stop=stop, on_outcome=lambda _row, _outcome: stop.set())
        )
    finally:
        state.close()
    assert result.status == "interrupted"
    assert "1000_SKU1" in paths(sandbox) and len(paths(sandbox)) < 51
    assert sorted(p.name for p in folder.iterdir()) == ["big.csv", "small.csv"]  # even the one all delivered

    finished = project.cli("run", "carrier")
    assert finished.exit_code == 0, finished.output
    sent = paths(sandbox)
    assert len(sent) == len(set(sent)) == 51
    assert sorted(p.name for p in (folder / "archive").iterdir()) == ["big.csv", "small.csv"]


def test_reports_use_the_reasons_the_engine_gives(tmp_path):
    drop(tmp_path / "drop", "f.csv", "a,n\nx,1\ny,z\nw,3\n")
    src = source(tmp_path, columns={"a": "text", "n": "integer"})
    assert len(list(src.read())) == 3
    errors = [
        ("f.csv", "f.csv:3", "column 'n': 'z' is not an integer"),
        ("f.csv", "f.csv:4", "HTTP 400: order_item_number: must be order_number + '_' + sku"),
    ]
    src.finish({"f.csv": {"delivered": 1, "error": 1, "rejected": 1}}, complete=True, errors=errors)
    lines = report(tmp_path / "drop" / "rejected" / "f.csv.errors.csv")
    assert [(r["line"], r["column"], r["reason"]) for r in lines] == [
        ("3", "n", errors[0][2]),
        ("4", "", errors[1][2]),
    ]


# -- configuration ----------------------------------------------------------------------------


def test_a_missing_folder_and_bad_options_are_reported_before_any_read(project, sandbox):
    project.pipeline("carrier", PIPELINE % ("", "{{ row.order_number }}_{{ row.sku }}"))
    project.pipeline(
        "broken",
        """\
        source:
          csv:
            folder: drop
            encoding: utf-16
            header: false
            columns: {a: number}
        key: "{{ row.a }}"
        operation: order_item_delivery
        request:
          path: {order_number: "{{ row.a }}", order_item_number: "{{ row.a }}_x"}
          body: {delivered_at: "{{ row.a }}"}
        """,
    )
    result = project.cli("validate")
    assert result.exit_code == 2
    assert "pipelines/carrier.yaml:3:13 source.csv.folder: the drop folder" in result.output
    assert "does not exist" in result.output
    assert "encoding 'utf-16' is not supported" in result.output
    assert (
        "source.csv.columns" in result.output
        and "'text', 'integer', 'decimal' or 'datetime'" in result.output
    )


def test_declared_columns_are_checked_against_the_templates(project, sandbox):
    setup(project)
    project.pipeline("carrier", PIPELINE % ("", "{{ row.order_number }}_{{ row.skuu }}"))
    result = project.cli("validate")
    assert result.exit_code == 2
    assert "unknown column 'skuu'" in result.output


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"header": False}, "without a header, declare the columns"),
        ({"encoding": "nope"}, "unknown encoding 'nope'"),
        ({"pattern": "sub/*.csv"}, "without folders"),
        ({"delimiter": '"'}, "other than a newline and the quotechar"),
        ({"columns": [{"name": "a"}, {"name": "a"}]}, "'a' declared more than once"),
    ],
)
def test_config_errors(config, message):
    with pytest.raises(ValueError, match=message):
        CsvSourceConfig.model_validate({"folder": "drop", **config})
