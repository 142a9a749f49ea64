"""Half-open reporting windows [from, to) in the account's time zone (DESIGN §4), and the
calendar arithmetic they need."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings


def account_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the account time zone, as an aware datetime."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=account_tz())


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later (or earlier), clamped to the month's end
    (31 March - 1 month = 28/29 February)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


@dataclass(frozen=True)
class Window:
    date_from: dt.date
    date_to: dt.date

    def __post_init__(self) -> None:
        if self.date_to <= self.date_from:
            raise ValueError("the window's end must be after its start")

    @property
    def start(self) -> dt.datetime:
        return start_of_day(self.date_from)

    @property
    def end(self) -> dt.datetime:
        return start_of_day(self.date_to)
