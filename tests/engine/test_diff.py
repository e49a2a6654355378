"""What a row's request means against what was delivered: fingerprints, verdicts, changes."""

from __future__ import annotations

import hashlib

import pytest

from engine.outbound.diff import SEND, canonical, changes, classify, fingerprint
from engine.store import KeyState

A, B = "fingerprint-a", "fingerprint-b"


def state(status: str, delivered: str | None, attempted: str | None) -> KeyState:
    """A key's state: its status, the fingerprint last delivered, the fingerprint last tried."""
    return KeyState("k1", status, delivered, attempted, attempts=1, last_error=None)


# (mode, state, new fingerprint, retry_failed, verdict)
TABLE = [
    # never seen: new, whatever the mode
    ("insert", None, A, False, "new"),
    ("upsert", None, A, False, "new"),
    ("insert", None, A, True, "new"),
    # delivered: insert sends each key once; upsert sends it again when the request changed
    ("insert", state("delivered", A, A), A, False, "unchanged"),
    ("insert", state("delivered", A, A), B, False, "unchanged"),
    ("insert", state("delivered", A, A), B, True, "unchanged"),
    ("upsert", state("delivered", A, A), A, False, "unchanged"),
    ("upsert", state("delivered", A, A), A, True, "unchanged"),
    ("upsert", state("delivered", A, A), B, False, "changed"),
    # failed after every retry, or left `sending` by a run that stopped: retry, same or not
    ("insert", state("failed", None, A), A, False, "retry"),
    ("insert", state("failed", None, A), B, False, "retry"),
    ("upsert", state("failed", None, A), A, False, "retry"),
    ("upsert", state("failed", None, A), B, True, "retry"),
    ("insert", state("sending", None, A), A, False, "retry"),
    ("upsert", state("sending", None, A), B, False, "retry"),
    ("upsert", state("failed", A, B), B, False, "retry"),  # a change that failed
    ("upsert", state("sending", A, B), B, False, "retry"),
    # ...but in insert mode a key delivered once is done, whatever happened after
    ("insert", state("failed", A, B), B, False, "unchanged"),
    ("insert", state("sending", A, B), B, False, "unchanged"),
    ("insert", state("rejected", A, B), B, True, "unchanged"),
    # rejected by HG: not sent again unless the request changed or --retry-failed
    ("insert", state("rejected", None, A), A, False, "rejected"),
    ("insert", state("rejected", None, A), A, True, "retry"),
    ("insert", state("rejected", None, A), B, False, "changed"),
    ("upsert", state("rejected", None, A), A, False, "rejected"),
    ("upsert", state("rejected", None, A), A, True, "retry"),
    ("upsert", state("rejected", None, A), B, False, "changed"),
    ("upsert", state("rejected", A, B), B, False, "rejected"),  # a change HG refused
    ("upsert", state("rejected", A, B), B, True, "retry"),
    # A was delivered, the change to B was rejected, the row is back to A: HG still has A
    ("upsert", state("rejected", A, B), A, False, "unchanged"),
    ("upsert", state("failed", A, B), A, False, "retry"),  # B may have arrived: send A to be sure
]


@pytest.mark.parametrize(("mode", "known", "new", "retry_failed", "verdict"), TABLE)
def test_classify(mode, known, new, retry_failed, verdict):
    assert classify(mode, known, new, retry_failed=retry_failed) == verdict


def test_which_verdicts_are_sent():
    assert set(SEND) == {"new", "changed", "retry"}


# -- fingerprints -----------------------------------------------------------------------------


def test_fingerprint_ignores_key_order_and_is_stable():
    one = fingerprint("cancel_order_item", {"a": "1", "b": "2"}, {"reason": "x", "items": [1, 2]})
    two = fingerprint("cancel_order_item", {"b": "2", "a": "1"}, {"items": [1, 2], "reason": "x"})
    assert one == two
    # pinned: a fingerprint that changed between versions would re-send every upsert key
    assert fingerprint("op", {"a": "1"}, None) == hashlib.sha256(b'["op",{"a":"1"},null]').hexdigest()


@pytest.mark.parametrize(
    ("operation", "params", "body"),
    [
        ("create_refund", {"a": "1"}, {"reason": "x", "items": [1, 2]}),  # another operation
        ("cancel_order_item", {"a": "2"}, {"reason": "x", "items": [1, 2]}),  # another path
        ("cancel_order_item", {"a": "1"}, {"reason": "y", "items": [1, 2]}),  # another body
        ("cancel_order_item", {"a": "1"}, {"reason": "x", "items": [2, 1]}),  # list order matters
        ("cancel_order_item", {"a": "1"}, {"reason": "x", "items": [1, 2], "extra": None}),
        ("cancel_order_item", {"a": "1"}, {"reason": "x", "items": [1, "2"]}),  # types matter
    ],
)
def test_fingerprint_changes_with_the_request(operation, params, body):
    base = fingerprint("cancel_order_item", {"a": "1"}, {"reason": "x", "items": [1, 2]})
    assert fingerprint(operation, params, body) != base


def test_canonical_json():
    assert canonical({"b": 1, "a": ["ş", None, True, 1.5]}) == '{"a":["ş",null,true,1.5],"b":1}'


# -- changes ----------------------------------------------------------------------------------


def test_changes_one_line_per_leaf():
    old = {
        "path": {"order_number": "1"},
        "body": {"reason": "a", "items": [{"qty": 1, "sku": "X"}], "note": "gone", "n": 1},
    }
    new = {
        "path": {"order_number": "1"},
        "body": {"reason": "b", "items": [{"qty": 2, "sku": "X"}], "extra": {"k": True}, "n": 1.0},
    }
    assert changes(old, new) == [
        'body.extra: added {"k": true}',
        "body.items[0].qty: 1 → 2",
        "body.n: 1 → 1.0",
        'body.note: removed (was "gone")',
        'body.reason: "a" → "b"',
    ]


def test_no_changes():
    value = {"a": [1, {"b": None}], "c": "ş"}
    assert changes(value, {"c": "ş", "a": [1, {"b": None}]}) == []


def test_lists_of_another_length_change_as_a_whole():
    assert changes({"items": [1, 2]}, {"items": [1, 2, 3]}) == ["items: [1, 2] → [1, 2, 3]"]


def test_changes_of_whole_values_and_types():
    assert changes("a", "b") == ['value: "a" → "b"']
    assert changes({"a": 1}, [1]) == ['value: {"a": 1} → [1]']
    assert changes({"a": None}, {"a": {}}) == ["a: null → {}"]
    assert changes({"a": True}, {"a": 1}) == ["a: true → 1"]


def test_long_values_are_cut():
    (line,) = changes({"label": "x" * 200}, {"label": "y"})
    assert line == f'label: "{"x" * 76}... → "y"'
