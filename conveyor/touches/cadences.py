"""Writes on cadences: a deal entering a stage gets the stage's cadences scheduled as tasks;
leaving the stage or closing the deal cancels what is still open.

Called from the deal services' transaction (touches/receivers.py reacts to `deal_changed`), so
the tasks appear and disappear with the stage change itself. Every task made or cancelled here
gets its own audit entry, credited to whoever changed the deal.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.calendar import WorkCalendar
from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_owner_access
from conveyor.core.audit import audit_created, audited_update
from conveyor.core.errors import ServiceError
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Deal, DealStatus, Stage
from conveyor.touches.models import Cadence, CadenceRun, Task
from conveyor.touches.selectors import open_tasks

# Steps a cadence may have at most; a longer one is a mistake, not a process.
MAX_STEPS = 50


def _step_title(cadence: Cadence, position: int, total: int, kind_label: str, channel: str) -> str:
    return _("%(cadence)s · step %(n)s of %(total)s: %(kind)s, %(channel)s") % {
        "cadence": cadence.name,
        "n": position,
        "total": total,
        "kind": kind_label,
        "channel": channel,
    }


@transaction.atomic
def cadence_start(
    *,
    deal: Deal,
    cadence: Cadence,
    by: User | None,
    stage: Stage | None = None,
    at: dt.datetime | None = None,
) -> CadenceRun:
    """Schedule every step of `cadence` as a task of the deal's owner, working days after `at`
    (weekends and holidays skipped). A cadence already running on the deal is not doubled."""
    at = at or timezone.now()
    if by is not None:
        require_owner_access(by, deal.owner)
    if deal.status != DealStatus.OPEN:
        raise ServiceError(_("Cadences run on open deals only."), field="deal")
    if deal.owner is None:
        raise ServiceError(_("The deal has no owner to do the cadence's touches."), field="deal")
    running = CadenceRun.objects.filter(deal=deal, cadence=cadence, stopped_at__isnull=True)
    if running.exists():
        raise ServiceError(_("This cadence is already running on the deal."), field="cadence")
    steps = list(cadence.steps.order_by("position")[:MAX_STEPS])
    if not steps:
        raise ServiceError(_("This cadence has no steps."), field="cadence")
    run = CadenceRun.objects.create(deal=deal, cadence=cadence, stage=stage, started_at=at)
    calendar = WorkCalendar(timezone.localdate(at))
    tasks = Task.objects.bulk_create(
        Task(
            deal=deal,
            person_id=deal.person_id,
            assignee=deal.owner,
            title=_step_title(
                cadence,
                number,
                len(steps),
                step.get_kind_display(),
                step.get_channel_display(),
            )[:200],
            due_at=calendar.due_at(at, step.day_offset),
            kind=step.kind,
            channel=step.channel,
            cadence_step=step,
            cadence_run=run,
            created_at=at,
        )
        for number, step in enumerate(steps, start=1)
    )
    audit_created(actor=by, instances=tasks)
    return run


def cadence_stop(
    *, deal: Deal, at: dt.datetime, by: User | None, keep_stage: Stage | None = None
) -> int:
    """Stop the deal's running cadences (all, or all but those of `keep_stage`) and cancel their
    open tasks. Returns how many tasks were cancelled."""
    runs = CadenceRun.objects.filter(deal=deal, stopped_at__isnull=True)
    if keep_stage is not None:
        runs = runs.exclude(stage=keep_stage)
    run_ids = list(runs.values_list("pk", flat=True))
    if not run_ids:
        return 0
    CadenceRun.objects.filter(pk__in=run_ids).update(stopped_at=at)
    return audited_update(
        Task.objects.filter(
            cadence_run_id__in=run_ids, done_at__isnull=True, cancelled_at__isnull=True
        ),
        actor=by,
        values={"cancelled_at": at},
        action=AuditAction.CANCEL,
    )


def cadences_follow_stage(
    *, deal: Deal, stage: Stage | None, at: dt.datetime, by: User | None = None
) -> None:
    """Keep cadences in step with where the deal now is: runs of other stages stop, the new
    stage's cadences start. A closed deal (stage None) stops everything and its open tasks go."""
    if stage is None or deal.status != DealStatus.OPEN:
        # Every open task goes, the cadences' among them: only the runs are left to stop.
        CadenceRun.objects.filter(deal=deal, stopped_at__isnull=True).update(stopped_at=at)
        audited_update(
            open_tasks().filter(deal=deal),
            actor=by,
            values={"cancelled_at": at},
            action=AuditAction.CANCEL,
        )
        return
    cadence_stop(deal=deal, at=at, by=by, keep_stage=stage)
    if deal.owner_id is None:
        return
    # Every stage change passes here: a stage without cadences costs one query, no more.
    cadences = list(Cadence.objects.filter(stages=stage))
    if not cadences:
        return
    running = set(
        CadenceRun.objects.filter(deal=deal, stopped_at__isnull=True).values_list(
            "cadence_id", flat=True
        )
    )
    for cadence in cadences:
        if cadence.pk not in running:
            cadence_start(deal=deal, cadence=cadence, by=by, stage=stage, at=at)
