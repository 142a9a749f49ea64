"""The agenda selector (own open tasks by local day), task_reschedule, calendar_key_reset and the
calendar feed's selectors."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.pipelines.tests.support import T0, open_deal
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, TouchKind
from conveyor.touches.selectors import (
    agenda,
    agenda_count,
    calendar_owner,
    calendar_tasks,
)
from conveyor.touches.services import (
    calendar_key_reset,
    task_complete,
    task_reschedule,
    task_schedule,
)

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# 22:30 UTC on Wednesday 5 March 2025 is already 00:30 on Thursday 6 March in Sofia (UTC+2).
NOW = dt.datetime(2025, 3, 5, 22, 30, tzinfo=UTC)


def plan(cast: Cast, deal: Deal, due_at: dt.datetime, title: str = "", **kwargs: object) -> Task:
    return task_schedule(
        by=cast.manager,
        assignee=cast.manager,
        title=title or f"Call at {due_at:%d %H:%M}",
        due_at=due_at,
        deal=deal,
        **kwargs,  # type: ignore[arg-type]
    )


def titles(tasks: list[Task]) -> list[str]:
    return [task.title for task in tasks]


# --- agenda -------------------------------------------------------------------------------------


@pytest.fixture
def around_midnight(cast: Cast, deal: Deal) -> dict[str, Task]:
    """Tasks on both sides of Sofia's midnights and of the end of the 7-day window."""
    dues = {
        "sofia-yesterday-23:59": dt.datetime(2025, 3, 5, 21, 59, tzinfo=UTC),
        "sofia-today-00:00": dt.datetime(2025, 3, 5, 22, 0, tzinfo=UTC),
        "sofia-today-23:59": dt.datetime(2025, 3, 6, 21, 59, tzinfo=UTC),
        "sofia-tomorrow-00:00": dt.datetime(2025, 3, 6, 22, 0, tzinfo=UTC),
        "sofia-day-7-23:59": dt.datetime(2025, 3, 13, 21, 59, tzinfo=UTC),
        "sofia-day-8-00:00": dt.datetime(2025, 3, 13, 22, 0, tzinfo=UTC),
    }
    return {name: plan(cast, deal, due, title=name) for name, due in dues.items()}


def test_the_agenda_groups_by_the_local_day_around_midnight(
    cast: Cast, around_midnight: dict[str, Task], settings: Settings
) -> None:
    settings.TIME_ZONE = "Europe/Sofia"

    result = agenda(user=cast.manager, now=NOW)

    assert titles(result.overdue) == ["sofia-yesterday-23:59"]
    assert titles(result.today) == ["sofia-today-00:00", "sofia-today-23:59"]
    assert titles(result.upcoming) == ["sofia-tomorrow-00:00", "sofia-day-7-23:59"]
    assert result.count == 3
    assert result.today_start == dt.datetime(2025, 3, 5, 22, 0, tzinfo=UTC)


def test_the_same_tasks_group_by_the_utc_day_when_the_account_is_on_utc(
    cast: Cast, around_midnight: dict[str, Task], settings: Settings
) -> None:
    settings.TIME_ZONE = "UTC"

    result = agenda(user=cast.manager, now=NOW)

    assert titles(result.overdue) == []
    assert titles(result.today) == ["sofia-yesterday-23:59", "sofia-today-00:00"]
    assert titles(result.upcoming)[0] == "sofia-today-23:59"


def test_agenda_count_is_overdue_plus_today_in_the_local_day(
    cast: Cast, around_midnight: dict[str, Task], settings: Settings
) -> None:
    settings.TIME_ZONE = "Europe/Sofia"

    assert agenda_count(cast.manager, NOW) == 3
    assert agenda_count(cast.head, NOW) == 0


def test_the_upcoming_window_follows_upcoming_days(
    cast: Cast, around_midnight: dict[str, Task], settings: Settings
) -> None:
    settings.TIME_ZONE = "Europe/Sofia"

    assert titles(agenda(user=cast.manager, now=NOW, upcoming_days=1).upcoming) == [
        "sofia-tomorrow-00:00"
    ]
    assert len(agenda(user=cast.manager, now=NOW, upcoming_days=8).upcoming) == 3


