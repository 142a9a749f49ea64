"""The `money` filter: an amount and its ISO currency code as the active language writes them
(Babel's CLDR patterns; the spaces are no-break spaces, U+00A0)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_currency
from django.template import Context, Template
from django.utils import translation

from conveyor.core.money import _locale, _whole, _whole_pattern, format_money


def _money(amount: object, currency: str, language: str) -> str:
    with translation.override(language):
        return Template("{% load conveyor %}{{ amount|money:currency }}").render(
            Context({"amount": amount, "currency": currency})
        )


@pytest.mark.parametrize(
    ("language", "currency", "expected"),
    [
        ("en", "RUB", "RUB\xa01,234,567"),
        ("en", "EUR", "€1,234,567"),
        ("en", "BGN", "BGN\xa01,234,567"),
        ("ru", "RUB", "1\xa0234\xa0567\xa0₽"),
        ("ru", "EUR", "1\xa0234\xa0567\xa0€"),
        ("ru", "BGN", "1\xa0234\xa0567\xa0BGN"),
        ("bg", "RUB", "1\xa0234\xa0567\xa0RUB"),
        ("bg", "EUR", "1\xa0234\xa0567\xa0€"),
        ("bg", "BGN", "1\xa0234\xa0567\xa0лв."),
    ],
)
def test_whole_amounts_show_no_decimals(language: str, currency: str, expected: str) -> None:
    assert _money(Decimal("1234567.00"), currency, language) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "€1,234.50"), ("ru", "1\xa0234,50\xa0€"), ("bg", "1\xa0234,50\xa0€")],
)
def test_amounts_with_cents_show_the_currencys_decimals(language: str, expected: str) -> None:
    assert _money(Decimal("1234.5"), "EUR", language) == expected


def test_a_lower_case_code_is_the_same_currency_and_an_empty_amount_a_dash() -> None:
    assert _money(Decimal("10"), "eur", "en") == "€10"
    assert _money(None, "EUR", "en") == "—"


def test_the_board_rounds_to_a_whole_amount() -> None:
    assert format_money(Decimal("1234.50"), "EUR", whole=True, language="en") == "€1,235"
    assert format_money(Decimal("0.49"), "RUB", whole=True, language="ru") == "0\xa0₽"


def test_a_code_is_escaped_like_any_other_text() -> None:
    assert _money(Decimal("1"), "<b>", "en") == "&lt;B&gt;1"


@pytest.mark.parametrize("language", ["en", "ru", "bg"])
@pytest.mark.parametrize("currency", ["EUR", "RUB", "BGN", "USD", "JPY"])
def test_the_shortcut_for_whole_amounts_writes_what_babel_writes(
    language: str, currency: str
) -> None:
    locale = _locale(language)
    for value in (0, 7, 999, 1000, 12345, 1234567, 10**12, -1234567):
        babel = format_currency(
            Decimal(value),
            currency,
            format=_whole_pattern(locale),
            currency_digits=False,
            locale=locale,
        )
        assert _whole(Decimal(value), currency, locale) == babel
