"""The working calendar: weekends from CONVEYOR_WORKDAYS, holidays from the table."""

from __future__ import annotations

import datetime as dt

import pytest
from pytest_django import Settings

from conveyor.accounts.calendar import WorkCalendar
from conveyor.accounts.models import Holiday

pytestmark = pytest.mark.django_db

FRIDAY = dt.date(2025, 3, 7)


def test_adding_working_days_skips_weekends_and_holidays(settings: Settings) -> None:
    settings.CONVEYOR_WORKDAYS = [1, 2, 3, 4, 5]
    Holiday.objects.create(date=dt.date(2025, 3, 10))
    calendar = WorkCalendar(FRIDAY)
    assert calendar.add(FRIDAY, 0) == FRIDAY
    assert calendar.add(FRIDAY, 1) == dt.date(2025, 3, 11)
    assert calendar.add(dt.date(2025, 3, 8), 0) == dt.date(2025, 3, 11)  # Saturday → Tuesday


def test_a_six_day_week_works_saturdays(settings: Settings) -> None:
    settings.CONVEYOR_WORKDAYS = [1, 2, 3, 4, 5, 6]
    assert WorkCalendar(FRIDAY).add(FRIDAY, 1) == dt.date(2025, 3, 8)


def test_holidays_are_read_once(settings: Settings, django_assert_num_queries: object) -> None:
    for day in range(3):
        Holiday.objects.create(date=FRIDAY + dt.timedelta(days=day * 7))
    with django_assert_num_queries(1):  # type: ignore[operator]
        calendar = WorkCalendar(FRIDAY)
        calendar.add(FRIDAY, 40)
