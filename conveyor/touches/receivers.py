"""Reactions of the touches app to other apps' signals."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.dispatch import receiver
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.core.audit import audited_update
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.people.privacy import Row, record
from conveyor.people.signals import person_erasing, person_exporting
from conveyor.pipelines.models import Deal, StageChange
from conveyor.pipelines.signals import deal_assigned, deal_changed
from conveyor.touches.cadences import cadences_follow_stage
from conveyor.touches.models import Task, Touch


def _tasks_of(person: Person) -> Q:
    return Q(person=person) | Q(deal__person=person)


@receiver(person_exporting, dispatch_uid="touches.export_person")
def export_person(sender: object, *, person: Person, **kwargs: Any) -> dict[str, list[Row]]:
    """The person's touches and tasks (their own and their deals'), one query each."""
    touches = Touch.objects.filter(person=person).select_related("user").order_by("at", "pk")
    tasks = (
        Task.objects.filter(_tasks_of(person)).select_related("assignee").order_by("due_at", "pk")
    )
    return {
        "touches": [
            record(touch, user_email=touch.user.email if touch.user else None) for touch in touches
        ],
        "tasks": [record(task, assignee_email=task.assignee.email) for task in tasks],
    }


@receiver(person_erasing, dispatch_uid="touches.erase_person")
def erase_person(sender: object, *, person: Person, by: User | None = None, **kwargs: Any) -> None:
    """Touch notes are cleared (free text about the person); a task title that names the person
    or their contacts is replaced. Kinds, channels, steps, outcomes and dates stay. Each row
    cleared is audited."""
    audited_update(
        Touch.objects.filter(person=person).exclude(note=""),
        actor=by,
        values={"note": ""},
        action=AuditAction.ERASE,
    )
    naming = Q(pk__in=[])
    for value in (person.name.strip(), person.email, person.phone):
        if value:
            naming |= Q(title__icontains=value)
    audited_update(
        Task.objects.filter(_tasks_of(person)).filter(naming),
        actor=by,
        values={"title": _("Task about an erased person")},
        action=AuditAction.ERASE,
    )


@receiver(deal_changed, dispatch_uid="touches.cadences_follow_stage")
def follow_stage(
    sender: object, *, deal: Deal, change: StageChange, by: User | None = None, **kwargs: Any
) -> None:
    """Entering a stage starts its cadences; leaving it or closing the deal cancels the rest."""
    cadences_follow_stage(deal=deal, stage=change.to_stage, at=change.at, by=by)


@receiver(deal_assigned, dispatch_uid="touches.tasks_follow_owner")
def tasks_follow_owner(
    sender: object,
    *,
    deal: Deal,
    previous_owner_id: int | None,
    by: User | None = None,
    **kwargs: Any,
) -> None:
    """The previous owner's open tasks on the deal go to the new owner with it (each audited)."""
    if deal.owner_id is None:
        return
    audited_update(
        Task.objects.filter(
            deal=deal,
            assignee_id=previous_owner_id,
            done_at__isnull=True,
            cancelled_at__isnull=True,
        ),
        actor=by,
        values={"assignee_id": deal.owner_id},
        action=AuditAction.ASSIGN,
    )
