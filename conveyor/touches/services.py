"""Writes on touches and tasks: log a touch, schedule a task, complete a task; and the settings
screens' cadences and their steps. Each appends its audit entry (`conveyor.core.audit`) in its
transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_owner_access, require_settings_access
from conveyor.core.audit import (
    Changes,
    audit_deleted,
    audit_editing,
    audit_record,
    audit_saved,
    audit_snapshot,
    audited_update,
)
from conveyor.core.db import clean_and_save, locked_or_refuse, next_position
from conveyor.core.errors import ServiceError
from conveyor.core.models import AuditAction
from conveyor.core.timewindow import account_tz
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Stage
from conveyor.touches.cadences import MAX_STEPS
from conveyor.touches.models import (
    Cadence,
    CadenceStep,
    Channel,
    ClosingStep,
    Direction,
    Outcome,
    Task,
    Touch,
    TouchKind,
)
from conveyor.touches.placement import touch_counted, touch_keys

# A touch logged "now" by a client whose clock runs a little fast is still fine.
_CLOCK_SKEW = dt.timedelta(minutes=5)
# Bounds of a cadence's settings: beyond them it is a typing mistake, not a rhythm.
MAX_WARMING_PER_CLOSING = 20
MAX_DAY_OFFSET = 365


def _subject(deal: Deal | None, person: Person | None) -> tuple[Deal | None, Person]:
    """A touch or task is about a deal (and so its person) or about a person alone."""
    if deal is not None:
        if person is not None and person.pk != deal.person_id:
            raise ServiceError(_("This person is not the deal's client."), field="person")
        return deal, deal.person
    if person is None:
        raise ServiceError(_("Say which deal or person this is about."), field="deal")
    return None, person


def _check_choice(value: str, choices: type, field: str) -> None:
    if value not in choices.values:  # type: ignore[attr-defined]
        raise ServiceError(_("'%(value)s' is not a valid choice.") % {"value": value}, field=field)


@transaction.atomic
def touch_log(
    *,
    by: User | None,
    kind: str,
    deal: Deal | None = None,
    person: Person | None = None,
    channel: str = Channel.CALL,
    direction: str = Direction.OUTGOING,
    step: str = "",
    step_note: str = "",
    outcome: str = "",
    note: str = "",
    at: dt.datetime | None = None,
) -> Touch:
    """Record one touch. A closing touch must say which step was asked for and what came of it;
    a warming touch pushes for nothing, so it has neither. `by=None` is the system (an e-mail
    sent by automation): no access check, the touch is credited to the deal's owner."""
    deal, person = _subject(deal, person)
    if deal is not None:
        # Locked: a win counting the deal's touches must not miss this one, nor this one miss
        # the win (see placement.touch_counted).
        deal = Deal.objects.select_for_update(of=("self",)).select_related("owner").get(pk=deal.pk)
    owner = deal.owner if deal is not None else person.owner
    if by is not None:
        require_owner_access(by, owner)
    _check_choice(kind, TouchKind, "kind")
    _check_choice(channel, Channel, "channel")
    _check_choice(direction, Direction, "direction")
    at = at or timezone.now()
    if timezone.is_naive(at):
        raise ServiceError(_("Times must carry a time zone."), field="at")
    if at > timezone.now() + _CLOCK_SKEW:
        raise ServiceError(_("A touch cannot be logged in the future; plan a task."), field="at")
    if kind == TouchKind.CLOSING:
        if not step:
            raise ServiceError(_("Say which step the client was asked to take."), field="step")
        _check_choice(step, ClosingStep, "step")
        if step == ClosingStep.CUSTOM and not step_note.strip():
            raise ServiceError(_("Describe the step."), field="step_note")
        if not outcome:
            raise ServiceError(_("Say what came of the closing touch."), field="outcome")
        _check_choice(outcome, Outcome, "outcome")
    elif step or outcome:
        raise ServiceError(
            _("A warming touch asks for no step; log it as a closing touch instead."),
            field="kind",
        )
    touch = Touch.objects.create(
        deal=deal,
        person=person,
        user=by if by is not None else owner,
        at=at,
        kind=kind,
        channel=channel,
        direction=direction,
        step=step,
        step_note=step_note.strip() if step == ClosingStep.CUSTOM else "",
        outcome=outcome,
        note=note.strip(),
        **touch_keys(deal, at),
    )
    touch_counted(deal, at)
    audit_record(actor=by, instance=touch, action=AuditAction.CREATE)
    return touch


