"""Cells of CRM exports: amounts, dates, statuses, contacts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pytest_django import Settings

from conveyor.core.phones import normalize_phone
from conveyor.intake.crm_import.values import (
    BadValue,
    first_of_list,
    parse_amount,
    parse_email,
    parse_status,
    parse_when,
    phone_e164,
    split_contact,
)

SOFIA = ZoneInfo("Europe/Sofia")


@pytest.mark.parametrize(
    ("raw", "amount", "currency"),
    [
        ("", "0", ""),
        ("1234", "1234", ""),
        ("1 234,50", "1234.50", ""),
        ("1\xa0234,5", "1234.50", ""),
        ("1,234.50", "1234.50", ""),
        ("1.234,50", "1234.50", ""),
        ("1,234", "1234", ""),
        ("1,234,567", "1234567", ""),
        ("12,5", "12.50", ""),
        ("0,125", "0.13", ""),
        ("€1,250.00", "1250.00", "EUR"),
        ("150 000 ₽", "150000", "RUB"),
        ("150 000 руб.", "150000", "RUB"),  # noqa: RUF001
        ("2 500 лв", "2500", "BGN"),
        ("USD 1,200", "1200", "USD"),
        ("1200 eur", "1200", "EUR"),
        ("1'234.50", "1234.50", ""),
    ],
)
def test_amounts_as_exports_write_them(raw: str, amount: str, currency: str) -> None:
    assert parse_amount(raw) == (Decimal(amount), currency)


@pytest.mark.parametrize(
    ("raw", "message"),
    [("abc", "is not an amount"), ("-5", "is negative"), ("1e30", "is not an amount")],
)
def test_bad_amounts_say_why(raw: str, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        parse_amount(raw)


def test_too_large_amount_is_refused() -> None:
    with pytest.raises(BadValue, match="too large"):
        parse_amount("1000000000000")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-31", dt.datetime(2026, 1, 31, tzinfo=SOFIA)),
        ("2026-01-31 14:05", dt.datetime(2026, 1, 31, 14, 5, tzinfo=SOFIA)),
        ("2026-01-31 14:05:07", dt.datetime(2026, 1, 31, 14, 5, 7, tzinfo=SOFIA)),
        ("2026-01-31T14:05:07Z", dt.datetime(2026, 1, 31, 14, 5, 7, tzinfo=dt.UTC)),
        (
            "2026-01-31T14:05:07+03:00",
            dt.datetime(2026, 1, 31, 11, 5, 7, tzinfo=dt.UTC),
        ),
        ("31.01.2026", dt.datetime(2026, 1, 31, tzinfo=SOFIA)),
        ("31.01.2026 14:05", dt.datetime(2026, 1, 31, 14, 5, tzinfo=SOFIA)),
        ("1.2.2026 9:05:07", dt.datetime(2026, 2, 1, 9, 5, 7, tzinfo=SOFIA)),
        ("01/31/2026", dt.datetime(2026, 1, 31, tzinfo=SOFIA)),
        ("31/01/2026 08:00", dt.datetime(2026, 1, 31, 8, tzinfo=SOFIA)),
        ("05/05/2026", dt.datetime(2026, 5, 5, tzinfo=SOFIA)),
    ],
)
def test_dates_are_read_in_the_account_zone(raw: str, expected: dt.datetime) -> None:
    value = parse_when(raw, SOFIA)
    assert value == expected
    assert value.tzinfo is not None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("03/04/2026", "could be day/month or month/day"),
        ("31.02.2026", "not a valid date"),
        ("yesterday", "is not a date"),
    ],
)
def test_bad_dates_say_why(raw: str, message: str) -> None:
    with pytest.raises(BadValue, match=message):
        parse_when(raw, SOFIA)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("Open", "open"),
        ("won", "won"),
        ("Lost", "lost"),
        ("Closed Won", "won"),
        ("Успешно реализовано", "won"),
        ("Закрыто и не реализовано", "lost"),
        ("", ""),
    ],
)
def test_statuses(raw: str, status: str) -> None:
    assert parse_status(raw) == status


def test_deleted_and_unknown_statuses_are_refused() -> None:
    with pytest.raises(BadValue, match="deleted"):
        parse_status("deleted")
    with pytest.raises(BadValue, match="'maybe' is not a deal status"):
        parse_status("maybe")


def test_contacts() -> None:
    assert split_contact("Jane Roe (jane@example.com)") == ("Jane Roe", "jane@example.com")
    assert split_contact("Jane Roe") == ("Jane Roe", "")
    assert first_of_list("+359 88 1; +359 88 2") == "+359 88 1"
    assert parse_email(" Jane@Example.COM, other@x.org") == "jane@example.com"
    with pytest.raises(BadValue, match="not an e-mail"):
        parse_email("jane at example")


PHONES = [
    "+1 (415) 555-0142",
    "+1 201 555 0001",
    "+1 1 415 555 0142",
    "+44 (0) 20 7946 0958",
    "+44 20 7946 0958",
    "+39 06 1234 5678",
    "+39 347 123 4567",
    "+49 30 1234567",
    "+49 (0)30 1234567",
    "+7 495 123-45-67",
    "+7 812 555-12-12",
    "+7 8 916 123 45 67",
    "+359 88 123 4567",
    "+359 (0) 88 123 4567",
    "+54 9 11 1234-5678",
    "+54 11 15 1234-5678",
    "+52 1 55 1234 5678",
    "+380 44 123 4567",
    "+420 601 123 456",
    "+971 50 123 4567",
    "+800 1234 5678",
    "+999 123 456 789",
    "+1 415",
    "0888 123 456",
    "8 (916) 123-45-67",
    "(415) 555-0142",
    "+1 415 555 0142 ext. 12",
    "+7 916 123 45 67 доб. 5",
]


@pytest.mark.parametrize("raw", PHONES)
def test_phones_match_what_the_project_normaliser_gives(raw: str, settings: Settings) -> None:
    for region in ("", "BG", "RU"):
        settings.CONVEYOR_PHONE_REGION = region
        assert phone_e164(raw, {}) == normalize_phone(raw), (raw, region)


def test_phones_are_cached_per_file() -> None:
    cache: dict[str, str] = {}
    assert phone_e164("+1 (415) 555-0142", cache) == "+14155550142"
    assert cache == {"+1 (415) 555-0142": "+14155550142"}
