"""task_schedule and task_complete: planned touches, and completing one logs the touch."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from django.db import connection

from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_lose, deal_win
from conveyor.pipelines.tests.support import T0, hours
from conveyor.testing.factories import LossReasonFactory, PersonFactory
from conveyor.touches.models import Channel, ClosingStep, Outcome, Task, Touch, TouchKind
from conveyor.touches.services import task_complete, task_schedule

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db

DUE = T0 + dt.timedelta(days=1)


def schedule(
    cast: Cast, deal: Deal, kind: str = TouchKind.WARMING, channel: str = Channel.CALL
) -> Task:
    """The manager plans a touch with the deal's client for the day after T0."""
    return task_schedule(
        by=cast.manager,
        assignee=cast.manager,
        title="Call about the offer",
        due_at=DUE,
        deal=deal,
        kind=kind,
        channel=channel,
    )


# --- task_schedule ------------------------------------------------------------------------------


def test_a_task_is_planned_on_an_open_deal(cast: Cast, deal: Deal, person: Person) -> None:
    task = task_schedule(
        by=cast.manager,
        assignee=cast.manager,
        title="  Send the contract  ",
        due_at=DUE,
        deal=deal,
        kind=TouchKind.CLOSING,
        channel=Channel.EMAIL,
    )

    task.refresh_from_db()
    assert task.deal == deal
    assert task.person == person
    assert task.assignee == cast.manager
    assert task.title == "Send the contract"
    assert task.due_at == DUE
    assert task.kind == TouchKind.CLOSING
    assert task.channel == Channel.EMAIL
    assert task.is_open


def test_a_task_about_a_person_alone_is_planned(cast: Cast, person: Person) -> None:
    task = task_schedule(
        by=cast.manager, assignee=cast.manager, title="Say hello", due_at=DUE, person=person
    )

    assert (task.deal, task.person) == (None, person)


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_scheduling_on_a_closed_deal_is_refused(
    cast: Cast, pipeline: Pipeline, deal: Deal, outcome: str
) -> None:
    if outcome == "won":
        deal_win(deal_id=deal.pk, version=1, by=cast.manager, at=hours(1))
    else:
        reason = LossReasonFactory(pipeline=pipeline)
        deal_lose(deal_id=deal.pk, version=1, by=cast.manager, reason=reason, at=hours(1))
    deal.refresh_from_db()

    with pytest.raises(ServiceError) as exc:
        schedule(cast, deal)

    assert exc.value.field == "deal"
    assert Task.objects.count() == 0


@pytest.mark.parametrize("title", ["", "   "])
def test_an_empty_title_is_refused(cast: Cast, deal: Deal, title: str) -> None:
    with pytest.raises(ServiceError) as exc:
        task_schedule(by=cast.manager, assignee=cast.manager, title=title, due_at=DUE, deal=deal)

    assert exc.value.field == "title"
    assert Task.objects.count() == 0


def test_a_naive_due_time_is_refused(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError) as exc:
        task_schedule(
            by=cast.manager,
            assignee=cast.manager,
            title="Call",
            due_at=DUE.replace(tzinfo=None),
            deal=deal,
        )

    assert exc.value.field == "due_at"
    assert Task.objects.count() == 0


def test_a_deactivated_assignee_is_refused(cast: Cast, deal: Deal) -> None:
    cast.manager.is_active = False
    cast.manager.save()

    with pytest.raises(ServiceError) as exc:
        task_schedule(by=cast.head, assignee=cast.manager, title="Call", due_at=DUE, deal=deal)

    assert exc.value.field == "assignee"
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"), [("kind", "lukewarm"), ("channel", "pigeon")], ids=["kind", "channel"]
)
def test_unknown_kind_or_channel_is_refused(cast: Cast, deal: Deal, field: str, value: str) -> None:
    with pytest.raises(ServiceError) as exc:
        schedule(cast, deal, **{field: value})

    assert exc.value.field == field
    assert Task.objects.count() == 0


def test_the_outsider_cannot_plan_on_the_managers_deal(cast: Cast, deal: Deal) -> None:
    with pytest.raises(PermissionDenied):
        task_schedule(by=cast.outsider, assignee=cast.outsider, title="Call", due_at=DUE, deal=deal)

    assert Task.objects.count() == 0


def test_a_manager_cannot_assign_tasks_to_a_colleague(cast: Cast, deal: Deal) -> None:
    with pytest.raises(PermissionDenied):
        task_schedule(by=cast.manager, assignee=cast.outsider, title="Call", due_at=DUE, deal=deal)

    assert Task.objects.count() == 0


def test_the_head_can_assign_a_task_to_a_team_member(cast: Cast, deal: Deal) -> None:
    task = task_schedule(by=cast.head, assignee=cast.manager, title="Call", due_at=DUE, deal=deal)

    assert task.assignee == cast.manager


# --- task_complete ------------------------------------------------------------------------------


