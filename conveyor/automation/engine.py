"""The automation engine (the "digital pipeline"): events become runs, runs become actions.

An event (a stage change, a new lead, a periodic finding) writes one AutomationRun per matching
rule in the event's own transaction; (rule, event_key) is unique, so an event reported twice runs
nothing twice. After commit a job per run calls `run_execute`, which does the rule's action in
one transaction together with marking the run done. An action the data refuses (the deal closed
meanwhile, no owner) is logged as skipped with the reason; an unexpected error is retried with
backoff and logged as failed once the attempts are spent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from conveyor.accounts.calendar import WorkCalendar
from conveyor.accounts.models import User
from conveyor.automation import attempts
from conveyor.automation.mail import email_queue
from conveyor.automation.models import (
    Action,
    AutomationRule,
    AutomationRun,
    EmailTemplate,
    JobStatus,
    Trigger,
    WebhookEndpoint,
)
from conveyor.automation.tasks import (
    automation_run_job,
)
from conveyor.automation.webhooks import active_endpoints, webhooks_emit
from conveyor.core.db import statistics_refresh
from conveyor.core.errors import ServiceError
from conveyor.core.jobs import enqueue_on_commit, queue_prune
from conveyor.intake.models import Lead
from conveyor.pipelines import services as deal_services
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, Stage, StageChange
from conveyor.touches import services as touch_services
from conveyor.touches.cadences import cadence_start
from conveyor.touches.models import Cadence, Channel, Touch, TouchKind
from conveyor.touches.selectors import open_tasks, rotting_q

logger = logging.getLogger(__name__)

# Which triggers a stage change fires, and at which stage the rule's own stage is compared.
_CHANGE_TRIGGERS: dict[str, tuple[str, ...]] = {
    ChangeKind.ENTER: (Trigger.DEAL_CREATED, Trigger.STAGE_ENTERED),
    ChangeKind.MOVE: (Trigger.STAGE_ENTERED,),
    ChangeKind.REOPENED: (Trigger.STAGE_ENTERED,),
    ChangeKind.WON: (Trigger.DEAL_WON,),
    ChangeKind.LOST: (Trigger.DEAL_LOST,),
}
# Triggers about the deal's current stage (not its closing): a run acts only while it is there.
_STAGE_BOUND = (Trigger.STAGE_ENTERED, Trigger.NO_TOUCH, Trigger.DEAL_ROTTING, Trigger.TASK_OVERDUE)
# A periodic pass looks at this many candidates per rule at most; the next pass takes the rest.
PERIODIC_BATCH = 5000
# A due row this much older than its time had its job lost: the sweep enqueues it again.
SWEEP_GRACE = 2 * attempts.LEASE


# ---------------------------------------------------------------------------------------------
# Events → runs


def deal_payload(deal: Deal) -> dict[str, Any]:
    """What webhooks and the run log say about a deal (ids and plain values only)."""
    return {
        "id": deal.pk,
        "person_id": deal.person_id,
        "pipeline_id": deal.pipeline_id,
        "stage_id": deal.stage_id,
        "owner_id": deal.owner_id,
        "status": deal.status,
        "amount": str(deal.amount),
        "currency": deal.currency,
        "version": deal.version,
    }


def _runs_create(
    rules: Iterable[AutomationRule],
    *,
    event_key: str,
    at: dt.datetime,
    deal_id: int | None = None,
    lead: Lead | None = None,
) -> list[AutomationRun]:
    """One run per rule for this event (none twice), each enqueued after commit — delayed
    ones with `run_after`, so `delay_days` waits in the queue rather than in a worker."""
    rules = list(rules)
    if not rules:
        return []
    seen = set(
        AutomationRun.objects.filter(rule__in=rules, event_key=event_key).values_list(
            "rule_id", flat=True
        )
    )
    runs = AutomationRun.objects.bulk_create(
        AutomationRun(
            rule=rule,
            event_key=event_key,
            deal_id=deal_id,
            lead=lead,
            next_attempt_at=at + dt.timedelta(days=rule.delay_days),
        )
        for rule in rules
        if rule.pk not in seen
    )
    now = timezone.now()
    for run in runs:  # both databases return the new ids from a bulk insert
        enqueue_on_commit(
            automation_run_job,
            run.pk,
            run_after=run.next_attempt_at if run.next_attempt_at > now else None,
        )
    return runs


def _matching_rules(
    pipeline_id: int, triggers: Iterable[str], stage_id: int | None
) -> list[AutomationRule]:
    return list(
        AutomationRule.objects.filter(
            pipeline_id=pipeline_id, trigger__in=list(triggers), is_active=True
        )
        .filter(Q(stage__isnull=True) | Q(stage_id=stage_id))
        .order_by("position", "pk")
    )


def on_deal_changed(*, deal: Deal, change: StageChange) -> None:
    """Record the runs a stage change fires, and tell subscribed webhooks (same transaction)."""
    triggers = _CHANGE_TRIGGERS.get(change.kind, ())
    # Won and lost have no stage of their own: the rule's stage is the one the deal closed at.
    stage_id = change.to_stage_id or change.from_stage_id
    if not triggers:
        return
    payload = deal_payload(deal)
    # One query for the rules of every trigger this change fires (the hot path: every move).
    rules = _matching_rules(deal.pipeline_id, triggers, stage_id)
    endpoints = active_endpoints()  # once for every trigger of this change
    for trigger in triggers:
        event_key = f"{trigger}:{change.pk}"
        fired = [rule for rule in rules if rule.trigger == trigger]
        _runs_create(fired, event_key=event_key, at=change.at, deal_id=deal.pk)
        webhooks_emit(
            event=trigger,
            event_id=event_key,
            payload={"deal": payload, "stage_id": stage_id},
            active=endpoints,
        )


def on_lead_received(*, lead: Lead) -> None:
    """Runs of 'lead received' rules in the pipeline the lead was routed to."""
    event_key = f"{Trigger.LEAD_RECEIVED}:{lead.pk}"
    pipeline_id = lead.routed_pipeline_id
    if pipeline_id is not None:
        rules = _matching_rules(pipeline_id, [Trigger.LEAD_RECEIVED], None)
        _runs_create(
            rules, event_key=event_key, at=lead.received_at, deal_id=lead.deal_id, lead=lead
        )
    webhooks_emit(
        event=Trigger.LEAD_RECEIVED,
        event_id=event_key,
        payload={
            "lead": {
                "id": lead.pk,
                "channel": lead.channel,
                "status": lead.status,
                "person_id": lead.person_id,
                "deal_id": lead.deal_id,
                "segment_id": lead.segment_id,
                "pipeline_id": pipeline_id,
            }
        },
    )


# ---------------------------------------------------------------------------------------------
# Runs → actions


def _param(run: AutomationRun, name: str, model: type[Any]) -> Any:
    """The object a rule's parameter names; a rule pointing at nothing is skipped, not retried."""
    value = run.rule.params.get(name)
    try:
        return model._default_manager.get(pk=int(value))
    except (TypeError, ValueError, model.DoesNotExist) as exc:
        raise ServiceError(
            _("The rule's parameter '%(name)s' does not name an existing record.") % {"name": name},
            field=name,
        ) from exc


