"""Reading one cell of a CRM export: amounts, dates, statuses, phones, e-mails, names.

Nothing here touches the database. Parsers raise `BadValue` with a message for the user that
names the offending value; the planner adds the file line and the column.

Exports write values the way their users see them, so the parsers are tolerant where the
meaning is clear ("1 234,50 ₽", "€1,234.50", "31.01.2026 14:05") and refuse where it is not
("03/04/2026" could be either month first or day first).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import phonenumbers
from django.utils.translation import gettext as _

from conveyor.core.phones import normalize_phone
from conveyor.pipelines.models import DealStatus

__all__ = [
    "BadValue",
    "first_of_list",
    "norm",
    "parse_amount",
    "parse_email",
    "parse_status",
    "parse_when",
    "phone_e164",
    "split_contact",
]


class BadValue(ValueError):
    """A cell that cannot be read as what its column holds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def norm(text: str) -> str:
    """A name as compared across files and the database: case, spacing and ё (read as the
    plain Cyrillic e, as Russian writers often do) ignored."""
    return " ".join(text.casefold().replace("\u0451", "\u0435").split())


# --- money --------------------------------------------------------------------------------

_CENT = Decimal("0.01")
MONEY_DIGITS = 12
_MONEY_LIMIT = Decimal(10) ** MONEY_DIGITS  # Deal.amount: DecimalField(max_digits=14, places=2)
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "₽": "RUB", "₴": "UAH", "₸": "KZT", "¥": "JPY"}
_WORD_CODES = {"руб": "RUB", "р": "RUB", "лв": "BGN", "грн": "UAH", "тг": "KZT"}  # noqa: RUF001
_GROUPED = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d{1,2})?")
_DIGIT = re.compile(r"\d")
_NUMBER_CHARS = re.compile(r"[^0-9.,\-]")
# Besides digits and marks, an amount may hold only spaces and apostrophes grouping thousands.
_NOT_NUMBER = re.compile(r"[^0-9.,\-\s'\u2019]")
_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
_WORD = re.compile(r"([\u0400-\u04ff]+)\.?")


def parse_amount(raw: str) -> tuple[Decimal, str]:
    """An amount >= 0 rounded to cents, and the currency the cell names ("" if none).

    Spaces (also non-breaking) and apostrophes group thousands. With both `,` and `.`, the last
    one is the decimal mark; a lone `,` is decimal unless exactly three digits follow it in a
    number with several of them (1,234,567) or it reads as thousands (1,234).
    """
    text = raw.strip()
    if not text:
        return Decimal(0), ""
    if _GROUPED.fullmatch(text):  # 1,234,567.50: the common case, without the general path
        return Decimal(text.replace(",", "")).quantize(_CENT, rounding=ROUND_HALF_UP), ""
    currency = ""
    for symbol, code in _SYMBOLS.items():
        if symbol in text:
            currency = code
            text = text.replace(symbol, " ")
            break
    if not currency:
        match = _CODE.search(text)
        word = _WORD.search(text)
        if match:
            currency = match.group(1).upper()
            text = text[: match.start()] + " " + text[match.end() :]
        elif word and word.group(1).casefold() in _WORD_CODES:
            currency = _WORD_CODES[word.group(1).casefold()]
            text = text[: word.start()] + " " + text[word.end() :]
    if _NOT_NUMBER.search(text) or not _DIGIT.search(text):
        raise BadValue(_("%(value)s is not an amount") % {"value": repr(raw)})
    number = _NUMBER_CHARS.sub("", text)
    if "," in number and "." in number:
        if number.rfind(",") > number.rfind("."):
            number = number.replace(".", "").replace(",", ".")
        else:
            number = number.replace(",", "")
    elif "," in number:
        head, _sep, tail = number.rpartition(",")
        if number.count(",") > 1 or (len(tail) == 3 and head.lstrip("-") not in ("", "0")):
            number = number.replace(",", "")
        else:
            number = f"{head}.{tail}"
    elif number.count(".") > 1:
        number = number.replace(".", "")
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise BadValue(_("%(value)s is not an amount") % {"value": repr(raw)}) from None
    if value < 0:
        raise BadValue(_("%(value)s is negative") % {"value": repr(raw)})
    value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    if value >= _MONEY_LIMIT:
        raise BadValue(_("%(value)s is too large") % {"value": repr(raw)})
    return value, currency


# --- dates --------------------------------------------------------------------------------

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def parse_when(raw: str, zone: ZoneInfo) -> dt.datetime:
    """A date or date-time as CRMs export them; a time without an offset is in `zone`.

    Accepted: ISO 8601 (`2026-01-31`, `2026-01-31 14:05[:07]`, with `T`, `Z` or an offset),
    `31.01.2026[ 14:05[:07]]` (amoCRM), and `01/31/2026` or `31/01/2026` when the day is
    above 12 (otherwise the order is a guess, and the value is refused).
    """
    text = raw.strip()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = _parse_local(text, raw)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def _parse_local(text: str, raw: str) -> dt.datetime:
    dotted = _DOTTED.fullmatch(text)
    slashed = None if dotted else _SLASHED.fullmatch(text)
    match = dotted or slashed
    if match is None:
        raise BadValue(
            _("%(value)s is not a date (write e.g. 2026-01-31 14:05 or 31.01.2026 14:05)")
            % {"value": repr(raw)}
        )
    first, second, year, hour, minute, second_ = match.groups()
    day, month = int(first), int(second)
    if slashed is not None:
        if day <= 12 and month <= 12 and day != month:
            raise BadValue(
                _("%(value)s could be day/month or month/day; write it as YYYY-MM-DD")
                % {"value": repr(raw)}
            )
        if day <= 12 < month:
            day, month = month, day  # month/day/year, as US exports write it
    try:
        return dt.datetime(  # noqa: DTZ001 - the caller attaches the account's zone
            int(year), month, day, int(hour or 0), int(minute or 0), int(second_ or 0)
        )
    except ValueError:
        raise BadValue(_("%(value)s is not a valid date") % {"value": repr(raw)}) from None


