"""The automation engine: events become runs (never twice), runs do their action through the
real job worker on both backends, refusals are logged as skipped, errors retried with backoff."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from django.utils import timezone
from pytest_django import Settings

from conveyor.automation import engine
from conveyor.automation.models import (
    Action,
    AutomationRule,
    AutomationRun,
    JobStatus,
    Trigger,
)
from conveyor.automation.tasks import automation_run_job
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, Process, StageChange
from conveyor.pipelines.services import deal_lose, deal_move, deal_win
from conveyor.pipelines.tests.support import open_deal, stages_of
from conveyor.testing.factories import (
    LossReasonFactory,
    PersonFactory,
    pipeline_with_stages,
)
from conveyor.testing.jobs import drain
from conveyor.touches.models import Task, TouchKind
from conveyor.touches.services import touch_log

if TYPE_CHECKING:
    from conftest import Cast


def _rule(pipeline: Pipeline, trigger: str, action: str, **kwargs: object) -> AutomationRule:
    return AutomationRule.objects.create(
        name=kwargs.pop("name", f"{trigger} → {action}"),
        pipeline=pipeline,
        trigger=trigger,
        action=action,
        **kwargs,
    )


def _run_all() -> None:
    """Execute every due run directly (the worker tests below go through the real queue)."""
    for run_id in AutomationRun.objects.filter(status__in=["pending", "retrying"]).values_list(
        "pk", flat=True
    ):
        engine.run_execute(run_id=run_id)


@pytest.mark.django_db(transaction=True)
def test_entering_a_stage_plans_a_task_through_the_worker(
    job_backend: str, cast: Cast, pipeline: Pipeline
) -> None:
    second = stages_of(pipeline)[1]
    _rule(
        pipeline,
        Trigger.STAGE_ENTERED,
        Action.CREATE_TASK,
        stage=second,
        params={"title": "Send the offer", "kind": "closing", "due_in_days": 1},
    )
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=cast.manager)

    assert drain() >= 1
    run = AutomationRun.objects.get()
    assert run.status == JobStatus.DONE, run.result
    assert run.attempts == 1
    task = Task.objects.get(deal=deal, title="Send the offer")
    assert task.assignee == cast.manager
    assert task.kind == TouchKind.CLOSING
    assert task.due_at > timezone.now()


def test_a_rule_fires_only_at_its_stage(cast: Cast, pipeline: Pipeline) -> None:
    _first, second, third, _fourth = stages_of(pipeline)
    _rule(pipeline, Trigger.STAGE_ENTERED, Action.CREATE_TASK, stage=third)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    deal = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=None)
    assert not AutomationRun.objects.exists()
    deal_move(deal_id=deal.pk, stage=third, version=deal.version, by=None)
    assert AutomationRun.objects.count() == 1


def test_deal_created_fires_on_open_not_on_move(cast: Cast, pipeline: Pipeline) -> None:
    _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK, params={"title": "Call back"})
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=deal.version, by=None)
    assert AutomationRun.objects.get().event_key.startswith("deal_created:")
    _run_all()
    assert Task.objects.filter(deal=deal, title="Call back").count() == 1


def test_the_same_event_never_runs_a_rule_twice(cast: Cast, pipeline: Pipeline) -> None:
    _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK, params={"title": "Once"})
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    change = StageChange.objects.get(deal=deal)
    engine.on_deal_changed(deal=deal, change=change)  # the event reported again
    assert AutomationRun.objects.count() == 1
    run = AutomationRun.objects.get()
    assert engine.run_execute(run_id=run.pk) == JobStatus.DONE
    assert engine.run_execute(run_id=run.pk) == "not due"  # a duplicate job
    assert Task.objects.filter(title="Once").count() == 1


def test_a_delayed_rule_waits_its_days(cast: Cast, pipeline: Pipeline) -> None:
    _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK, delay_days=3)
    now = timezone.now()
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, at=now)
    run = AutomationRun.objects.get(deal=deal)
    assert run.next_attempt_at == now + dt.timedelta(days=3)
    assert engine.run_execute(run_id=run.pk) == "not due"
    assert not Task.objects.filter(deal=deal).exists()
    AutomationRun.objects.filter(pk=run.pk).update(next_attempt_at=now)
    assert engine.run_execute(run_id=run.pk) == JobStatus.DONE


def test_won_in_conversion_opens_a_repeat_deal(cast: Cast, pipeline: Pipeline) -> None:
    repeat = pipeline_with_stages(["Used it", "Asked for more"], process=Process.ACCOUNT_MANAGEMENT)
    _rule(
        pipeline,
        Trigger.DEAL_WON,
        Action.COPY_TO_PIPELINE,
        delay_days=30,
        params={"pipeline_id": repeat.pk},
    )
    person = PersonFactory(owner=cast.manager)
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_win(deal_id=deal.pk, version=deal.version, by=None, amount=Decimal(500))
    run = AutomationRun.objects.get()
    assert run.next_attempt_at >= StageChange.objects.get(kind=ChangeKind.WON).at + dt.timedelta(
        days=30
    )
    AutomationRun.objects.update(next_attempt_at=timezone.now())
    _run_all()
    copy = Deal.objects.get(pipeline=repeat)
    assert copy.person == person
    assert copy.owner == cast.manager
    assert copy.status == DealStatus.OPEN
    assert copy.stage == stages_of(repeat)[0]


def test_a_copy_is_skipped_when_the_client_already_has_an_open_deal_there(
    cast: Cast, pipeline: Pipeline
) -> None:
    repeat = pipeline_with_stages(["Used it"], process=Process.ACCOUNT_MANAGEMENT)
    person = PersonFactory(owner=cast.manager)
    open_deal(person, repeat, owner=cast.manager)
    _rule(pipeline, Trigger.DEAL_WON, Action.COPY_TO_PIPELINE, params={"pipeline_id": repeat.pk})
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_win(deal_id=deal.pk, version=deal.version, by=None)
    _run_all()
    run = AutomationRun.objects.get()
    assert run.status == JobStatus.SKIPPED
    assert "already has an open deal" in run.result
    assert Deal.objects.filter(pipeline=repeat).count() == 1


def test_move_to_pipeline_keeps_the_history(cast: Cast, pipeline: Pipeline) -> None:
    sales = pipeline_with_stages(["Met us", "Got the offer"])
    _rule(
        pipeline,
        Trigger.STAGE_ENTERED,
        Action.MOVE_TO_PIPELINE,
        stage=stages_of(pipeline)[1],
        params={"pipeline_id": sales.pk},
    )
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=deal.version, by=None)
    _run_all()
    deal.refresh_from_db()
    assert deal.pipeline == sales
    assert deal.stage == stages_of(sales)[0]
    last = StageChange.objects.filter(deal=deal).order_by("-at", "-pk").first()
    assert last is not None
    assert last.from_stage == stages_of(pipeline)[1]
    assert last.to_stage == stages_of(sales)[0]


def test_assign_owner_hands_over_the_open_tasks(cast: Cast, pipeline: Pipeline) -> None:
    second = stages_of(pipeline)[1]
    _rule(
        pipeline,
        Trigger.STAGE_ENTERED,
        Action.ASSIGN_OWNER,
        stage=second,
        params={"user_id": cast.head.pk},
    )
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    from conveyor.touches.services import task_schedule

    task = task_schedule(
        by=None, assignee=cast.manager, deal=deal, title="Call", due_at=timezone.now()
    )
    deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=None)
    _run_all()
    deal.refresh_from_db()
    task.refresh_from_db()
    assert deal.owner == cast.head
    assert task.assignee == cast.head


def test_an_action_on_a_closed_deal_is_skipped_with_the_reason(
    cast: Cast, pipeline: Pipeline
) -> None:
    _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    deal_lose(deal_id=deal.pk, version=deal.version, by=None, reason=LossReasonFactory())
    run = AutomationRun.objects.get(rule__trigger=Trigger.DEAL_CREATED)
    assert engine.run_execute(run_id=run.pk) == JobStatus.SKIPPED
    run.refresh_from_db()
    assert run.result == "The deal is no longer open."
    assert run.finished_at is not None


def test_a_switched_off_rule_is_skipped(cast: Cast, pipeline: Pipeline) -> None:
    rule = _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK)
    open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    AutomationRule.objects.filter(pk=rule.pk).update(is_active=False)
    _run_all()
    assert AutomationRun.objects.get().status == JobStatus.SKIPPED
    assert not Task.objects.exists()


def test_a_rule_naming_a_missing_record_is_skipped(cast: Cast, pipeline: Pipeline) -> None:
    _rule(pipeline, Trigger.DEAL_CREATED, Action.START_CADENCE, params={"cadence_id": 999999})
    open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    _run_all()
    run = AutomationRun.objects.get()
    assert run.status == JobStatus.SKIPPED
    assert "cadence_id" in run.result


def test_an_unexpected_error_is_retried_with_backoff_then_failed(
    cast: Cast, pipeline: Pipeline, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CONVEYOR_RETRY_BASE_SECONDS = 60
    settings.CONVEYOR_RETRY_MAX_ATTEMPTS = 3
    _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK)
    open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    run = AutomationRun.objects.get()

    def broken(run: AutomationRun) -> str:
        Task.objects.create(  # written, then rolled back with the failed attempt
            deal=run.deal, assignee=cast.manager, title="half", due_at=timezone.now()
        )
        raise RuntimeError("mail server on fire")

    monkeypatch.setitem(engine.ACTIONS, Action.CREATE_TASK, broken)
    waits = []
    for attempt in (1, 2):
        before = timezone.now()
        assert engine.run_execute(run_id=run.pk) == JobStatus.RETRYING
        run.refresh_from_db()
        assert run.attempts == attempt
        waits.append(run.next_attempt_at - before)
        AutomationRun.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())
    assert dt.timedelta(seconds=59) < waits[0] < dt.timedelta(seconds=70)
    assert dt.timedelta(seconds=239) < waits[1] < dt.timedelta(seconds=250)
    assert engine.run_execute(run_id=run.pk) == JobStatus.FAILED
    run.refresh_from_db()
    assert run.attempts == 3
    assert "mail server on fire" in run.result
    assert not Task.objects.filter(title="half").exists()


def _touch_days_ago(deal: Deal, days: int, cast: Cast) -> None:
    touch_log(
        by=cast.manager,
        deal=deal,
        kind=TouchKind.WARMING,
        at=timezone.now() - dt.timedelta(days=days),
    )


def test_no_touch_fires_once_per_silence(cast: Cast, pipeline: Pipeline) -> None:
    _rule(
        pipeline,
        Trigger.NO_TOUCH,
        Action.CREATE_TASK,
        delay_days=3,
        params={"title": "Warm them up"},
    )
    now = timezone.now()
    quiet = open_deal(
        PersonFactory(owner=cast.manager),
        pipeline,
        owner=cast.manager,
        at=now - dt.timedelta(days=10),
    )
    _touch_days_ago(quiet, 4, cast)
    busy = open_deal(
        PersonFactory(owner=cast.manager),
        pipeline,
        owner=cast.manager,
        at=now - dt.timedelta(days=10),
    )
    _touch_days_ago(busy, 1, cast)
    fresh = open_deal(
        PersonFactory(owner=cast.manager),
        pipeline,
        owner=cast.manager,
        at=now - dt.timedelta(days=1),
    )

    engine.periodic_checks()
    engine.periodic_checks()  # the next pass finds the same silence: nothing new
    assert list(AutomationRun.objects.values_list("deal_id", flat=True)) == [quiet.pk]
    _run_all()
    assert Task.objects.filter(deal=quiet, title="Warm them up").count() == 1
    assert not Task.objects.filter(deal__in=[busy, fresh]).exists()

    # A touch, then silence again: a new event.
    Task.objects.all().delete()
    _touch_days_ago(quiet, 3, cast)
    engine.periodic_checks(now=now + dt.timedelta(hours=1))
    assert AutomationRun.objects.filter(deal=quiet).count() == 2


def test_overdue_tasks_and_rotting_deals_fire_their_rules(cast: Cast, pipeline: Pipeline) -> None:
    first = stages_of(pipeline)[0]
    first.rot_days = 5
    first.save()
    _rule(pipeline, Trigger.TASK_OVERDUE, Action.CREATE_TASK, params={"title": "Overdue!"})
    _rule(pipeline, Trigger.DEAL_ROTTING, Action.ASSIGN_OWNER, params={"user_id": cast.head.pk})
    now = timezone.now()
    rotting = open_deal(
        PersonFactory(owner=cast.manager),
        pipeline,
        owner=cast.manager,
        at=now - dt.timedelta(days=6),
    )
    fine = open_deal(
        PersonFactory(owner=cast.manager),
        pipeline,
        owner=cast.manager,
        at=now - dt.timedelta(days=4),
    )
    Task.objects.create(
        deal=fine, assignee=cast.manager, title="late", due_at=now - dt.timedelta(hours=2)
    )
    Task.objects.create(
        deal=fine, assignee=cast.manager, title="not yet", due_at=now + dt.timedelta(hours=2)
    )
    engine.periodic_checks()
    _run_all()
    rotting.refresh_from_db()
    fine.refresh_from_db()
    assert rotting.owner == cast.head
    assert fine.owner == cast.manager
    assert Task.objects.filter(deal=fine, title="Overdue!").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_sweep_enqueues_runs_whose_job_was_lost(
    job_backend: str, cast: Cast, pipeline: Pipeline
) -> None:
    rule = _rule(pipeline, Trigger.DEAL_CREATED, Action.CREATE_TASK, params={"title": "Found"})
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    drain()  # the run's own job
    Task.objects.all().delete()
    # A run whose enqueue never happened (the process died right after commit).
    AutomationRun.objects.create(
        rule=rule,
        event_key="lost",
        deal=deal,
        next_attempt_at=timezone.now() - dt.timedelta(minutes=10),
    )
    assert "re-enqueued 1" in engine.periodic_checks()
    drain()
    assert AutomationRun.objects.get(event_key="lost").status == JobStatus.DONE
    assert Task.objects.filter(title="Found").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_runs_the_queue_and_the_periodic_checks(
    cast: Cast, pipeline: Pipeline, settings: Settings
) -> None:
    from django.core.management import call_command

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    _rule(pipeline, Trigger.NO_TOUCH, Action.CREATE_TASK, delay_days=2, params={"title": "Nudge"})
    open_deal(
        PersonFactory(owner=cast.manager),
        pipeline,
        owner=cast.manager,
        at=timezone.now() - dt.timedelta(days=3),
    )
    call_command("worker", burst=True, verbosity=0)
    assert Task.objects.filter(title="Nudge").count() == 1
    assert automation_run_job.name