def _open_deal(run: AutomationRun) -> Deal:
    if run.deal_id is None:
        raise ServiceError(_("There is no deal for this event."), field="deal")
    deal = Deal.objects.select_related("owner", "person", "stage").get(pk=run.deal_id)
    if deal.status != DealStatus.OPEN:
        raise ServiceError(_("The deal is no longer open."), field="deal")
    # A delayed or periodic run acts only while the deal is still where the rule looks.
    if (
        run.rule.stage_id
        and run.rule.trigger in _STAGE_BOUND
        and deal.stage_id != run.rule.stage_id
    ):
        raise ServiceError(_("The deal has left the rule's stage."), field="stage")
    return deal


def _any_deal(run: AutomationRun) -> Deal:
    if run.deal_id is None:
        raise ServiceError(_("There is no deal for this event."), field="deal")
    return Deal.objects.select_related("owner", "person").get(pk=run.deal_id)


def _create_task(run: AutomationRun) -> str:
    deal = _open_deal(run)
    if deal.owner is None:
        raise ServiceError(_("The deal has no owner to give the task to."), field="owner")
    params = run.rule.params
    days = int(params.get("due_in_days", 0) or 0)
    now = timezone.now()
    task = touch_services.task_schedule(
        by=None,
        assignee=deal.owner,
        deal=deal,
        title=str(params.get("title") or run.rule.name),
        due_at=WorkCalendar(timezone.localdate(now)).due_at(now, days),
        kind=str(params.get("kind") or TouchKind.WARMING),
        channel=str(params.get("channel") or Channel.CALL),
    )
    return _("Task #%(id)s planned for %(when)s.") % {
        "id": task.pk,
        "when": timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M"),
    }


def _start_cadence(run: AutomationRun) -> str:
    deal = _open_deal(run)
    cadence = _param(run, "cadence_id", Cadence)
    cadence_run = cadence_start(deal=deal, cadence=cadence, by=None, stage=deal.stage)
    planned = cadence_run.tasks.count()
    return ngettext(
        "Cadence '%(name)s' started (%(n)s task).",
        "Cadence '%(name)s' started (%(n)s tasks).",
        planned,
    ) % {"name": cadence.name, "n": planned}