def test_each_group_is_ordered_by_due_time_then_by_creation(cast: Cast, deal: Deal) -> None:
    plan(cast, deal, NOW - dt.timedelta(hours=1), title="b")
    plan(cast, deal, NOW - dt.timedelta(days=3), title="a")
    plan(cast, deal, NOW - dt.timedelta(hours=1), title="c")  # same time as "b", planned later
    plan(cast, deal, NOW + dt.timedelta(days=3), title="e")
    plan(cast, deal, NOW + dt.timedelta(days=2), title="d")

    result = agenda(user=cast.manager, now=NOW)

    assert titles(result.overdue) + titles(result.today) == ["a", "b", "c"]
    assert titles(result.upcoming) == ["d", "e"]


def test_done_and_cancelled_tasks_are_not_on_the_agenda(cast: Cast, deal: Deal) -> None:
    plan(cast, deal, NOW - dt.timedelta(hours=2), title="open")
    done = plan(cast, deal, NOW - dt.timedelta(hours=2), title="done")
    cancelled = plan(cast, deal, NOW - dt.timedelta(hours=2), title="cancelled")
    task_complete(task_id=done.pk, by=cast.manager, at=T0)
    Task.objects.filter(pk=cancelled.pk).update(cancelled_at=T0)

    result = agenda(user=cast.manager, now=NOW)

    assert titles(result.overdue + result.today + result.upcoming) == ["open"]
    assert agenda_count(cast.manager, NOW) == 1


