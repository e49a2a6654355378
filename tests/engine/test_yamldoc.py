"""YAML loaded with the line and column of every key and value, and ${env:...} filled in."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.definitions.yamldoc import YamlDoc, format_loc, load_yaml, parse_yaml
from engine.errors import Problem
from engine.logging import redact_text


def parse(text: str, environ: dict[str, str] | None = None) -> YamlDoc:
    return parse_yaml(textwrap.dedent(text), YamlDoc("p.yaml", None), environ=environ or {})


DOC = """\
source:
  sql:
    connection: marketplace
    table: cancels
key: "{{ row.sku }}"
request:
  body:
    items:
      - sku: A
        qty: 2
      - {sku: B, qty: 3}
    reason: |
      first line
        second line
"""


def test_positions_of_values_and_keys():
    doc = parse(DOC)
    assert doc.problems == []
    assert doc.values[("source", "sql", "connection")] == (3, 17)
    assert doc.keys[("source", "sql", "connection")] == (3, 5)
    assert doc.values[("key",)] == (5, 6)
    assert doc.keys[("key",)] == (5, 1)
    assert doc.values[("request", "body", "items", 0, "qty")] == (10, 14)
    assert doc.values[("request", "body", "items", 1)] == (11, 9)
    assert doc.values[("request", "body", "items", 1, "qty")] == (11, 23)
    assert doc.keys[("request", "body", "items", 1, "qty")] == (11, 18)
    assert doc.values[()] == (1, 1)


def test_where_places_scalars_at_the_value_and_collections_at_their_key():
    doc = parse(DOC)
    assert doc.where(("key",)) == (5, 6)
    assert doc.where(("key",), key=True) == (5, 1)
    assert doc.where(("source", "sql")) == (2, 3)  # the `sql:` key, not `connection:` below it
    assert doc.where(("request", "body", "items")) == (8, 5)
    assert doc.where(("request", "body", "items", 0)) == (9, 9)  # a list item has no key: its start
    assert doc.where(("request", "body", "items", 1)) == (11, 9)


def test_where_falls_back_to_the_nearest_parent():
    doc = parse(DOC)
    assert doc.where(("source", "sql", "nope")) == (2, 3)
    assert doc.where(("request", "body", "items", 7, "sku")) == (8, 5)
    assert doc.where(("nope",)) == (1, 1)
    assert doc.where(()) == (1, 1)


def test_literal_blocks_record_where_their_text_starts():
    doc = parse(DOC)
    assert doc.values[("request", "body", "reason")] == (12, 13)  # the `|`
    assert doc.blocks == {("request", "body", "reason"): (13, 7)}  # `first line`
    assert doc.data["request"]["body"]["reason"] == "first line\n  second line\n"


def test_literal_block_starting_with_blank_lines_and_a_header_comment():
    doc = parse("a: |2  # two spaces\n\n    x\n")
    assert doc.blocks == {("a",): (2, 5)}
    assert doc.data["a"] == "\n  x\n"


def test_problem_carries_file_line_column_and_path():
    doc = parse(DOC)
    problem = doc.problem(("request", "body", "items", 0, "qty"), "not a number")
    assert problem == Problem("p.yaml", 10, 14, "request.body.items[0].qty", "not a number")
    assert str(problem) == "p.yaml:10:14 request.body.items[0].qty: not a number"
    warning = doc.problem(("key",), "odd", key=True, severity="warning")
    assert str(warning) == "p.yaml:5:1 warning: key: odd"


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        ((), ""),
        (("a",), "a"),
        (("request", "body", "items", 0, "sku"), "request.body.items[0].sku"),
        ((0, "a"), "[0].a"),
        (("a", 1, 2), "a[1][2]"),
    ],
)
def test_format_loc(loc, text):
    assert format_loc(loc) == text


# -- ${env:...} -------------------------------------------------------------------------------


def test_env_variables_are_filled_in():
    doc = parse(
        """\
        url: ${env:DB_URL}
        id: client-${env:HG_ID}-x
        both: ${env:A}${env:B}
        number: ${env:N}
        """,
        {"DB_URL": "sqlite:///x.db", "HG_ID": "42", "A": "a", "B": "b", "N": "7"},
    )
    assert doc.problems == []
    assert doc.data == {"url": "sqlite:///x.db", "id": "client-42-x", "both": "ab", "number": "7"}


def test_env_defaults_apply_only_when_the_variable_is_unset():
    text = """\
        a: ${env:A:-fallback}
        b: ${env:B:-}
        c: ${env:C:-sqlite:///demo/marketplace.db}
        """
    assert parse(text).data == {"a": "fallback", "b": "", "c": "sqlite:///demo/marketplace.db"}
    assert parse(text, {"A": "set", "B": "x", "C": ""}).data == {"a": "set", "b": "x", "c": ""}


def test_an_unset_variable_is_a_problem_at_its_value_naming_the_variable():
    doc = parse(
        """\
        targets:
          hg:
            client_secret: ${env:HG_SECRET}
            client_id: ${env:HG_ID:-x}
        """
    )
    assert [str(p) for p in doc.problems] == [
        "p.yaml:3:20 targets.hg.client_secret: environment variable HG_SECRET is not set; "
        "set it, or give a default as ${env:HG_SECRET:-value}"
    ]
    assert doc.unset == {("targets", "hg", "client_secret")}
    assert doc.data["targets"]["hg"] == {"client_secret": "", "client_id": "x"}


def test_env_in_keys_and_non_text_values_is_left_alone():
    doc = parse("${env:K}: 1\nn: 5\nflag: true\n", {"K": "nope"})
    assert doc.data == {"${env:K}": 1, "n": 5, "flag": True}


def test_values_of_secret_variables_are_redacted_from_logs():
    parse("client_secret: ${env:HG_CLIENT_SECRET}\n", {"HG_CLIENT_SECRET": "s3cr3t-from-env-1"})
    parse("password_of_db: ${env:PLAIN}\n", {"PLAIN": "plain-but-secret-key-2"})
    parse("colour: ${env:COLOUR}\n", {"COLOUR": "not-a-secret-blue-3"})
    assert redact_text("a s3cr3t-from-env-1 b") == "a *** b"
    assert redact_text("plain-but-secret-key-2") == "***"
    assert redact_text("not-a-secret-blue-3") == "not-a-secret-blue-3"


# -- problems ---------------------------------------------------------------------------------


def test_duplicate_keys_are_reported_at_the_second_one():
    doc = parse(
        """\
        a: 1
        b:
          c: 2
          c: 3
        a: 4
        """
    )
    assert [str(p) for p in doc.problems] == [
        "p.yaml:4:3 b.c: key given twice",
        "p.yaml:5:1 a: key given twice",
    ]
    assert doc.data == {"a": 4, "b": {"c": 3}}  # still built, so other checks can run


def test_keys_that_are_not_plain_text():
    doc = parse("? [a, b]\n: 1\nok: 2\n")
    assert [str(p) for p in doc.problems] == ["p.yaml:1:3 keys must be plain text"]
    assert doc.data == {"ok": 2}


def test_numbers_and_booleans_as_keys_become_text():
    doc = parse("200: ok\ntrue: x\n")
    assert doc.data == {"200": "ok", "True": "x"}
    assert doc.values[("200",)] == (1, 6)


def test_syntax_errors_say_where_and_what_was_open():
    doc = parse('a: "open\nb: 1\n')
    assert doc.data is None
    assert [str(p) for p in doc.problems] == [
        "p.yaml:3:1 YAML syntax: found unexpected end of stream (while scanning a quoted scalar that starts at 1:4)"
    ]


def test_syntax_error_without_context():
    doc = parse("a: b: c\n")
    assert [str(p) for p in doc.problems] == ["p.yaml:1:5 YAML syntax: mapping values are not allowed here"]


def test_unknown_tags_are_problems():
    doc = parse("a: !python/object:os.system x\n")
    assert doc.data is None
    assert len(doc.problems) == 1
    assert doc.problems[0].line == 1
    assert "could not determine a constructor for the tag" in doc.problems[0].message


def test_top_level_that_is_not_a_mapping_is_returned_as_is():
    assert parse("- a\n- b\n").data == ["a", "b"]
    assert parse("just text\n").data == "just text"


def test_an_empty_file_is_an_empty_mapping():
    doc = parse("# only a comment\n")
    assert doc.data == {}
    assert doc.problems == []


def test_anchors_and_merge_keys():
    doc = parse(
        """\
        base: &b {x: 1, y: 2}
        more:
          <<: *b
          y: 3
        """
    )
    assert doc.problems == []  # overriding a merged key is not giving it twice
    assert doc.data["more"] == {"x": 1, "y": 3}
    assert doc.values[("more", "x")] == (1, 14)  # where the merged value is written
    assert doc.values[("more", "y")] == (4, 6)


def test_a_key_given_twice_next_to_a_merge_is_still_reported():
    doc = parse("base: &b {x: 1}\nmore:\n  <<: *b\n  y: 2\n  y: 3\n")
    assert [str(p) for p in doc.problems] == ["p.yaml:5:3 more.y: key given twice"]


# -- files ------------------------------------------------------------------------------------


def test_load_yaml_reads_a_file_with_a_bom(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffa: 1\nb: ${env:X:-two}\n".encode())
    doc = load_yaml(path, environ={}, display="pipelines/bom.yaml")
    assert doc.problems == []
    assert doc.data == {"a": 1, "b": "two"}
    assert doc.keys[("a",)] == (1, 1)  # the BOM does not shift columns
    assert doc.file == "pipelines/bom.yaml"


def test_load_yaml_with_windows_line_ends_keeps_positions(tmp_path: Path):
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"a: 1\r\nb: |\r\n  x {{ y\r\n  z\r\n")
    doc = load_yaml(path, environ={})
    assert doc.values[("b",)] == (2, 4)
    assert doc.blocks[("b",)] == (3, 3)


def test_load_yaml_of_a_file_that_cannot_be_read(tmp_path: Path):
    missing = load_yaml(tmp_path / "nope.yaml")
    assert missing.data is None
    assert missing.problems[0].message.startswith("cannot read the file:")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("a: caf\xe9\n".encode("latin-1"))
    doc = load_yaml(latin1)
    assert doc.data is None
    assert str(doc.problems[0]) == f"{latin1}:1:7 not UTF-8 text (byte 0xe9); save the file as UTF-8"
