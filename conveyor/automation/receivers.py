"""Automation listens to the events of deals and leads (inside their transactions)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils.translation import gettext as _

from conveyor.automation.attempts import DUE
from conveyor.automation.engine import on_deal_changed, on_lead_received
from conveyor.automation.models import JobStatus, OutgoingEmail
from conveyor.intake.models import Lead
from conveyor.intake.signals import lead_received
from conveyor.people.models import Person
from conveyor.people.privacy import Row, record
from conveyor.people.signals import person_erasing, person_exporting
from conveyor.pipelines.models import Deal, StageChange
from conveyor.pipelines.signals import deal_changed


@receiver(deal_changed, dispatch_uid="automation.deal_changed")
def deal_event(sender: object, *, deal: Deal, change: StageChange, **kwargs: Any) -> None:
    on_deal_changed(deal=deal, change=change)


@receiver(lead_received, dispatch_uid="automation.lead_received")
def lead_event(sender: object, *, lead: Lead, **kwargs: Any) -> None:
    on_lead_received(lead=lead)


@receiver(person_exporting, dispatch_uid="automation.export_person")
def export_person(sender: object, *, person: Person, **kwargs: Any) -> dict[str, list[Row]]:
    """Every e-mail sent (or queued) to the person, one query."""
    emails = OutgoingEmail.objects.filter(person=person).order_by("created_at", "pk")
    return {"emails": [record(email) for email in emails]}


@receiver(person_erasing, dispatch_uid="automation.erase_person")
def erase_person(sender: object, *, person: Person, **kwargs: Any) -> None:
    """E-mails to the person keep their dates and status; address, subject and text go, and
    any still waiting to be sent never will be."""
    emails = OutgoingEmail.objects.filter(person=person)
    emails.filter(status__in=DUE).update(
        status=JobStatus.SKIPPED, result=_("The person was erased.")
    )
    emails.update(to="", subject=_("E-mail to an erased person"), body="")
