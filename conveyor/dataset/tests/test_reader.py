"""Cell parsers of the importer and the SQLite time format it writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from conveyor.dataset.bulk import Db
from conveyor.dataset.reader import (
    BadValue,
    parse_bool,
    parse_choice,
    parse_datetime,
    parse_money,
    parse_month,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("12", Decimal("12.00")), (" 1000.5 ", Decimal("1000.50")), ("7.000", Decimal("7.00"))],
)
def test_money_reads_non_negative_amounts_with_cents(raw: str, value: Decimal) -> None:
    assert parse_money(raw) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "'abc' is not a number"),
        ("-1", "'-1' is negative"),
        ("1.005", "'1.005' has more than 2 decimal places"),
        ("NaN", "'NaN' is not a number"),
        ("", "a number is required"),
    ],
)
def test_money_refuses_what_is_not_an_amount(raw: str, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        parse_money(raw)


def test_money_default_stands_for_an_empty_cell() -> None:
    assert parse_money("", default=Decimal(0)) == Decimal(0)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("YES", True), ("1", True), ("false", False), ("no", False), ("", False)],
)
def test_bool_accepts_the_usual_spellings(raw: str, value: bool) -> None:
    assert parse_bool(raw) is value


def test_bool_refuses_anything_else() -> None:
    with pytest.raises(BadValue, match="'maybe' is not a boolean"):
        parse_bool("maybe")


def test_datetime_needs_an_offset() -> None:
    assert parse_datetime("2026-01-05T09:00:00+02:00") == dt.datetime(2026, 1, 5, 7, tzinfo=dt.UTC)
    assert parse_datetime("2026-01-05T09:00:00Z").tzinfo is not None
    with pytest.raises(BadValue, match="has no UTC offset"):
        parse_datetime("2026-01-05T09:00:00")
    with pytest.raises(BadValue, match="is not an ISO 8601 date-time"):
        parse_datetime("05.01.2026")


@pytest.mark.parametrize("raw", ["2026-03", "2026-03-01"])
def test_month_is_the_first_day(raw: str) -> None:
    assert parse_month(raw) == dt.date(2026, 3, 1)


@pytest.mark.parametrize("raw", ["2026-03-02", "2026-13", "March"])
def test_month_refuses_other_days_and_junk(raw: str) -> None:
    with pytest.raises(BadValue, match="is not a month"):
        parse_month(raw)


def test_choice_names_the_allowed_values() -> None:
    with pytest.raises(BadValue, match="'x' is not one of a, b"):
        parse_choice("x", ("a", "b"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text",
    [
        "2026-01-05T09:00:00+00:00",
        "2026-01-05 09:00:00Z",
        "2026-01-05T09:00:00.25+00:00",
        "2026-01-05T23:30:00-05:00",
        "20260105T090000.123+00:00",
    ],
)
def test_times_are_stored_as_django_stores_them(text: str) -> None:
    value = dt.datetime.fromisoformat(text)
    db = Db(connection)
    try:
        assert db.datetime(value, text) == connection.ops.adapt_datetimefield_value(value)
    finally:
        db.close()
