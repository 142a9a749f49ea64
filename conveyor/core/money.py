"""Amounts with their currency as the active language writes them (Babel, from CLDR data):
"€1,234,567" in English, "1 234 567 ₽" in Russian, "1 234 567 лв." in Bulgarian.

Only for showing amounts: exports (CSV, XLSX) and the API keep plain numbers and ISO codes.
"""

from __future__ import annotations

import copy
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, format_currency, get_currency_symbol, get_group_symbol
from django.conf import settings
from django.utils.translation import get_language, to_locale

# CLDR's currency spacing: a symbol that is not itself a sign ("RUB", "лв.") gets a no-break
# space next to the digits ("RUB 1,234", not "RUB1,234"); Babel does not apply the rule.
NBSP = "\u00a0"


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(to_locale(language))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(to_locale(settings.LANGUAGE_CODE))


@lru_cache(maxsize=16)
def _whole_pattern(locale: Locale) -> NumberPattern:
    """The language's currency pattern without decimals, for whole amounts."""
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (0, 0)
    return pattern


@lru_cache(maxsize=256)
def _symbol(code: str, locale: Locale) -> str:
    return get_currency_symbol(code, locale)


@lru_cache(maxsize=256)
def _whole_parts(code: str, locale: Locale) -> tuple[str, str, str] | None:
    """What Babel writes around a whole amount in `code` (before, after) and between its
    groups of three digits; None for a pattern grouped otherwise (then Babel does it all).

    A board prints ~120 amounts: joining these with Python's own grouping costs a few µs
    each, Babel's formatter ~20 (test_money_filter checks both write the same).
    """
    pattern = _whole_pattern(locale)
    if pattern.grouping != (3, 3):
        return None
    sample = format_currency(0, code, format=pattern, currency_digits=False, locale=locale)
    before, _zero, after = sample.partition("0")
    return before, after, get_group_symbol(locale)


def _whole(value: Decimal, code: str, locale: Locale) -> str:
    parts = _whole_parts(code, locale) if value >= 0 else None
    if parts is None:
        return format_currency(
            value, code, format=_whole_pattern(locale), currency_digits=False, locale=locale
        )
    before, after, group = parts
    digits = f"{int(value):,}".replace(",", group)
    return f"{before}{digits}{after}"


def _is_sign(char: str) -> bool:
    """A currency sign or a space ("€", "$"): nothing to add between it and the digits."""
    return unicodedata.category(char)[0] in "SZ"


def _spaced(text: str, symbol: str) -> str:
    if not symbol or symbol not in text:
        return text
    before, _sep, after = text.partition(symbol)
    if before == "" and after[:1].isdigit() and not _is_sign(symbol[-1]):
        return f"{symbol}{NBSP}{after}"
    if after == "" and before[-1:].isdigit() and not _is_sign(symbol[0]):
        return f"{before}{NBSP}{symbol}"
    return text


def format_money(
    amount: Decimal | int | float | str | None,
    currency: str,
    *,
    whole: bool = False,
    language: str | None = None,
) -> str:
    """`amount` in `currency` (an ISO 4217 code) for `language` (the active one by default).

    Whole amounts show no decimals ("€1,200", not "€1,200.00"); others the currency's own
    (two for most). `whole` rounds to a whole amount first (the board's cards and sums).
    An empty amount is "—".
    """
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    locale = _locale(language or get_language() or settings.LANGUAGE_CODE)
    code = (currency or "").upper()
    if whole:
        value = value.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if value == value.to_integral_value():
        text = _whole(value, code, locale)
    else:
        text = format_currency(value, code, locale=locale)
    return _spaced(text, _symbol(code, locale))
