"""The demo company runs the conveyor on first start: cadences on its stages, playbooks, the
won → repeat-sales rule and the no-touch reminder, each working through the real services and
the real job worker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from conveyor.accounts.calendar import WorkCalendar
from conveyor.automation import engine
from conveyor.automation.models import Action, AutomationRule, AutomationRun, JobStatus, Trigger
from conveyor.dataset.demo import NO_TOUCH_DAYS, REPEAT_AFTER_DAYS
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Process, Stage
from conveyor.pipelines.playbooks import playbook_items
from conveyor.pipelines.services import deal_move, deal_win
from conveyor.testing.jobs import drain
from conveyor.touches.models import CadenceRun, Task, TouchKind
from conveyor.touches.selectors import cadence_progress, rhythm
from conveyor.touches.services import task_complete, touch_log

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(job_backend: str) -> None:
    call_command("demo", "--deals", "400", verbosity=0)


def _first_stage_deal() -> Deal:
    """An open first-sale deal waiting in the first stage, with an owner."""
    deal = (
        Deal.objects.filter(
            status=DealStatus.OPEN,
            pipeline__process=Process.CONVERSION,
            stage__position=1,
            owner__isnull=False,
        )
        .select_related("owner", "pipeline")
        .order_by("pk")
        .first()
    )
    assert deal is not None, "the demo has open deals in every first stage"
    return deal


def test_demo_stages_have_playbooks_scripts_and_a_mandatory_item(demo: None) -> None:
    conversion = Stage.objects.filter(pipeline__process=Process.CONVERSION)
    assert all(playbook_items(stage) for stage in conversion)
    assert all(stage.exit_criterion for stage in conversion)
    assert conversion.exclude(script="").filter(position=1).count() == 3
    mandatory = [item for stage in conversion for item in playbook_items(stage) if item.mandatory]
    assert mandatory and all(item.text == "Sent the proposal with the price" for item in mandatory)


def test_demo_rules_wire_each_first_sale_funnel_to_its_repeat_sales(demo: None) -> None:
    for pipeline in Pipeline.objects.filter(process=Process.CONVERSION):
        rules = {rule.name: rule for rule in pipeline.automation_rules.all()}
        won = next(r for r in rules.values() if r.action == Action.COPY_TO_PIPELINE)
        repeat = Pipeline.objects.get(pk=won.params["pipeline_id"])
        assert repeat.process == Process.ACCOUNT_MANAGEMENT
        assert repeat.segment_id == pipeline.segment_id
        assert won.trigger == Trigger.DEAL_WON and won.delay_days == REPEAT_AFTER_DAYS
        reminder = next(r for r in rules.values() if r.trigger == Trigger.NO_TOUCH)
        assert reminder.delay_days == NO_TOUCH_DAYS and reminder.is_active
        thanks = next(r for r in rules.values() if r.action == Action.SEND_EMAIL)
        assert not thanks.is_active  # waits for SMTP to be configured


def test_moving_a_demo_deal_into_a_cadence_stage_schedules_its_touches_on_working_days(
    demo: None,
) -> None:
    deal = _first_stage_deal()
    second = deal.pipeline.stages.get(position=2)
    moved_at = timezone.now()

    deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=deal.owner)

    run = CadenceRun.objects.get(deal=deal, stopped_at__isnull=True)
    assert run.stage == second
    tasks = list(run.tasks.order_by("due_at"))
    assert [task.kind for task in tasks] == [TouchKind.WARMING] * 5 + [TouchKind.CLOSING]
    assert all(task.assignee_id == deal.owner_id for task in tasks)
    calendar = WorkCalendar(timezone.localdate(moved_at))
    for task in tasks:
        assert calendar.is_workday(timezone.localdate(task.due_at)), task.due_at
    # The cadence of the stage it left stopped, its open tasks cancelled.
    assert not CadenceRun.objects.filter(
        deal=deal, stopped_at__isnull=True, stage__position=1
    ).exists()


def test_working_the_demo_cadence_follows_the_five_to_one_rhythm(demo: None) -> None:
    deal = _first_stage_deal()
    second = deal.pipeline.stages.get(position=2)
    deal = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=deal.owner)
    assert deal.owner is not None
    run = CadenceRun.objects.get(deal=deal, stopped_at__isnull=True)
    tasks = list(run.tasks.order_by("due_at", "pk"))

    # A closing push after two warming touches: the rhythm warns.
    for task in tasks[:2]:
        task_complete(task_id=task.pk, by=deal.owner)
    early = touch_log(
        by=deal.owner, deal=deal, kind=TouchKind.CLOSING, step="meeting", outcome="not_advanced"
    )
    assert rhythm(deal).closing_too_early
    assert early.kind == TouchKind.CLOSING

    # The rest of the cadence: three more warming touches would still be too few after that
    # closing one, so warm five times, then close — no warning.
    for task in tasks[2:5]:
        task_complete(task_id=task.pk, by=deal.owner)
    for _ in range(2):
        touch_log(by=deal.owner, deal=deal, kind=TouchKind.WARMING)
    task_complete(task_id=tasks[5].pk, by=deal.owner, step="meeting", outcome="advanced")
    pace = rhythm(deal)
    assert not pace.closing_too_early
    assert pace.warming_before_last_closing == 5
    (progress,) = cadence_progress(deal)
    assert progress.done == progress.total == 6 and progress.next_task is None


def test_a_won_demo_deal_opens_its_repeat_sales_deal_by_rule(demo: None) -> None:
    deal = _first_stage_deal()
    won = deal_win(deal_id=deal.pk, version=deal.version, by=deal.owner, amount=Decimal("1500"))
    drain()
    run = AutomationRun.objects.get(deal=won, rule__trigger=Trigger.DEAL_WON, rule__is_active=True)
    # The rule waits its days: nothing opened yet.
    assert run.status == JobStatus.PENDING
    assert run.next_attempt_at > timezone.now() + dt.timedelta(days=REPEAT_AFTER_DAYS - 1)

    # Time passes (the delayed job comes due), the worker runs it.
    AutomationRun.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())
    assert engine.run_execute(run_id=run.pk) == JobStatus.DONE
    repeat = Deal.objects.get(
        person_id=won.person_id,
        pipeline__process=Process.ACCOUNT_MANAGEMENT,
        pipeline__segment_id=won.pipeline.segment_id,
        status=DealStatus.OPEN,
        opened_at__gte=won.closed_at,
    )
    assert repeat.owner_id == won.owner_id
    assert repeat.stage.position == 1


def test_the_demo_no_touch_reminder_plans_a_task_for_silent_deals(demo: None) -> None:
    rule = AutomationRule.objects.filter(trigger=Trigger.NO_TOUCH).first()
    assert rule is not None
    engine.periodic_checks()
    drain()
    runs = AutomationRun.objects.filter(rule__trigger=Trigger.NO_TOUCH)
    assert runs.exists(), "a demo year has deals left without a touch for a week"
    assert set(runs.values_list("status", flat=True)) == {JobStatus.DONE}
    reminders = Task.objects.filter(title__startswith="No touch for a week")
    assert reminders.count() == runs.count()
    # Each reminder is on a deal silent for at least the rule's days, for its owner.
    cutoff = timezone.now() - dt.timedelta(days=NO_TOUCH_DAYS)
    for task in reminders.select_related("deal"):
        assert task.deal is not None and task.assignee_id == task.deal.owner_id
        last = task.deal.touches.order_by("-at").values_list("at", flat=True).first()
        assert last is None or last <= cutoff
