"""Reactions of the pipelines app to other apps' signals."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.dispatch import receiver

from conveyor.accounts.models import User
from conveyor.core.audit import audited_update
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.people.privacy import Row, record
from conveyor.people.signals import person_erasing, person_exporting, person_merged
from conveyor.pipelines.models import Deal, StageChange
from conveyor.pipelines.services import purchases_renumber


@receiver(person_merged, dispatch_uid="pipelines.renumber_after_merge")
def renumber_after_merge(
    sender: object, *, keep: Person, by: User | None = None, **kwargs: Any
) -> None:
    """Both people's won deals now belong to one person: purchase numbers run 1..n again."""
    purchases_renumber(keep.pk, by=by)


@receiver(person_exporting, dispatch_uid="pipelines.export_person")
def export_person(sender: object, *, person: Person, **kwargs: Any) -> dict[str, list[Row]]:
    """The person's deals, each with its stage history (two queries)."""
    changes = StageChange.objects.select_related("from_stage", "to_stage").order_by("at", "pk")
    deals = (
        Deal.objects.filter(person=person)
        .select_related("pipeline", "stage", "owner", "lost_reason", "lost_stage")
        .prefetch_related(Prefetch("stage_changes", queryset=changes))
        .order_by("opened_at", "pk")
    )
    return {
        "deals": [
            record(
                deal,
                pipeline=deal.pipeline.name,
                stage=deal.stage.name,
                owner_email=deal.owner.email if deal.owner else None,
                lost_reason=deal.lost_reason.name if deal.lost_reason else None,
                lost_stage=deal.lost_stage.name if deal.lost_stage else None,
                stage_changes=[
                    record(
                        change,
                        from_stage=change.from_stage.name if change.from_stage else None,
                        to_stage=change.to_stage.name if change.to_stage else None,
                    )
                    for change in deal.stage_changes.all()
                ],
            )
            for deal in deals
        ]
    }


@receiver(person_erasing, dispatch_uid="pipelines.erase_person")
def erase_person(sender: object, *, person: Person, by: User | None = None, **kwargs: Any) -> None:
    """Deal titles that name the person are cleared (a deal without a title shows its number);
    amounts, stages, dates and the stage history stay. Each deal cleared is audited."""
    if person.name.strip():
        audited_update(
            Deal.objects.filter(person=person, title__icontains=person.name.strip()),
            actor=by,
            values={"title": ""},
            action=AuditAction.ERASE,
        )
