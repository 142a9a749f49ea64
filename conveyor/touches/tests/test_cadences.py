"""Cadences: entering a stage schedules its steps on working days; leaving cancels the rest."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from pytest_django import Settings

from conveyor.accounts.models import Holiday
from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_assign, deal_lose, deal_move, deal_win
from conveyor.pipelines.tests.support import open_deal, stages_of
from conveyor.testing.factories import LossReasonFactory, PersonFactory
from conveyor.touches.cadences import cadence_start
from conveyor.touches.models import Cadence, CadenceRun, CadenceStep, Channel, Task, TouchKind

if TYPE_CHECKING:
    from conftest import Cast

# A Friday, 09:00 in Sofia.
FRIDAY = dt.datetime(2025, 3, 7, 7, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _sofia(settings: Settings) -> None:
    settings.TIME_ZONE = "Europe/Sofia"
    settings.CONVEYOR_TASK_HOUR = 10
    settings.CONVEYOR_WORKDAYS = [1, 2, 3, 4, 5]


def five_and_one(pipeline: Pipeline, position: int = 1) -> Cadence:
    cadence = Cadence.objects.create(name="5:1", warming_per_closing=5)
    for number, day in enumerate([0, 1, 2, 3, 4, 5], start=1):
        CadenceStep.objects.create(
            cadence=cadence,
            position=number,
            day_offset=day,
            kind=TouchKind.CLOSING if number == 6 else TouchKind.WARMING,
            channel=Channel.CALL,
            script=f"Script {number}",
        )
    cadence.stages.add(stages_of(pipeline)[position - 1])
    return cadence


def _local_days(deal: Deal) -> list[str]:
    from django.utils import timezone

    return [
        timezone.localtime(task.due_at).strftime("%a %d %H:%M")
        for task in Task.objects.filter(deal=deal).order_by("due_at")
    ]


def test_entering_a_stage_schedules_its_cadence_on_working_days(
    cast: Cast, pipeline: Pipeline
) -> None:
    five_and_one(pipeline, position=2)
    Holiday.objects.create(date=dt.date(2025, 3, 11), name="Holiday")  # a Tuesday
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    assert not Task.objects.filter(deal=deal).exists()
    deal_move(
        deal_id=deal.pk, stage=stages_of(pipeline)[1], version=deal.version, by=None, at=FRIDAY
    )
    # Day 0 is Friday itself; weekends and the Tuesday holiday are skipped.
    assert _local_days(deal) == [
        "Fri 07 10:00",
        "Mon 10 10:00",
        "Wed 12 10:00",
        "Thu 13 10:00",
        "Fri 14 10:00",
        "Mon 17 10:00",
    ]
    tasks = list(Task.objects.filter(deal=deal).order_by("due_at"))
    assert [task.kind for task in tasks] == [TouchKind.WARMING] * 5 + [TouchKind.CLOSING]
    assert all(task.assignee == cast.manager for task in tasks)
    assert tasks[0].cadence_step is not None
    assert tasks[0].cadence_step.script == "Script 1"
    assert "step 1 of 6" in tasks[0].title


def test_a_step_due_today_after_the_hour_is_due_an_hour_from_now(
    cast: Cast, pipeline: Pipeline
) -> None:
    five_and_one(pipeline)
    late = FRIDAY + dt.timedelta(hours=6)  # 15:00 in Sofia
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=late)
    first = Task.objects.filter(deal=deal).order_by("due_at").first()
    assert first is not None
    assert first.due_at == late + dt.timedelta(hours=1)


def test_leaving_the_stage_cancels_the_open_cadence_tasks(cast: Cast, pipeline: Pipeline) -> None:
    five_and_one(pipeline)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    own = Task.objects.create(deal=deal, assignee=cast.manager, title="mine", due_at=FRIDAY)
    later = FRIDAY + dt.timedelta(days=1)
    deal_move(
        deal_id=deal.pk, stage=stages_of(pipeline)[1], version=deal.version, by=None, at=later
    )
    assert (
        Task.objects.filter(deal=deal, cadence_run__isnull=False, cancelled_at=later).count() == 6
    )
    run = CadenceRun.objects.get(deal=deal)
    assert run.stopped_at == later
    own.refresh_from_db()
    assert own.cancelled_at is None  # a task planned by hand stays while the deal is open


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_closing_the_deal_cancels_every_open_task(
    cast: Cast, pipeline: Pipeline, outcome: str
) -> None:
    five_and_one(pipeline)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    Task.objects.create(deal=deal, assignee=cast.manager, title="mine", due_at=FRIDAY)
    at = FRIDAY + dt.timedelta(hours=1)
    if outcome == "won":
        deal_win(deal_id=deal.pk, version=deal.version, by=None, at=at)
    else:
        deal_lose(deal_id=deal.pk, version=deal.version, by=None, at=at, reason=LossReasonFactory())
    assert not Task.objects.filter(deal=deal, cancelled_at__isnull=True, done_at__isnull=True)


def test_moving_back_into_the_stage_starts_the_cadence_afresh(
    cast: Cast, pipeline: Pipeline
) -> None:
    five_and_one(pipeline)
    first, second = stages_of(pipeline)[:2]
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    deal = deal_move(
        deal_id=deal.pk,
        stage=second,
        version=deal.version,
        by=None,
        at=FRIDAY + dt.timedelta(hours=1),
    )
    deal_move(
        deal_id=deal.pk,
        stage=first,
        version=deal.version,
        by=None,
        at=FRIDAY + dt.timedelta(hours=2),
    )
    assert CadenceRun.objects.filter(deal=deal).count() == 2
    assert Task.objects.filter(deal=deal, cancelled_at__isnull=True).count() == 6


def test_a_cadence_does_not_run_twice_on_one_deal(cast: Cast, pipeline: Pipeline) -> None:
    cadence = five_and_one(pipeline)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    with pytest.raises(ServiceError, match="already running"):
        cadence_start(deal=deal, cadence=cadence, by=cast.manager)
    assert Task.objects.filter(deal=deal).count() == 6


def test_a_manager_cannot_start_a_cadence_on_someone_elses_deal(
    cast: Cast, pipeline: Pipeline
) -> None:
    cadence = Cadence.objects.create(name="Solo")
    CadenceStep.objects.create(cadence=cadence, position=1, day_offset=0, kind="warming")
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    with pytest.raises(ServiceError):
        cadence_start(deal=deal, cadence=cadence, by=cast.outsider)
    assert not Task.objects.filter(deal=deal).exists()


def test_a_deal_without_owner_gets_no_cadence(pipeline: Pipeline, db: None) -> None:
    five_and_one(pipeline)
    deal = open_deal(PersonFactory(), pipeline, owner=None, at=FRIDAY)
    assert not Task.objects.filter(deal=deal).exists()


def test_reassigning_a_deal_moves_its_open_tasks(cast: Cast, pipeline: Pipeline) -> None:
    five_and_one(pipeline)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=FRIDAY)
    done = Task.objects.filter(deal=deal).order_by("due_at").first()
    assert done is not None
    Task.objects.filter(pk=done.pk).update(done_at=FRIDAY)
    deal_assign(deal_id=deal.pk, owner=cast.head, by=cast.head)
    assert Task.objects.filter(deal=deal, assignee=cast.head).count() == 5
    assert Task.objects.get(pk=done.pk).assignee == cast.manager
