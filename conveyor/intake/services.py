"""Writes on leads: receive (from any channel), accept, merge, reject as spam, and in bulk.

Every incoming lead lands in the inbox. A lead whose normalised phone or e-mail matches an
existing person is linked to that person on intake, so accepting it reuses the person instead of
recording a duplicate. The inbox is shared intake: any active user may act on an inbox lead, but
the deal opened on acceptance must be owned by someone the actor may assign.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_owner_access, scope
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.phones import normalize_phone
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.people.models import Person
from conveyor.people.services import normalize_email, person_create
from conveyor.pipelines.models import Deal, Pipeline, Process, Segment
from conveyor.pipelines.services import deal_open


def matching_person(*, phone: str, email: str) -> Person | None:
    """The earliest person with this normalised phone or e-mail, if any."""
    match = Q(pk__in=[])
    if phone:
        match |= Q(phone=phone)
    if email:
        match |= Q(email=email)
    return Person.objects.filter(match).order_by("pk").first()


@transaction.atomic
def lead_receive(
    *,
    channel: str,
    name: str,
    phone: str = "",
    email: str = "",
    source: str = "",
    segment: Segment | None = None,
    payload: dict[str, Any] | None = None,
    utm: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    received_at: dt.datetime | None = None,
    note: str = "",
) -> Lead:
    """Record an incoming lead in the inbox; an idempotency key already seen returns that lead."""
    if idempotency_key:
        earlier = Lead.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    if channel not in LeadChannel.values:
        raise ServiceError(
            _("'%(value)s' is not a valid channel.") % {"value": channel}, field="channel"
        )
    name = name.strip()
    if not name:
        raise ServiceError(_("Enter the lead's name."), field="name")
    email = normalize_email(email)
    if email and "@" not in email:
        raise ServiceError(_("This does not look like an e-mail address."), field="email")
    phone = normalize_phone(phone) if phone.strip() else ""
    if not phone and not email:
        raise ServiceError(_("Enter a phone number or an e-mail."), field="phone")
    if received_at is None:
        received_at = timezone.now()
    elif timezone.is_naive(received_at):
        raise ServiceError(_("Times must carry a time zone."), field="received_at")
    payload = dict(payload or {})
    if note.strip():
        payload["note"] = note.strip()
    lead = Lead(
        channel=channel,
        name=name,
        phone=phone,
        email=email,
        source=source.strip(),
        segment=segment,
        payload=payload,
        utm=dict(utm or {}),
        idempotency_key=idempotency_key or None,
        received_at=received_at,
        person=matching_person(phone=phone, email=email),
    )
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError:
        # The same key arrived concurrently and the other request won: return its lead.
        earlier = Lead.objects.filter(idempotency_key=idempotency_key).first()
        if earlier is None or not idempotency_key:
            raise
        return earlier
    return lead


def _check_actor(by: User | None) -> None:
    if by is not None and not by.is_active:
        raise PermissionDenied(_("You do not have access to this record."))


def _lock_inbox_lead(lead_id: int, by: User | None) -> Lead:
    """Lock the lead; refuse unless it is still in the inbox."""
    _check_actor(by)
    try:
        lead = Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist as exc:
        raise ServiceError(_("This lead does not exist."), field="lead") from exc
    if lead.status != LeadStatus.INBOX:
        raise ServiceError(
            _("This lead is no longer in the inbox (it is %(status)s).")
            % {"status": lead.get_status_display()},
            field="lead",
        )
    return lead


def conversion_pipeline(segment: Segment | None) -> Pipeline | None:
    """The active conversion pipeline of `segment` (the first by name), if there is one."""
    if segment is None:
        return None
    return (
        Pipeline.objects.filter(segment=segment, process=Process.CONVERSION, is_active=True)
        .order_by("name", "pk")
        .first()
    )


@transaction.atomic
def lead_accept(
    *,
    lead_id: int,
    by: User | None,
    pipeline: Pipeline | None = None,
    owner: User | None = None,
) -> Deal:
    """Accept an inbox lead: reuse (or create) its person and open a deal at the first stage.

    The pipeline is the given one, else the conversion pipeline of the lead's segment; the
    owner is the given user, else the accepting user.
    """
    lead = _lock_inbox_lead(lead_id, by)
    if owner is None:
        owner = by
    if by is not None:
        require_owner_access(by, owner)
    if pipeline is None:
        pipeline = conversion_pipeline(lead.segment)
        if pipeline is None:
            raise ServiceError(
                _("The lead's segment has no conversion pipeline: choose a pipeline."),
                field="pipeline",
            )
    person = lead.person or matching_person(phone=lead.phone, email=lead.email)
    if person is None:
        person = person_create(
            name=lead.name,
            by=None,
            owner=owner,
            email=lead.email,
            phone=lead.phone,
            source=lead.source or lead.channel,
        )
    deal = deal_open(person=person, pipeline=pipeline, owner=owner, by=by)
    lead.person = person
    lead.deal = deal
    lead.status = LeadStatus.ACCEPTED
    lead.save(update_fields=["person", "deal", "status"])
    return deal


@transaction.atomic
def lead_merge(*, lead_id: int, person_id: int, by: User | None) -> Lead:
    """Record an inbox lead as a repeat request of an existing person; no deal is opened."""
    lead = _lock_inbox_lead(lead_id, by)
    # Only people the actor may see: an invisible person reads as missing, like everywhere.
    people = Person.objects.all() if by is None else scope(Person.objects.all(), by)
    person = people.filter(pk=person_id).first()
    if person is None:
        raise ServiceError(_("This person does not exist."), field="person")
    lead.person = person
    lead.status = LeadStatus.MERGED
    lead.save(update_fields=["person", "status"])
    return lead


@transaction.atomic
def lead_reject_spam(*, lead_id: int, by: User | None) -> Lead:
    """Mark an inbox lead as spam. It is kept (never deleted), just out of the inbox."""
    lead = _lock_inbox_lead(lead_id, by)
    lead.status = LeadStatus.REJECTED_SPAM
    lead.save(update_fields=["status"])
    return lead


@dataclass(frozen=True)
class BulkResult:
    """What happened to one lead of a bulk action: done (with the deal, if any) or refused."""

    lead_id: int
    ok: bool
    message: str = ""
    deal_id: int | None = None


def lead_accept_bulk(
    *,
    lead_ids: list[int],
    by: User | None,
    pipeline: Pipeline | None = None,
    owner: User | None = None,
) -> list[BulkResult]:
    """Accept each lead in its own transaction: one refusal does not undo the others."""
    results = []
    for lead_id in lead_ids:
        try:
            deal = lead_accept(lead_id=lead_id, by=by, pipeline=pipeline, owner=owner)
        except ServiceError as error:
            results.append(BulkResult(lead_id=lead_id, ok=False, message=error.message))
        else:
            results.append(BulkResult(lead_id=lead_id, ok=True, deal_id=deal.pk))
    return results


def lead_reject_spam_bulk(*, lead_ids: list[int], by: User | None) -> list[BulkResult]:
    """Reject each lead as spam in its own transaction; report per lead."""
    results = []
    for lead_id in lead_ids:
        try:
            lead_reject_spam(lead_id=lead_id, by=by)
        except ServiceError as error:
            results.append(BulkResult(lead_id=lead_id, ok=False, message=error.message))
        else:
            results.append(BulkResult(lead_id=lead_id, ok=True))
    return results
