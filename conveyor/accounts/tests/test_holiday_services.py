"""holiday_save / holiday_delete: the account's days off, kept by owners and heads, audited."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import Cast
from conveyor.accounts.calendar import WorkCalendar
from conveyor.accounts.models import Holiday
from conveyor.accounts.services import holiday_delete, holiday_save
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import actions_of

pytestmark = pytest.mark.django_db

TUESDAY = dt.date(2026, 3, 3)


def test_a_saved_holiday_is_skipped_by_the_work_calendar(cast: Cast) -> None:
    holiday_save(by=cast.owner, holiday_id=None, date=TUESDAY, name="Liberation Day")
    monday = TUESDAY - dt.timedelta(days=1)
    assert WorkCalendar(monday).add(monday, 1) == TUESDAY + dt.timedelta(days=1)


def test_a_manager_may_not_add_or_delete_a_holiday(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        holiday_save(by=cast.manager, holiday_id=None, date=TUESDAY, name="Mine")
    holiday = Holiday.objects.create(date=TUESDAY)
    with pytest.raises(PermissionDenied):
        holiday_delete(by=cast.manager, holiday_id=holiday.pk)
    assert list(Holiday.objects.all()) == [holiday]
    assert not AuditEntry.objects.exists()


def test_moving_a_holiday_onto_another_ones_date_is_refused(cast: Cast) -> None:
    first = holiday_save(by=cast.head, holiday_id=None, date=TUESDAY, name="One")
    second = holiday_save(by=cast.head, holiday_id=None, date=TUESDAY.replace(day=4), name="Two")
    with pytest.raises(ServiceError) as error:
        holiday_save(by=cast.head, holiday_id=second.pk, date=TUESDAY, name="Two")
    assert error.value.field == "date"
    second.refresh_from_db()
    assert second.date == TUESDAY.replace(day=4)
    assert (actions_of(first), actions_of(second)) == ([AuditAction.CREATE], [AuditAction.CREATE])


def test_the_server_operator_deletes_a_holiday_and_the_log_keeps_it(cast: Cast) -> None:
    holiday = holiday_save(by=None, holiday_id=None, date=TUESDAY, name="Liberation Day")
    pk = holiday.pk
    holiday_delete(by=None, holiday_id=pk)
    assert not Holiday.objects.exists()
    entries = AuditEntry.objects.filter(record_type="accounts.holiday", record_id=pk)
    assert [(e.action, e.actor_id) for e in entries.order_by("pk")] == [
        (AuditAction.CREATE, None),
        (AuditAction.DELETE, None),
    ]


def test_deleting_a_holiday_that_is_gone_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError):
        holiday_delete(by=cast.owner, holiday_id=404)