@transaction.atomic
def task_schedule(
    *,
    by: User | None,
    assignee: User,
    title: str,
    due_at: dt.datetime,
    deal: Deal | None = None,
    person: Person | None = None,
    kind: str = TouchKind.WARMING,
    channel: str = Channel.CALL,
) -> Task:
    """Plan the next touch with a deal or person."""
    deal, person = _subject(deal, person)
    if by is not None:
        require_owner_access(by, assignee)
        require_owner_access(by, deal.owner if deal is not None else person.owner)
    if not assignee.is_active:
        raise ServiceError(_("This user is deactivated."), field="assignee")
    if deal is not None and deal.status != DealStatus.OPEN:
        raise ServiceError(_("Tasks are planned on open deals only."), field="deal")
    if timezone.is_naive(due_at):
        raise ServiceError(_("Times must carry a time zone."), field="due_at")
    _check_choice(kind, TouchKind, "kind")
    _check_choice(channel, Channel, "channel")
    title = title.strip()
    if not title:
        raise ServiceError(_("Give the task a title."), field="title")
    task = Task.objects.create(
        deal=deal,
        person=person if deal is None else deal.person,
        assignee=assignee,
        title=title,
        due_at=due_at,
        kind=kind,
        channel=channel,
    )
    audit_record(actor=by, instance=task, action=AuditAction.CREATE)
    return task


def _lock_open_task(task_id: int, by: User) -> Task:
    """Lock a task the caller may act on; refuse one that is done or cancelled."""
    try:
        task = Task.objects.select_for_update().get(pk=task_id)
    except Task.DoesNotExist as exc:
        raise ServiceError(_("This task does not exist."), field="task") from exc
    require_owner_access(by, task.assignee)
    if task.done_at is not None:
        raise ServiceError(_("This task is already done."), field="task")
    if task.cancelled_at is not None:
        raise ServiceError(_("This task was cancelled."), field="task")
    return task


@transaction.atomic
def task_complete(
    *,
    task_id: int,
    by: User,
    note: str = "",
    step: str = "",
    step_note: str = "",
    outcome: str = "",
    at: dt.datetime | None = None,
) -> Task:
    """Mark a task done and log the touch it planned (kind and channel from the task)."""
    task = _lock_open_task(task_id, by)
    before = audit_snapshot(task)
    touch = touch_log(
        by=by,
        kind=task.kind,
        deal=task.deal,
        person=task.person if task.deal is None else None,
        channel=task.channel,
        step=step,
        step_note=step_note,
        outcome=outcome,
        note=note,
        at=at,
    )
    task.done_at = touch.at
    task.done_touch = touch
    task.save(update_fields=["done_at", "done_touch"])
    audit_record(actor=by, instance=task, action=AuditAction.COMPLETE, before=before)
    return task


