"""The Jinja filters, each on its own: what they make of good input, and how they refuse bad input."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.mapping.filters import (
    FILTERS,
    convert,
    from_json,
    iso8601,
    money,
    require,
    to_decimal,
    to_int,
    usd,
)
from engine.mapping.render import ENV


def test_every_filter_is_registered_in_the_template_environment():
    assert set(FILTERS) == {"money", "usd", "convert", "iso8601", "from_json", "to_int", "decimal", "require"}
    for name, function in FILTERS.items():
        assert ENV.filters[name].__wrapped__ is function  # inside its guard (engine.mapping.limits)


# -- decimal ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, Decimal("3")),
        (0.1, Decimal("0.1")),  # by repr, not by binary value
        (2.675, Decimal("2.675")),
        (" 1.50 ", Decimal("1.50")),
        ("-7", Decimal("-7")),
        ("1e3", Decimal("1E+3")),
        (Decimal("9.99"), Decimal("9.99")),
    ],
)
def test_decimal(value, expected):
    result = to_decimal(value)
    assert result == expected and str(result) == str(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "expected a number, got None"),
        (True, "expected a number, got True"),
        ("", "expected a number, got ''"),
        ("1,234.5", "expected a number, got '1,234.5'"),
        ("twelve", "expected a number, got 'twelve'"),
        ("nan", "expected a finite number, got 'nan'"),
        (float("inf"), "expected a finite number, got inf"),
        (Decimal("-Infinity"), "expected a finite number"),
        ([1], "expected a number, got list [1]"),
    ],
)
def test_decimal_refuses(value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        to_decimal(value)


# -- money, usd, convert ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (2.675, 2, "2.68"),  # half up, though 2.675 is 2.67499... in binary
        (24.975, 2, "24.98"),
        ("0.125", 2, "0.13"),
        (-2.675, 2, "-2.68"),  # halves away from zero
        (2.674, 2, "2.67"),
        (10, 2, "10.00"),
        (2.5, 0, "3"),
        (1.2345, 3, "1.235"),
        (Decimal("1.005"), 2, "1.01"),
    ],
)
def test_money(value, places, expected):
    assert str(money(value, places)) == expected


def test_money_refuses_what_is_not_a_number():
    with pytest.raises(ValueError, match="expected a number, got 'ten'"):
        money("ten")


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        (24.97, 1.05, "23.78"),  # HG's example: 24.97 EUR at 1.05
        (Decimal("24.97"), Decimal("1.05"), "23.78"),
        ("1000", "34.2", "29.24"),
        (10, 1, "10.00"),
    ],
)
def test_usd(amount, rate, expected):
    assert str(usd(amount, rate)) == expected


def test_usd_places():
    assert str(usd(10, 3, 4)) == "3.3333"


@pytest.mark.parametrize(("rate", "message"), [(0, "above 0, got 0"), (-1.05, "above 0, got -1.05")])
def test_usd_refuses_rates_that_are_not_above_zero(rate, message):
    with pytest.raises(ValueError, match=f"an exchange rate must be {message}"):
        usd(10, rate)


def test_usd_refuses_a_rate_that_is_not_a_number():
    with pytest.raises(ValueError, match="expected a number, got None"):
        usd(10, None)


def test_convert():
    assert str(convert(1000, "0.0292")) == "29.20"
    assert str(convert(2.5, 3, 0)) == "8"  # 7.5 rounds up
    with pytest.raises(ValueError, match="expected a number, got 'x'"):
        convert(1, "x")


# -- iso8601 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("2017-10-02 10:56:33", "UTC", "2017-10-02T10:56:33+00:00"),
        ("2017-10-02 10:56:33", "Europe/Istanbul", "2017-10-02T10:56:33+03:00"),
        ("2024-01-15 12:00:00", "Europe/Berlin", "2024-01-15T12:00:00+01:00"),  # winter time
        ("2024-07-15 12:00:00", "Europe/Berlin", "2024-07-15T12:00:00+02:00"),  # summer time
        ("2017-10-02T10:56:33Z", "Europe/Istanbul", "2017-10-02T10:56:33+00:00"),
        ("2017-10-02T10:56:33-05:00", "UTC", "2017-10-02T10:56:33-05:00"),
        ("2017-10-02 10:56:33.987654", "UTC", "2017-10-02T10:56:33+00:00"),
        ("2017-10-02", "UTC", "2017-10-02T00:00:00+00:00"),
        ("  2017-10-02 10:56  ", "UTC", "2017-10-02T10:56:00+00:00"),
        (datetime(2017, 10, 2, 10, 56, 33, 500), "UTC", "2017-10-02T10:56:33+00:00"),
        (
            datetime(2017, 10, 2, 10, 56, 33, tzinfo=timezone(timedelta(hours=3))),
            "UTC",
            "2017-10-02T10:56:33+03:00",
        ),
        (datetime(2017, 10, 2, 10, 56, 33, tzinfo=UTC), "Asia/Tokyo", "2017-10-02T10:56:33+00:00"),
        (date(2017, 10, 2), "Europe/Istanbul", "2017-10-02T00:00:00+03:00"),
        (0, "UTC", "1970-01-01T00:00:00+00:00"),  # a Unix timestamp
    ],
)
def test_iso8601(value, tz, expected):
    assert iso8601(value, tz) == expected


def test_iso8601_default_zone_is_utc():
    assert iso8601("2017-10-02 10:56:33") == "2017-10-02T10:56:33+00:00"


@pytest.mark.parametrize(
    "value", ["yesterday", "02/10/2017", "2017-13-01", "", None, True, b"2017-10-02", [2017]]
)
def test_iso8601_refuses_what_is_not_a_date(value):
    with pytest.raises(ValueError, match=r"^expected a date-time like 2024-07-13 16:01:26, got "):
        iso8601(value)


@pytest.mark.parametrize("tz", ["Europe/Istambul", "", "../../etc/passwd", "UTC+3"])
def test_iso8601_refuses_unknown_time_zones(tz):
    with pytest.raises(ValueError, match="^unknown time zone"):
        iso8601("2017-10-02 10:56:33", tz)


# -- from_json --------------------------------------------------------------------------------


def test_from_json():
    assert from_json('[{"sku": "A", "price": 24.97, "qty": 2}]') == [
        {"sku": "A", "price": Decimal("24.97"), "qty": 2}
    ]
    assert isinstance(from_json('{"p": 0.1}')["p"], Decimal)  # no binary rounding on the way
    assert from_json(b'{"a": null}') == {"a": None}
    assert from_json([1, 2]) == [1, 2]  # a driver that already parsed JSON columns
    assert from_json({"a": 1}) == {"a": 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[1, 2", "not valid JSON: Expecting ',' delimiter at position 5"),
        ("", "not valid JSON: Expecting value at position 0"),
        (None, "expected JSON text, got NoneType"),
        (3, "expected JSON text, got int"),
    ],
)
def test_from_json_refuses(value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        from_json(value)


# -- to_int, require --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3), (3.0, 3), (Decimal("4.00"), 4), (" -2 ", -2), (7, 7)]
)
def test_to_int(value, expected):
    result = to_int(value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3.5", "expected a whole number, got '3.5'"),
        (2.25, "expected a whole number, got 2.25"),
        ("three", "expected a number, got 'three'"),
        (None, "expected a number, got None"),
        (False, "expected a number, got False"),
    ],
)
def test_to_int_refuses(value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        to_int(value)


@pytest.mark.parametrize("value", ["A1", 0, False, [], " x "])
def test_require_passes_values_that_are_there(value):
    assert require(value, "sku") is value


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_require_refuses_empty_values(value):
    with pytest.raises(ValueError, match="^sku is empty$"):
        require(value, "sku")
    with pytest.raises(ValueError, match="^value is empty$"):
        require(value)


# -- in templates -----------------------------------------------------------------------------


def test_filters_chain_in_a_template():
    template = ENV.compile_expression("row.total | usd(row.rate) | money(0)")
    assert template(row={"total": "24.97", "rate": "1.05"}) == Decimal("24")