def _target(run: AutomationRun) -> tuple[Pipeline, Stage | None]:
    pipeline = _param(run, "pipeline_id", Pipeline)
    stage = _param(run, "stage_id", Stage) if run.rule.params.get("stage_id") else None
    return pipeline, stage


def _move_to_pipeline(run: AutomationRun) -> str:
    deal = _open_deal(run)
    pipeline, stage = _target(run)
    deal = deal_services.deal_transfer(
        deal_id=deal.pk, pipeline=pipeline, stage=stage, version=None, by=None
    )
    return _("Moved to '%(pipeline)s'.") % {"pipeline": pipeline.name}


def _copy_to_pipeline(run: AutomationRun) -> str:
    source = _any_deal(run)
    pipeline, stage = _target(run)
    # One open deal per person and pipeline: a copy rule can never feed a loop of copies.
    if Deal.objects.filter(
        person_id=source.person_id, pipeline=pipeline, status=DealStatus.OPEN
    ).exists():
        raise ServiceError(
            _("The client already has an open deal in '%(pipeline)s'.")
            % {"pipeline": pipeline.name},
            field="pipeline",
        )
    copy = deal_services.deal_open(
        person=source.person,
        pipeline=pipeline,
        stage=stage,
        owner=source.owner,
        by=None,
        title=source.title,
        currency=source.currency,
    )
    return _("Deal #%(id)s opened in '%(pipeline)s'.") % {"id": copy.pk, "pipeline": pipeline.name}


def _assign_owner(run: AutomationRun) -> str:
    deal = _open_deal(run)
    owner = _param(run, "user_id", User)
    deal_services.deal_assign(deal_id=deal.pk, owner=owner, by=None)
    return _("Assigned to %(name)s.") % {"name": owner.get_full_name()}


def _send_email(run: AutomationRun) -> str:
    deal = _any_deal(run)
    template = _param(run, "template_id", EmailTemplate)
    email = email_queue(by=None, template=template, deal=deal)
    return _("E-mail #%(id)s queued to %(to)s.") % {"id": email.pk, "to": email.to}


def _call_webhook(run: AutomationRun) -> str:
    endpoint = _param(run, "endpoint_id", WebhookEndpoint)
    payload: dict[str, Any] = {"rule_id": run.rule_id, "event_key": run.event_key}
    if run.deal_id is not None:
        payload["deal"] = deal_payload(_any_deal(run))
    if run.lead_id is not None:
        payload["lead_id"] = run.lead_id
    deliveries = webhooks_emit(
        event=run.rule.trigger,
        payload=payload,
        event_id=f"rule-{run.rule_id}:{run.event_key}",
        endpoint=endpoint,
    )
    return ngettext(
        "%(n)s webhook delivery queued.", "%(n)s webhook deliveries queued.", len(deliveries)
    ) % {"n": len(deliveries)}


ACTIONS: dict[str, Callable[[AutomationRun], str]] = {
    Action.CREATE_TASK: _create_task,
    Action.START_CADENCE: _start_cadence,
    Action.MOVE_TO_PIPELINE: _move_to_pipeline,
    Action.COPY_TO_PIPELINE: _copy_to_pipeline,
    Action.ASSIGN_OWNER: _assign_owner,
    Action.SEND_EMAIL: _send_email,
    Action.CALL_WEBHOOK: _call_webhook,
}


def run_execute(*, run_id: int) -> str:
    """Do one run's action, if it is still due; returns its status."""
    now = timezone.now()
    try:
        with transaction.atomic():
            run = (
                AutomationRun.objects.select_for_update()
                .filter(pk=run_id, status__in=attempts.DUE, next_attempt_at__lte=now)
                .first()
            )
            if run is None:
                return "not due"
            run.attempts += 1
            run.save(update_fields=["attempts"])
            rule = AutomationRule.objects.get(pk=run.rule_id)
            run.rule = rule
            if not rule.is_active:
                attempts.succeed(run, _("The rule was switched off."), status=JobStatus.SKIPPED)
                return run.status
            try:
                with transaction.atomic():
                    result = ACTIONS[rule.action](run)
            except ServiceError as refused:
                attempts.succeed(run, str(refused.message), status=JobStatus.SKIPPED)
            else:
                attempts.succeed(run, result)
            return run.status
    except Exception as error:
        logger.exception("automation run %s failed", run_id)
        with transaction.atomic():
            run = AutomationRun.objects.select_for_update().get(pk=run_id)
            run.attempts += 1
            run.save(update_fields=["attempts"])
            attempts.fail(run, f"{type(error).__name__}: {error}")
        return run.status


