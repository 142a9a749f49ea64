"""Touches and tasks are audited: logged, planned, done, moved, cancelled with their cadence,
handed over with their deal (one entry per task); a calendar key reset, never the key."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_assign, deal_move, deal_win
from conveyor.pipelines.tests.support import stages_of
from conveyor.testing.audit import actions_of, log_of
from conveyor.touches.models import Cadence, CadenceStep, Channel, Task, TouchKind
from conveyor.touches.services import (
    calendar_key_reset,
    task_complete,
    task_reschedule,
    task_schedule,
    touch_log,
)

pytestmark = pytest.mark.django_db


def _task(cast: Cast, deal: Deal, title: str = "Call back") -> Task:
    return task_schedule(
        by=cast.manager,
        assignee=cast.manager,
        title=title,
        deal=deal,
        due_at=timezone.now() + dt.timedelta(days=1),
    )


def test_a_logged_touch_is_recorded_without_its_note(cast: Cast, deal: Deal) -> None:
    touch = touch_log(by=cast.manager, kind="warming", deal=deal, note="Budget is 5k")
    [entry] = log_of(touch)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.manager.pk)
    assert entry.changes["kind"] == [None, "warming"]
    assert entry.changes["note"] is None


def test_a_task_is_recorded_when_planned_moved_and_done(cast: Cast, deal: Deal) -> None:
    task = _task(cast, deal)
    later = timezone.now() + dt.timedelta(days=3)
    task_reschedule(task_id=task.pk, by=cast.manager, due_at=later)
    task_complete(task_id=task.pk, by=cast.manager)
    assert actions_of(task) == [AuditAction.CREATE, AuditAction.UPDATE, AuditAction.COMPLETE]
    moved, done = log_of(task)[1:]
    assert list(moved.changes) == ["due_at"]
    assert set(done.changes) == {"done_at", "done_touch"}


def test_closing_a_deal_cancels_its_tasks_with_one_entry_each(cast: Cast, deal: Deal) -> None:
    tasks = [_task(cast, deal, f"Call {n}") for n in range(3)]
    deal_win(deal_id=deal.pk, version=deal.version, by=cast.head)
    for task in tasks:
        entry = log_of(task)[-1]
        assert (entry.action, entry.actor_id) == (AuditAction.CANCEL, cast.head.pk)
        assert list(entry.changes) == ["cancelled_at"]


def test_cadence_tasks_are_recorded_when_made_and_when_cancelled(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    cadence = Cadence.objects.create(name="Two calls")
    for number in (1, 2):
        CadenceStep.objects.create(
            cadence=cadence,
            position=number,
            day_offset=number,
            kind=TouchKind.WARMING,
            channel=Channel.CALL,
        )
    second, third = stages_of(pipeline)[1:3]
    cadence.stages.add(second)
    deal = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=cast.manager)
    tasks = list(Task.objects.filter(cadence_run__cadence=cadence))
    assert len(tasks) == 2
    assert [actions_of(task) for task in tasks] == [[AuditAction.CREATE]] * 2
    deal_move(deal_id=deal.pk, stage=third, version=deal.version, by=cast.head)
    for task in tasks:
        entry = log_of(task)[-1]
        assert (entry.action, entry.actor_id) == (AuditAction.CANCEL, cast.head.pk)


def test_handing_a_deal_over_hands_its_tasks_over_with_one_entry_each(
    cast: Cast, deal: Deal
) -> None:
    tasks = [_task(cast, deal, f"Call {n}") for n in range(2)]
    deal_assign(deal_id=deal.pk, owner=cast.head, by=cast.head)
    for task in tasks:
        entry = log_of(task)[-1]
        assert (entry.action, entry.actor_id) == (AuditAction.ASSIGN, cast.head.pk)
        assert entry.changes == {"assignee": [cast.manager.pk, cast.head.pk]}


def test_a_calendar_key_reset_is_recorded_without_the_key(cast: Cast, person: Person) -> None:
    key = calendar_key_reset(user=cast.manager)
    entry = log_of(cast.manager)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.manager.pk)
    assert entry.changes == {"calendar_key": None}
    assert key not in str(entry.changes)
