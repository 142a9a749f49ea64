"""The account's working calendar: working weekdays (CONVEYOR_WORKDAYS) minus holidays."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from conveyor.accounts.models import Holiday

# Holidays are loaded for this many calendar days ahead: further than any cadence reaches.
_MAX_SPAN_DAYS = 400


class WorkCalendar:
    """Working days between two dates, with the holidays loaded once (one query)."""

    def __init__(self, start: dt.date, days: int = _MAX_SPAN_DAYS) -> None:
        self.workdays = set(settings.CONVEYOR_WORKDAYS)
        self.holidays = set(
            Holiday.objects.filter(
                date__gte=start, date__lte=start + dt.timedelta(days=days)
            ).values_list("date", flat=True)
        )

    def is_workday(self, day: dt.date) -> bool:
        return day.isoweekday() in self.workdays and day not in self.holidays

    def add(self, day: dt.date, workdays: int) -> dt.date:
        """The working day `workdays` working days after `day` (0: `day` itself if it is a
        working day, else the next one)."""
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        for _step in range(workdays):
            day += dt.timedelta(days=1)
            while not self.is_workday(day):
                day += dt.timedelta(days=1)
        return day

    def due_at(self, start: dt.datetime, workdays: int) -> dt.datetime:
        """When a task `workdays` working days after `start` is due: CONVEYOR_TASK_HOUR local
        time on that day, or an hour after `start` if that is later (a step for today)."""
        local = timezone.localtime(start)
        day = self.add(local.date(), workdays)
        due = timezone.make_aware(dt.datetime.combine(day, dt.time(settings.CONVEYOR_TASK_HOUR)))
        if due <= start:
            due = start + dt.timedelta(hours=1)
        return due