# ---------------------------------------------------------------------------------------------
# Periodic checks


def _periodic_runs(rule: AutomationRule, found: list[tuple[int, str]], now: dt.datetime) -> int:
    """Runs for (deal id, event key) pairs found by a periodic check; returns how many are new."""
    if not found:
        return 0
    keys = [key for _deal, key in found]
    seen = set(
        AutomationRun.objects.filter(rule=rule, event_key__in=keys).values_list(
            "event_key", flat=True
        )
    )
    new = [(deal_id, key) for deal_id, key in found if key not in seen]
    created = AutomationRun.objects.bulk_create(
        AutomationRun(rule=rule, event_key=key, deal_id=deal_id, next_attempt_at=now)
        for deal_id, key in new
    )
    for run in created:  # both databases return the new ids from a bulk insert
        enqueue_on_commit(automation_run_job, run.pk)
    return len(created)


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")


def _no_touch(rule: AutomationRule, now: dt.datetime) -> list[tuple[int, str]]:
    """Open deals with no touch for `delay_days` (counted from their last touch, or from their
    opening). The key holds the last touch time: a new silence is a new event."""
    last_touch = (
        Touch.objects.filter(deal=OuterRef("pk"))
        .values("deal")
        .annotate(last=Max("at"))
        .values("last")
    )
    deals = (
        Deal.objects.filter(pipeline_id=rule.pipeline_id, status=DealStatus.OPEN)
        .annotate(quiet_since=Coalesce(Subquery(last_touch), "opened_at"))
        .filter(quiet_since__lt=now - dt.timedelta(days=rule.delay_days))
    )
    if rule.stage_id:
        deals = deals.filter(stage_id=rule.stage_id)
    return [
        (pk, f"{Trigger.NO_TOUCH}:{pk}:{_stamp(since)}")
        for pk, since in deals.order_by("pk").values_list("pk", "quiet_since")[:PERIODIC_BATCH]
    ]


def _task_overdue(rule: AutomationRule, now: dt.datetime) -> list[tuple[int, str]]:
    """Open tasks past due on the pipeline's open deals; a rescheduled task is a new event."""
    tasks = open_tasks().filter(
        deal__pipeline_id=rule.pipeline_id,
        deal__status=DealStatus.OPEN,
        due_at__lt=now - dt.timedelta(days=rule.delay_days),
    )
    if rule.stage_id:
        tasks = tasks.filter(deal__stage_id=rule.stage_id)
    return [
        (deal_id, f"{Trigger.TASK_OVERDUE}:{pk}:{_stamp(due)}")
        for pk, deal_id, due in tasks.order_by("pk").values_list("pk", "deal_id", "due_at")[
            :PERIODIC_BATCH
        ]
    ]


def _rotting(rule: AutomationRule, now: dt.datetime) -> list[tuple[int, str]]:
    """Open deals longer in their stage than the stage's rot days (one event per stay)."""
    stages = Stage.objects.filter(pipeline_id=rule.pipeline_id)
    if rule.stage_id:
        stages = stages.filter(pk=rule.stage_id)
    deals = Deal.objects.filter(rotting_q(stages, now), status=DealStatus.OPEN)
    return [
        (pk, f"{Trigger.DEAL_ROTTING}:{pk}:{_stamp(entered)}")
        for pk, entered in deals.order_by("pk").values_list("pk", "stage_entered_at")[
            :PERIODIC_BATCH
        ]
    ]


_PERIODIC: dict[str, Callable[[AutomationRule, dt.datetime], list[tuple[int, str]]]] = {
    Trigger.NO_TOUCH: _no_touch,
    Trigger.TASK_OVERDUE: _task_overdue,
    Trigger.DEAL_ROTTING: _rotting,
}


def periodic_checks(now: dt.datetime | None = None) -> str:
    """The scheduled pass: fire no-touch, overdue and rotting rules, and re-enqueue jobs whose
    enqueue was lost. Each rule's findings commit on their own."""
    now = now or timezone.now()
    fired = 0
    rules = AutomationRule.objects.filter(is_active=True, trigger__in=list(_PERIODIC))
    for rule in rules.order_by("pk"):
        with transaction.atomic():
            fired += _periodic_runs(rule, _PERIODIC[rule.trigger](rule, now), now)
    swept = 0
    for model, job in attempts.JOBS.items():
        for pk in attempts.due_ids(model, older_than=SWEEP_GRACE):
            job.enqueue(pk)
            swept += 1
    pruned = queue_prune(now)
    statistics_refresh(full=False)
    return f"fired {fired}, re-enqueued {swept}, pruned {pruned}"