# --- statuses -----------------------------------------------------------------------------

# What CRMs write for a deal's status (in its status column or, for HubSpot and amoCRM, as
# the stage a closed deal is in), compared after `norm`.
OPEN_WORDS = frozenset({"open", "открыта", "открыто", "в работе", "отворена", "отворена сделка"})
WON_WORDS = frozenset(
    {
        "won",
        "closed won",
        "closedwon",
        "успешно реализовано",
        "успешно",
        "выиграна",
        "спечелена",
    }
)
LOST_WORDS = frozenset(
    {
        "lost",
        "closed lost",
        "closedlost",
        "закрыто и не реализовано",
        "не реализовано",
        "проиграна",
        "загубена",
    }
)
DELETED_WORDS = frozenset({"deleted", "удалена"})


def outcome_of(stage_key: str) -> str:
    """The status a stage name stands for when it names an outcome ("Closed Won"), else ""."""
    if stage_key in WON_WORDS:
        return DealStatus.WON
    if stage_key in LOST_WORDS:
        return DealStatus.LOST
    return ""


def parse_status(raw: str) -> str:
    """open / won / lost from a status cell; "" when the cell is empty."""
    key = norm(raw)
    if not key:
        return ""
    if key in OPEN_WORDS:
        return DealStatus.OPEN
    if key in WON_WORDS:
        return DealStatus.WON
    if key in LOST_WORDS:
        return DealStatus.LOST
    if key in DELETED_WORDS:
        raise BadValue(_("the deal was deleted in the other CRM; deleted deals are not imported"))
    raise BadValue(
        _("%(value)s is not a deal status (open, won or lost)") % {"value": repr(raw.strip())}
    )


# --- people -------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[,;\n]")
_JUNK = re.compile(r"[\s\-().]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_NAME_WITH_EMAIL = re.compile(r"(.*?)\s*[(<]\s*([^()<>\s]+@[^()<>\s]+)\s*[)>]\s*")


def first_of_list(raw: str) -> str:
    """The first of several values in one cell ("+359 88 1, +359 88 2" -> the first)."""
    text = raw.strip()
    if not text or not _SEPARATORS.search(text):
        return text
    for part in _SEPARATORS.split(text):
        if part.strip():
            return part.strip()
    return ""


def split_contact(raw: str) -> tuple[str, str]:
    """HubSpot writes an associated contact as "Jane Roe (jane@example.com)": (name, e-mail)."""
    match = _NAME_WITH_EMAIL.fullmatch(raw)
    if match is None:
        return raw.strip(), ""
    return match.group(1).strip(), match.group(2)


def parse_email(raw: str) -> str:
    email = first_of_list(raw).lower()
    if email.startswith("mailto:"):
        email = email[7:]
    if email and ("@" not in email or " " in email):
        raise BadValue(_("%(value)s is not an e-mail address") % {"value": repr(raw.strip())})
    return email


@functools.cache
def _national_prefix(country_code: int) -> re.Pattern[str] | bool | None:
    """The country's national-prefix pattern; False when its numbers always need parsing."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:  # unknown or non-geographic codes
        return False
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None


def _plain_international(bare: str) -> bool:
    """Is `bare` (+digits) a number `phonenumbers` would give back unchanged as E.164?

    It would change it only by stripping a national prefix after the country code (a 0, or
    the country's own, e.g. 8 in Russia); without one, it keeps the digits.
    """
    if not _E164.fullmatch(bare):
        return False
    digits = bare[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    rest = digits[size:]
    if rest.startswith("0"):
        return False
    prefix = _national_prefix(code)
    if prefix is False:
        return False
    if isinstance(prefix, re.Pattern):
        match = prefix.match(rest)
        if match is not None and match.end() > 0:
            return False
    return True


def phone_e164(raw: str, cache: dict[str, str]) -> str:
    """E.164 exactly as `conveyor.core.phones.normalize_phone` gives it, faster.

    A number written with its country code and separators ("+1 (415) 555-0100") is its digits
    once the separators are gone, unless a national prefix follows the country code: only
    those, and numbers without a country code, are parsed by `phonenumbers` (~100 µs each,
    most of the time of a big import otherwise). `cache` holds the numbers of one file.
    """
    phone = cache.get(raw)
    if phone is not None:
        return phone
    bare = _JUNK.sub("", raw)
    phone = bare if _plain_international(bare) else normalize_phone(raw)
    cache[raw] = phone
    return phone