def test_only_the_users_own_tasks_are_on_their_agenda(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    """The head and the owner may see the manager's tasks, but their agenda is their own."""
    plan(cast, deal, NOW, title="manager's")
    task_schedule(by=cast.head, assignee=cast.head, title="head's", due_at=NOW, deal=deal)
    outsider_deal = open_deal(PersonFactory(owner=cast.outsider), pipeline, owner=cast.outsider)
    task_schedule(
        by=cast.outsider, assignee=cast.outsider, title="outsider's", due_at=NOW, deal=outsider_deal
    )

    def everything(user: object) -> list[str]:
        result = agenda(user=user, now=NOW)  # type: ignore[arg-type]
        return titles(result.overdue + result.today + result.upcoming)

    assert everything(cast.manager) == ["manager's"]
    assert everything(cast.head) == ["head's"]
    assert everything(cast.outsider) == ["outsider's"]
    assert everything(cast.owner) == []


def _read_everything(result: object) -> list[str]:
    """What the page shows of each task, so a lazy relation would cost a query here."""
    shown = []
    for task in result.overdue + result.today + result.upcoming:  # type: ignore[attr-defined]
        deal = task.deal
        shown.append(f"{deal.person.name} {deal.stage.name} {deal.pipeline.name} {task.person}")
    return shown


def test_the_agenda_takes_one_query_for_3_or_30_tasks(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    def add(n: int) -> None:
        for i in range(n):
            deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
            plan(cast, deal, NOW + dt.timedelta(hours=i - 5))

    add(3)
    with CaptureQueriesContext(connection) as few:
        assert len(_read_everything(agenda(user=cast.manager, now=NOW))) == 3
    add(27)
    with CaptureQueriesContext(connection) as many:
        assert len(_read_everything(agenda(user=cast.manager, now=NOW))) == 30
    assert len(many) == len(few) == 1


def test_a_task_about_a_person_alone_is_on_the_agenda(cast: Cast, person: Person) -> None:
    task_schedule(by=cast.manager, assignee=cast.manager, title="Hello", due_at=NOW, person=person)

    (task,) = agenda(user=cast.manager, now=NOW).today

    assert (task.deal, task.person) == (None, person)


# --- task_reschedule ----------------------------------------------------------------------------


def test_rescheduling_moves_an_open_task(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW)

    moved = task_reschedule(task_id=task.pk, by=cast.manager, due_at=NOW + dt.timedelta(days=1))

    task.refresh_from_db()
    assert task.due_at == moved.due_at == NOW + dt.timedelta(days=1)
    assert task.is_open


def test_the_head_can_reschedule_a_team_members_task(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW)

    task_reschedule(task_id=task.pk, by=cast.head, due_at=NOW + dt.timedelta(hours=1))

    task.refresh_from_db()
    assert task.due_at == NOW + dt.timedelta(hours=1)


def test_the_outsider_cannot_reschedule_the_managers_task(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW)

    with pytest.raises(PermissionDenied):
        task_reschedule(task_id=task.pk, by=cast.outsider, due_at=NOW + dt.timedelta(days=1))

    task.refresh_from_db()
    assert task.due_at == NOW


def test_a_naive_new_time_is_refused(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW)

    with pytest.raises(ServiceError) as error:
        task_reschedule(task_id=task.pk, by=cast.manager, due_at=dt.datetime(2025, 3, 7, 10, 0))

    assert error.value.field == "due_at"
    task.refresh_from_db()
    assert task.due_at == NOW


def test_a_done_task_cannot_be_rescheduled(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW)
    task_complete(task_id=task.pk, by=cast.manager, at=T0)

    with pytest.raises(ServiceError, match="already done"):
        task_reschedule(task_id=task.pk, by=cast.manager, due_at=NOW + dt.timedelta(days=1))

    task.refresh_from_db()
    assert task.due_at == NOW


def test_a_cancelled_task_cannot_be_rescheduled(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW)
    Task.objects.filter(pk=task.pk).update(cancelled_at=T0)

    with pytest.raises(ServiceError, match="cancelled"):
        task_reschedule(task_id=task.pk, by=cast.manager, due_at=NOW + dt.timedelta(days=1))

    task.refresh_from_db()
    assert task.due_at == NOW


def test_a_task_left_open_on_a_closed_deal_cannot_be_rescheduled(cast: Cast, deal: Deal) -> None:
    """Closing a deal cancels its tasks; one left open by older data is not moved either."""
    task = plan(cast, deal, NOW)
    Deal.objects.filter(pk=deal.pk).update(
        status=DealStatus.WON, closed_at=T0, purchase_number=1, touches_to_win=0
    )

    with pytest.raises(ServiceError) as error:
        task_reschedule(task_id=task.pk, by=cast.manager, due_at=NOW + dt.timedelta(days=1))

    assert error.value.field == "deal"
    task.refresh_from_db()
    assert task.due_at == NOW


def test_rescheduling_a_missing_task_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError, match="does not exist"):
        task_reschedule(task_id=987654, by=cast.manager, due_at=NOW)


def test_rescheduling_keeps_kind_title_and_assignee(cast: Cast, deal: Deal) -> None:
    task = plan(cast, deal, NOW, title="Send the invoice", kind=TouchKind.CLOSING)

    task_reschedule(task_id=task.pk, by=cast.manager, due_at=NOW + dt.timedelta(days=7))

    task.refresh_from_db()
    assert (task.title, task.kind, task.assignee) == (
        "Send the invoice",
        TouchKind.CLOSING,
        cast.manager,
    )


# --- calendar_key_reset and the feed's selectors ---------------------------------------------


def test_calendar_key_reset_gives_a_new_long_random_key_each_time(cast: Cast) -> None:
    first = calendar_key_reset(user=cast.manager)
    second = calendar_key_reset(user=cast.manager)

    cast.manager.refresh_from_db()
    assert cast.manager.calendar_key == second != first
    assert len(second) >= 43  # 32 random bytes, URL-safe base64


def test_a_deactivated_user_gets_no_calendar_key(cast: Cast) -> None:
    cast.manager.is_active = False
    cast.manager.save()

    with pytest.raises(PermissionDenied):
        calendar_key_reset(user=cast.manager)

    cast.manager.refresh_from_db()
    assert cast.manager.calendar_key is None


def test_calendar_owner_finds_only_an_active_user_by_the_current_key(cast: Cast) -> None:
    old = calendar_key_reset(user=cast.manager)
    key = calendar_key_reset(user=cast.manager)

    assert calendar_owner(key) == cast.manager
    assert calendar_owner(old) is None
    assert calendar_owner("") is None
    cast.manager.is_active = False
    cast.manager.save()
    assert calendar_owner(key) is None


def test_the_calendar_window_is_30_days_back_and_90_ahead(cast: Cast, deal: Deal) -> None:
    inside = [
        plan(cast, deal, NOW - dt.timedelta(days=30), title="first"),
        plan(cast, deal, NOW, title="now"),
        plan(cast, deal, NOW + dt.timedelta(days=90), title="last"),
    ]
    plan(cast, deal, NOW - dt.timedelta(days=30, seconds=1), title="too old")
    plan(cast, deal, NOW + dt.timedelta(days=90, seconds=1), title="too far")
    task_schedule(by=cast.head, assignee=cast.head, title="head's", due_at=NOW, deal=deal)

    assert list(calendar_tasks(user=cast.manager, now=NOW)) == inside
