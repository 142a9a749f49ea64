"""normalize_phone: E.164 when the number parses, the cleaned input otherwise."""

from __future__ import annotations

import pytest
from pytest_django import Settings

from conveyor.core.phones import normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+359 888 123 456", None, "+359888123456"),
        ("+359-888.123.456", None, "+359888123456"),
        ("0888 123 456", "BG", "+359888123456"),
        ("00359 888 123 456", "BG", "+359888123456"),
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("+7 912 345 67 89", "BG", "+79123456789"),  # an explicit country code wins
        ("+1 (650) 253-0000", None, "+16502530000"),
    ],
)
def test_parsable_numbers_become_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region=region) == expected


def test_the_same_number_written_two_ways_matches() -> None:
    assert normalize_phone("0888 123 456", region="BG") == normalize_phone("+359888123456")


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_blank_input_gives_an_empty_string(raw: str) -> None:
    assert normalize_phone(raw, region="BG") == ""


def test_numbers_without_country_code_use_the_account_region(settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = "BG"

    assert normalize_phone("0888 123 456") == "+359888123456"


def test_an_explicit_region_overrides_the_account_region(settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = "BG"

    assert normalize_phone("8 (912) 345-67-89", region="RU") == "+79123456789"


def test_without_any_region_a_local_number_is_kept_cleaned(settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = ""

    assert normalize_phone(" 0888 (123) 456 ") == "0888123456"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("112", "112"),  # too short to be a subscriber number
        ("+12", "+12"),  # the + is kept
        ("(1-2)", "12"),
    ],
)
def test_unparsable_input_is_kept_without_separators(raw: str, expected: str) -> None:
    assert normalize_phone(raw, region="BG") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "+359888123456",
        "+79123456789",
        "+12025550123",
        "+4407911123456",
        "+35902123456",
        "+390612345678",
        "+201001234567",
        "+1234",
        "+999123456789012",
    ],
)
def test_fast_path_agrees_with_full_parsing(raw: str) -> None:
    import phonenumbers

    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        parsed = None
    expected = (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if parsed is not None and phonenumbers.is_possible_number(parsed)
        else raw
    )
    assert normalize_phone(raw) == expected
