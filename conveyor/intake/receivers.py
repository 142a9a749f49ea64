"""Reactions of the intake app to other apps' signals."""

from __future__ import annotations

import shutil
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver

from conveyor.accounts.models import User
from conveyor.core.audit import audited_update
from conveyor.core.models import AuditAction
from conveyor.intake.mail import attachments_folder
from conveyor.intake.models import Lead
from conveyor.people.models import Person
from conveyor.people.privacy import Row, record
from conveyor.people.signals import person_erasing, person_exporting


@receiver(person_exporting, dispatch_uid="intake.export_person")
def export_person(sender: object, *, person: Person, **kwargs: Any) -> dict[str, list[Row]]:
    """The person's leads with their raw payloads (one query)."""
    leads = (
        Lead.objects.filter(person=person)
        .select_related("form", "segment")
        .order_by("received_at", "pk")
    )
    return {
        "leads": [
            record(
                lead,
                form=lead.form.name if lead.form else None,
                segment=lead.segment.name if lead.segment else None,
            )
            for lead in leads
        ]
    }


@receiver(person_erasing, dispatch_uid="intake.erase_person")
def erase_person(sender: object, *, person: Person, by: User | None = None, **kwargs: Any) -> None:
    """The person's leads, and the unlinked leads with their e-mail or phone, lose the name,
    contacts, payload (message, form answers, sender) and UTM; their e-mail attachments are
    deleted once the erase commits. Channel, status, dates, score and links stay. Each lead
    cleared is audited (that it was, never what it held)."""
    mine = Q(person=person)
    if person.email:
        mine |= Q(person__isnull=True, email=person.email)
    if person.phone:
        mine |= Q(person__isnull=True, phone=person.phone)
    leads = Lead.objects.filter(mine)
    ids = list(leads.values_list("pk", flat=True))
    audited_update(
        leads,
        actor=by,
        values={"name": "", "email": "", "phone": "", "payload": {}, "utm": {}},
        action=AuditAction.ERASE,
    )
    folders = [attachments_folder(pk) for pk in ids]

    def remove_attachments() -> None:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    transaction.on_commit(remove_attachments)
