"""Half-open reporting windows [from, to) in the account's time zone (DESIGN §4)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings


def account_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the account time zone, as an aware datetime."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=account_tz())


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
