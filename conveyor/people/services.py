"""Writes on people: create with normalised contacts, link a referral, merge duplicates, erase.

Each write appends its audit entries (`conveyor.core.audit`) in its own transaction; the log
keeps no personal values of a person (`VALUES_NOT_KEPT`), so erasing one leaves none there.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import (
    can_manage_settings,
    can_manage_users_of,
    require_owner_access,
    require_settings_access,
)
from conveyor.core.audit import audit_deleted, audit_record, audit_snapshot, audited_update
from conveyor.core.errors import ServiceError
from conveyor.core.models import AuditAction
from conveyor.core.phones import normalize_phone
from conveyor.people.models import Company, Person, Suppression, SuppressionKind, Temperature
from conveyor.people.privacy import suppression_digest
from conveyor.people.signals import person_erasing, person_merged


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


_PHONE = re.compile(r"\+?[0-9]{3,20}")


def contacts_clean(*, email: str, phone: str, missing_field: str) -> tuple[str, str]:
    """E-mail lower-cased and phone in E.164, so duplicates match; at least one is required.

    `missing_field` names the input the "give a contact" error is shown on.
    """
    email = normalize_email(email)
    if email and "@" not in email:
        raise ServiceError(_("This does not look like an e-mail address."), field="email")
    phone = normalize_phone(phone) if phone.strip() else ""
    # Unparseable numbers are kept (a short or local number is still worth a call), but only
    # digits with an optional leading + are a number at all; E.164 has at most 15 digits and
    # an extension or trunk code a few more.
    if phone and not _PHONE.fullmatch(phone):
        raise ServiceError(_("This does not look like a phone number."), field="phone")
    if not email and not phone:
        raise ServiceError(_("Enter a phone number or an e-mail."), field=missing_field)
    return email, phone


@transaction.atomic
def person_create(
    *,
    name: str,
    by: User | None,
    owner: User | None = None,
    email: str = "",
    phone: str = "",
    company_name: str = "",
    source: str = "",
    temperature: str = Temperature.COLD,
    referred_by: Person | None = None,
) -> Person:
    """Record a person with normalised e-mail and phone; name and one contact are required."""
    name = name.strip()
    if not name:
        raise ServiceError(_("Enter the person's name."), field="name")
    email, phone = contacts_clean(email=email, phone=phone, missing_field="email")
    if temperature not in Temperature.values:
        raise ServiceError(
            _("'%(value)s' is not a valid temperature.") % {"value": temperature},
            field="temperature",
        )
    if by is not None and owner is not None:
        require_owner_access(by, owner)
    company = None
    if company_name.strip():
        # Reuse a company whatever the case it was typed in ("Acme" = "ACME").
        company = Company.objects.filter(name__iexact=company_name.strip()).first()
        if company is None:
            company = Company.objects.create(name=company_name.strip())
            audit_record(actor=by, instance=company, action=AuditAction.CREATE)
    person = Person.objects.create(
        name=name,
        email=email,
        phone=phone,
        company=company,
        source=source.strip(),
        owner=owner,
        temperature=temperature,
        referred_by=referred_by,
    )
    audit_record(actor=by, instance=person, action=AuditAction.CREATE)
    return person


@transaction.atomic
def person_link_referral(*, person_id: int, referred_by_id: int, by: User | None) -> Person:
    """Record that `referred_by` brought `person`. Refuses self-referral and cycles."""
    if person_id == referred_by_id:
        raise ServiceError(_("A person cannot refer themselves."), field="referred_by")
    try:
        person = Person.objects.select_for_update().get(pk=person_id)
        referrer = Person.objects.get(pk=referred_by_id)
    except Person.DoesNotExist as exc:
        raise ServiceError(_("This person does not exist."), field="referred_by") from exc
    if by is not None:
        require_owner_access(by, person.owner)
    # Walk up the referrer's chain: finding `person` there would make a cycle.
    seen: set[int] = set()
    current: Person | None = referrer
    while current is not None and current.pk not in seen:
        if current.pk == person.pk:
            raise ServiceError(
                _("%(person)s already stands above %(referrer)s in the referral chain.")
                % {"person": person.name, "referrer": referrer.name},
                field="referred_by",
            )
        seen.add(current.pk)
        current = current.referred_by
    before = audit_snapshot(person)
    person.referred_by = referrer
    person.save(update_fields=["referred_by"])
    audit_record(actor=by, instance=person, action=AuditAction.UPDATE, before=before)
    return person


def _is_empty(value: object) -> bool:
    return value is None or value == ""


@transaction.atomic
def person_merge(*, keep_id: int, merge_id: int, by: User | None) -> Person:
    """Join `merge_id` into `keep_id`, keeping all history, then delete the merged person.

    Every relation pointing at the merged person (deals, touches, tasks, leads, referrals and
    whatever later apps add) is re-pointed generically from `Person._meta.related_objects`, so
    this module imports no higher app. Empty fields of the kept person are filled from the merged
    one; the earlier `created_at` wins. Both rows are locked (in id order) for the whole change.
    Audited: every re-pointed row (one entry each), the kept person and the merged one.
    """
    if keep_id == merge_id:
        raise ServiceError(_("A person cannot be merged into themselves."), field="merge_id")
    locked = {
        p.pk: p
        for p in Person.objects.select_for_update()
        .filter(pk__in=[keep_id, merge_id])
        .order_by("pk")
    }
    if keep_id not in locked or merge_id not in locked:
        raise ServiceError(_("This person does not exist."), field="merge_id")
    keep, merged = locked[keep_id], locked[merge_id]
    if by is not None:
        require_owner_access(by, keep.owner)
        require_owner_access(by, merged.owner)
    before = audit_snapshot(keep)
    note = f"#{merged.pk} → #{keep.pk}"
    for relation in Person._meta.related_objects:
        field = relation.field
        if relation.many_to_many:
            through = field.remote_field.through  # type: ignore[attr-defined]
            for through_field in through._meta.get_fields():
                if getattr(through_field, "related_model", None) is Person:
                    through._base_manager.filter(**{through_field.name: merged}).update(
                        **{through_field.name: keep}
                    )
            continue
        model = relation.related_model
        rows = model._base_manager.filter(**{field.name: merged})  # type: ignore[union-attr]
        if model is Person:
            # Whoever the merged person referred is now referred by the kept one; the kept
            # person itself must not end up referring itself.
            rows = rows.exclude(pk=keep.pk)
        audited_update(
            rows, actor=by, values={field.name: keep}, action=AuditAction.MERGE, note=note
        )
    if keep.referred_by_id == merged.pk:
        keep.referred_by_id = merged.referred_by_id if merged.referred_by_id != keep.pk else None
    for concrete in Person._meta.concrete_fields:
        if concrete.primary_key or concrete.name == "referred_by":
            continue
        if _is_empty(getattr(keep, concrete.attname)) and not _is_empty(
            getattr(merged, concrete.attname)
        ):
            setattr(keep, concrete.attname, getattr(merged, concrete.attname))
    if keep.referred_by_id is None and merged.referred_by_id not in (None, keep.pk):
        keep.referred_by_id = merged.referred_by_id
    keep.created_at = min(keep.created_at, merged.created_at)
    merged_pk = merged.pk
    audit_deleted(actor=by, instance=merged, action=AuditAction.MERGE, note=note)
    merged.delete()  # nothing points at it any more; frees its unique external_id
    keep.save()
    audit_record(actor=by, instance=keep, action=AuditAction.MERGE, before=before, note=note)
    person_merged.send(sender=Person, keep=keep, merged_id=merged_pk, by=by)
    return keep


def can_erase_person(user: User, person: Person) -> bool:
    """Owners and heads of sales, for people they may act on (the rule `person_erase` applies)."""
    return can_manage_settings(user) and can_manage_users_of(user, person.owner)


@transaction.atomic
def person_erase(*, person_id: int, by: User | None, reason: str = "") -> Person:
    """Anonymise a person at their request and keep their contacts off intake for good.

    The person becomes "Erased person #<id>" with no contacts, UTM, source, company, external id
    or consent; the higher apps clear the personal text of their rows (receivers of
    `person_erasing`: deal titles naming them, touch notes, task titles naming them, their leads'
    contacts, payloads and attachments). Numbers stay as they were (deals, amounts, stages,
    dates, touches), so reports do not change. The normalised e-mail and phone go onto the
    suppression list as SHA-256 digests. Owners and heads only, and only for people they may
    act on; `by` None is whoever runs the server (the command). The person's row is locked.
    The audit log gets the fact (which fields were cleared, by whom), never the values.
    """
    require_settings_access(by, _("Only owners and heads may erase a person."))
    try:
        person = Person.objects.select_for_update().get(pk=person_id)
    except Person.DoesNotExist as exc:
        raise ServiceError(_("This person does not exist."), field="person") from exc
    if by is not None:
        require_owner_access(by, person.owner)
    before = audit_snapshot(person)
    reason = reason.strip()[: Suppression._meta.get_field("reason").max_length or 255]
    for kind, value in (
        (SuppressionKind.EMAIL, person.email),
        (SuppressionKind.PHONE, person.phone),
    ):
        if value:
            Suppression.objects.get_or_create(
                kind=kind, digest=suppression_digest(value), defaults={"reason": reason}
            )
    person_erasing.send(sender=Person, person=person, by=by)
    person.name = _("Erased person #%(id)s") % {"id": person.pk}
    person.email = person.phone = person.source = ""
    person.utm_source = person.utm_medium = person.utm_campaign = ""
    person.utm_term = person.utm_content = ""
    person.company = None
    person.external_id = None
    person.consent_email = person.consent_phone = False
    person.save()
    audit_record(actor=by, instance=person, action=AuditAction.ERASE, before=before)
    return person