def test_completing_logs_the_planned_touch_and_closes_the_task(
    cast: Cast, deal: Deal, person: Person
) -> None:
    task = schedule(cast, deal, channel=Channel.MESSAGE)

    done = task_complete(task_id=task.pk, by=cast.manager, note="Replied at once", at=hours(3))

    task.refresh_from_db()
    touch = Touch.objects.get()
    assert touch.kind == TouchKind.WARMING
    assert touch.channel == Channel.MESSAGE
    assert touch.deal == deal
    assert touch.person == person
    assert touch.user == cast.manager
    assert touch.at == hours(3)
    assert touch.note == "Replied at once"
    assert task.done_at == done.done_at == hours(3)
    assert task.done_touch == touch
    assert not task.is_open


def test_completing_a_person_task_logs_a_touch_about_the_person(cast: Cast, person: Person) -> None:
    task = task_schedule(
        by=cast.manager, assignee=cast.manager, title="Say hello", due_at=DUE, person=person
    )

    task_complete(task_id=task.pk, by=cast.manager, at=hours(1))

    touch = Touch.objects.get()
    assert (touch.deal, touch.person) == (None, person)


def test_completing_a_closing_task_records_its_step_and_outcome(cast: Cast, deal: Deal) -> None:
    task = schedule(cast, deal, kind=TouchKind.CLOSING)

    task_complete(
        task_id=task.pk,
        by=cast.manager,
        step=ClosingStep.INVOICE,
        outcome=Outcome.NOT_ADVANCED,
        at=hours(2),
    )

    touch = Touch.objects.get()
    assert touch.kind == TouchKind.CLOSING
    assert (touch.step, touch.outcome) == (ClosingStep.INVOICE, Outcome.NOT_ADVANCED)


def test_completing_twice_is_refused(cast: Cast, deal: Deal) -> None:
    task = schedule(cast, deal)
    task_complete(task_id=task.pk, by=cast.manager, at=hours(1))

    with pytest.raises(ServiceError) as exc:
        task_complete(task_id=task.pk, by=cast.manager, at=hours(2))

    assert exc.value.field == "task"
    assert Touch.objects.count() == 1
    task.refresh_from_db()
    assert task.done_at == hours(1)


@pytest.mark.parametrize(
    "given",
    [{"step": ClosingStep.DEMO}, {"outcome": Outcome.ADVANCED}, {}],
    ids=["no-outcome", "no-step", "neither"],
)
def test_a_closing_task_without_step_or_outcome_is_refused_and_stays_open(
    cast: Cast, deal: Deal, given: dict[str, str]
) -> None:
    task = schedule(cast, deal, kind=TouchKind.CLOSING)

    with pytest.raises(ServiceError) as exc:
        task_complete(task_id=task.pk, by=cast.manager, at=hours(1), **given)

    assert exc.value.field in {"step", "outcome"}
    assert Touch.objects.count() == 0
    task.refresh_from_db()
    assert task.done_at is None
    assert task.done_touch is None


def test_a_cancelled_task_cannot_be_completed(cast: Cast, deal: Deal) -> None:
    task = schedule(cast, deal)
    Task.objects.filter(pk=task.pk).update(cancelled_at=hours(1))

    with pytest.raises(ServiceError) as exc:
        task_complete(task_id=task.pk, by=cast.manager, at=hours(2))

    assert exc.value.field == "task"
    assert Touch.objects.count() == 0


def test_a_missing_task_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as exc:
        task_complete(task_id=999_999, by=cast.owner)

    assert exc.value.field == "task"


def test_the_outsider_cannot_complete_the_managers_task(cast: Cast, deal: Deal) -> None:
    task = schedule(cast, deal)

    with pytest.raises(PermissionDenied):
        task_complete(task_id=task.pk, by=cast.outsider, at=hours(1))

    assert Touch.objects.count() == 0
    task.refresh_from_db()
    assert task.done_at is None


def test_only_those_with_access_to_the_assignee_may_complete_the_task(cast: Cast) -> None:
    """The other head may touch an unowned person, but not complete the manager's task on them."""
    unowned = PersonFactory(owner=None)
    task = task_schedule(
        by=None, assignee=cast.manager, title="Say hello", due_at=DUE, person=unowned
    )

    with pytest.raises(PermissionDenied):
        task_complete(task_id=task.pk, by=cast.other_head, at=hours(1))

    assert Touch.objects.count() == 0
    task.refresh_from_db()
    assert task.done_at is None


def test_the_head_can_complete_a_team_members_task(cast: Cast, deal: Deal) -> None:
    task = schedule(cast, deal)

    task_complete(task_id=task.pk, by=cast.head, at=hours(1))

    assert Touch.objects.get().user == cast.head


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no row locks (SELECT ... FOR UPDATE is a no-op); needs PostgreSQL",
)
def test_completing_a_task_works_on_postgresql(cast: Cast, deal: Deal) -> None:
    task = schedule(cast, deal)

    task_complete(task_id=task.pk, by=cast.manager, at=hours(1))

    assert Touch.objects.count() == 1