def preset_due(preset: str, *, due_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When a task moved by `preset` is due. "+1 hour" is an hour after the later of now and the
    current due time (so it never moves a task earlier); "tomorrow" and "next week" are 1 and 7
    days after today, at the task's time of day, in the account's time zone."""
    if preset == "hour":
        return (max(now, due_at) + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    days = 1 if preset == "tomorrow" else 7
    day = timezone.localdate(now) + dt.timedelta(days=days)
    time_of_day = timezone.localtime(due_at).time().replace(second=0, microsecond=0)
    return dt.datetime.combine(day, time_of_day, tzinfo=account_tz())


@transaction.atomic
def task_reschedule(*, task_id: int, by: User, due_at: dt.datetime) -> Task:
    """Move an open task to another time (the agenda's "+1 hour", "tomorrow", "next week")."""
    if timezone.is_naive(due_at):
        raise ServiceError(_("Times must carry a time zone."), field="due_at")
    task = _lock_open_task(task_id, by)
    if task.deal is not None and task.deal.status != DealStatus.OPEN:
        raise ServiceError(_("Tasks are planned on open deals only."), field="deal")
    before = audit_snapshot(task)
    task.due_at = due_at
    task.save(update_fields=["due_at"])
    audit_record(actor=by, instance=task, action=AuditAction.UPDATE, before=before)
    return task


@transaction.atomic
def calendar_key_reset(*, user: User) -> str:
    """Give `user` a new secret calendar feed address (`/calendar/<key>.ics`) and return its key;
    the old address stops working at once."""
    require_owner_access(user, user)  # refuses a deactivated user
    before = audit_snapshot(user)
    user.calendar_key = secrets.token_urlsafe(32)
    user.save(update_fields=["calendar_key"])
    audit_record(actor=user, instance=user, action=AuditAction.UPDATE, before=before)
    return user.calendar_key


# --- Settings screens: cadences and their steps ----------------------------------------------


def _require_cadence_settings(by: User | None) -> None:
    require_settings_access(by, _("Only owners and heads of sales change cadences."))


@transaction.atomic
def cadence_save(
    *,
    by: User | None,
    cadence_id: int | None,
    name: str,
    description: str,
    stages: Sequence[Stage],
    warming_per_closing: int,
    is_default: bool,
) -> Cadence:
    """Create a cadence (`cadence_id` None) or change it. Deals entering one of `stages` get its
    steps as tasks from then on (runs already going keep their tasks). The default cadence's
    rhythm is what deals without a running cadence are held to; making one the default takes
    that from the previous one."""
    _require_cadence_settings(by)
    cadence, before = audit_editing(
        Cadence, cadence_id, _("This cadence does not exist."), field="cadence"
    )
    old_stages = [] if cadence.pk is None else sorted(cadence.stages.values_list("pk", flat=True))
    new_stages = sorted(stage.pk for stage in stages)
    if any(stage.is_archived for stage in stages if stage.pk not in old_stages):
        raise ServiceError(_("An archived stage cannot get a cadence."), field="stages")
    if not 1 <= warming_per_closing <= MAX_WARMING_PER_CLOSING:
        raise ServiceError(
            _("Between 1 and %(n)s warming touches per closing one.")
            % {"n": MAX_WARMING_PER_CLOSING},
            field="warming_per_closing",
        )
    if is_default and not cadence.is_default:
        audited_update(
            Cadence.objects.filter(is_default=True).exclude(pk=cadence.pk),
            actor=by,
            values={"is_default": False},
        )
    cadence.name = name.strip()
    cadence.description = description.strip()
    cadence.warming_per_closing = warming_per_closing
    cadence.is_default = is_default
    clean_and_save(cadence)
    cadence.stages.set(stages)
    extra: Changes = {"stages": [old_stages, new_stages]} if new_stages != old_stages else {}
    audit_saved(actor=by, instance=cadence, before=before, extra=extra)
    return cadence


@transaction.atomic
def cadence_step_save(
    *,
    by: User | None,
    cadence_id: int,
    step_id: int | None,
    position: int | None,
    day_offset: int,
    kind: str,
    channel: str,
    script: str,
) -> CadenceStep:
    """Add a step to a cadence (`step_id` None; at the end unless `position` is given) or
    change one. Tasks already planned from a step keep what they were planned with."""
    _require_cadence_settings(by)
    cadence = locked_or_refuse(
        Cadence, cadence_id, _("This cadence does not exist."), field="cadence"
    )
    before = None
    if step_id is None:
        if cadence.steps.count() >= MAX_STEPS:
            raise ServiceError(
                _("A cadence has %(n)s steps at most.") % {"n": MAX_STEPS}, field="position"
            )
        step = CadenceStep(cadence=cadence)
    else:
        step = locked_or_refuse(CadenceStep, step_id, _("This step does not exist."), field="step")
        if step.cadence_id != cadence.pk:
            raise ServiceError(_("This step does not exist."), field="step")
        before = audit_snapshot(step)
    if position is None:
        position = step.position if step.pk is not None else next_position(cadence.steps.all())
    if cadence.steps.filter(position=position).exclude(pk=step.pk).exists():
        raise ServiceError(
            _("Step %(n)s already exists: give this one another number.") % {"n": position},
            field="position",
        )
    if not 0 <= day_offset <= MAX_DAY_OFFSET:
        raise ServiceError(
            _("The day must be between 0 and %(n)s.") % {"n": MAX_DAY_OFFSET}, field="day_offset"
        )
    step.position = position
    step.day_offset = day_offset
    step.kind = kind
    step.channel = channel
    step.script = script.strip()
    clean_and_save(step)
    audit_saved(actor=by, instance=step, before=before)
    return step


@transaction.atomic
def cadence_step_remove(*, by: User | None, step_id: int) -> None:
    """Take a step out of its cadence. A step tasks were planned from is history (the tasks
    name it): change it instead."""
    _require_cadence_settings(by)
    step = locked_or_refuse(CadenceStep, step_id, _("This step does not exist."), field="step")
    if Task.objects.filter(cadence_step=step).exists():
        raise ServiceError(
            _("Tasks were planned from this step, so it stays: change it instead."),
            field="step",
        )
    audit_deleted(actor=by, instance=step)
    step.delete()
