"""Writes on people: create with normalised contacts, link a referral, merge duplicates, erase,
edit in bulk.

Each write appends its audit entries (`conveyor.core.audit`) in its own transaction; the log
keeps no personal values of a person (`VALUES_NOT_KEPT`), so erasing one leaves none there.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Sequence

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import (
    can_manage_settings,
    can_manage_users_of,
    require_assignable,
    require_owner_access,
    require_settings_access,
)
from conveyor.core.audit import audit_deleted, audit_record, audit_snapshot, audited_update
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.fields import max_length
from conveyor.core.models import AuditAction
from conveyor.core.phones import normalize_phone
from conveyor.people.models import (
    PURCHASE_FACTS,
    Company,
    Person,
    Suppression,
    SuppressionKind,
    Temperature,
)
from conveyor.people.privacy import require_not_suppressed, suppression_digest
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


def _check_temperature(temperature: str) -> None:
    if temperature not in Temperature.values:
        raise ServiceError(
            _("'%(value)s' is not a valid temperature.") % {"value": temperature},
            field="temperature",
        )


def _company_named(name: str, by: User | None) -> Company:
    """The company of this name whatever the case it was typed in ("Acme" = "ACME"), the
    oldest if several; else a new one (audited)."""
    company = Company.objects.filter(name__iexact=name).order_by("pk").first()
    if company is None:
        company = Company.objects.create(name=name)
        audit_record(actor=by, instance=company, action=AuditAction.CREATE)
    return company


def _company_name_short_enough(name: str) -> None:
    limit = max_length(Company, "name")
    if len(name) > limit:
        raise ServiceError(
            _("At most %(limit)s characters, please.") % {"limit": limit}, field="company"
        )


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
    _check_temperature(temperature)
    if by is not None and owner is not None:
        require_owner_access(by, owner)
    company_name = company_name.strip()
    _company_name_short_enough(company_name)
    company = _company_named(company_name, by) if company_name else None
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


def person_referrals_refresh(*, person_ids: Collection[int | None] | None) -> None:
    """Work out again when each of these people first referred a customer
    (`Person.referral_won_at`: the earliest first purchase of someone they referred); None:
    everyone. Called, in the caller's transaction, whenever a referral or a referred person's
    first purchase changes."""
    people = Person.objects.all()
    if person_ids is not None:
        ids = {pk for pk in person_ids if pk is not None}
        if not ids:
            return
        people = people.filter(pk__in=ids)
    earliest = (
        Person.objects.filter(referred_by=OuterRef("pk"), first_won_at__isnull=False)
        .order_by("first_won_at")
        .values("first_won_at")[:1]
    )
    people.update(referral_won_at=Subquery(earliest))


def referral_check(*, person: Person, referrer: Person) -> None:
    """Refuse `referrer` as whoever brought `person` when that would close a loop: the person
    themselves, or anyone `person` already stands above in the referral chain. Also the person
    admin's check, so no path writes a cycle the reports would walk forever."""
    if person.pk is not None and referrer.pk == person.pk:
        raise ServiceError(_("A person cannot refer themselves."), field="referred_by")
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


@transaction.atomic
def person_link_referral(*, person_id: int, referred_by_id: int, by: User | None) -> Person:
    """Record that `referred_by` brought `person`. Refuses self-referral and cycles."""
    try:
        person = Person.objects.select_for_update().get(pk=person_id)
        referrer = Person.objects.get(pk=referred_by_id)
    except Person.DoesNotExist as exc:
        raise ServiceError(_("This person does not exist."), field="referred_by") from exc
    if by is not None:
        require_owner_access(by, person.owner)
    referral_check(person=person, referrer=referrer)
    before = audit_snapshot(person)
    earlier = person.referred_by_id
    person.referred_by = referrer
    person.save(update_fields=["referred_by"])
    person_referrals_refresh(person_ids=[earlier, referrer.pk])
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
        if concrete.primary_key or concrete.name in ("referred_by", *PURCHASE_FACTS):
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
    # The merged person no longer counts for whoever referred them. The kept person's own
    # facts (their purchases now include the merged one's) are the pipelines app's to redo,
    # on `person_merged`.
    person_referrals_refresh(person_ids=[merged.referred_by_id])
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


@transaction.atomic
def person_update_bulk(
    *,
    person_ids: Sequence[int],
    by: User | None,
    owner: User | None = None,
    temperature: str = "",
) -> int:
    """Give many people a new owner and/or temperature at once, all or nothing.

    Every person goes through the access rule (`by` must be allowed to act on each one's owner,
    and to hand records to `owner`); the first refusal, naming the person by id, undoes the
    whole change. The rows are locked in id order, so two bulk edits cannot deadlock; one
    audit entry per person that changed (`audited_update`). `owner` None and `temperature`
    empty leave that field as it is. Returns how many people were written.
    """
    if owner is None and not temperature:
        raise ServiceError(_("Choose an owner or a temperature to set."), field="owner")
    if temperature:
        _check_temperature(temperature)
    if owner is not None:
        require_assignable(by, owner)
    ids = sorted(set(person_ids))
    if not ids:
        raise ServiceError(_("Tick at least one person."), field="people")
    # No joins in the locking query (PostgreSQL refuses FOR UPDATE on the nullable side of one).
    owners_of = dict(
        Person.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "owner")
    )
    current_owners = User.objects.select_related("team").in_bulk(
        {pk for pk in owners_of.values() if pk is not None}
    )
    for pk in ids:
        if pk not in owners_of:
            raise ServiceError(_("Person #%(id)s does not exist.") % {"id": pk}, field="people")
        if by is not None and not can_manage_users_of(by, current_owners.get(owners_of[pk])):
            raise PermissionDenied(
                _("Person #%(id)s: you do not have access to this record.") % {"id": pk},
                field="people",
            )
    values: dict[str, object] = {}
    if owner is not None:
        values["owner"] = owner
    if temperature:
        values["temperature"] = temperature
    return audited_update(
        Person.objects.filter(pk__in=ids),
        actor=by,
        values=values,
        action=AuditAction.ASSIGN if set(values) == {"owner"} else AuditAction.UPDATE,
    )


class Keep(enum.Enum):
    """What a partial update passes for a field it leaves as it is: `None` and "" are values
    some fields may be set to, so they cannot mean "unchanged"."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _short_enough(value: str, field: str) -> str:
    limit = max_length(Person, field)
    if len(value) > limit:
        raise ServiceError(
            _("At most %(limit)s characters, please.") % {"limit": limit}, field=field
        )
    return value


def _refuse_duplicate(person: Person, by: User | None, *, field: str, value: str) -> None:
    """Refuse a contact another person already has: the two should be merged instead. The
    other person is named only to someone who may see them."""
    other = (
        Person.objects.filter(**{field: value})
        .exclude(pk=person.pk)
        .select_related("owner__team")
        .order_by("pk")
        .first()
    )
    if other is None:
        return
    what = _("this e-mail address") if field == "email" else _("this phone number")
    if by is None or can_manage_users_of(by, other.owner):
        message = _(
            "%(name)s (#%(id)s) already has %(what)s. Merge the two people instead of "
            "entering it twice."
        ) % {"name": other.name, "id": other.pk, "what": what}
    else:
        message = _(
            "Another person, not yours to see, already has %(what)s. Ask a head of sales "
            "to merge the two."
        ) % {"what": what}
    raise ServiceError(message, field=field)


@transaction.atomic
def person_update(
    *,
    person_id: int,
    by: User | None,
    name: str | Keep = KEEP,
    email: str | Keep = KEEP,
    phone: str | Keep = KEEP,
    company_name: str | Keep = KEEP,
    temperature: str | Keep = KEEP,
    source: str | Keep = KEEP,
    owner: User | Keep | None = KEEP,
) -> Person:
    """Change a person's details; a field passed as KEEP (the default) stays as it is.

    E-mail and phone are normalised as `person_create` does (one of them stays required) and
    refused when another person already has them (merge the two instead) or when they belong
    to an erased person. A company is found by name whatever its case, or created; an empty
    name clears it. Whoever may act on the person's owner may edit them, and hand them only to
    someone they may hand records to (`by` None: the system). The row is locked for the change;
    nothing is written when nothing changes, else one audit entry (which names the fields but,
    for personal data, not the values).
    """
    try:
        person = Person.objects.select_for_update().get(pk=person_id)
    except Person.DoesNotExist as exc:
        raise ServiceError(_("This person does not exist."), field="person") from exc
    if by is not None:
        require_owner_access(by, person.owner)
    before = audit_snapshot(person)
    if not isinstance(name, Keep):
        name = name.strip()
        if not name:
            raise ServiceError(_("Enter the person's name."), field="name")
        person.name = _short_enough(name, "name")
    if not isinstance(email, Keep) or not isinstance(phone, Keep):
        new_email, new_phone = contacts_clean(
            email=person.email if isinstance(email, Keep) else email,
            phone=person.phone if isinstance(phone, Keep) else phone,
            missing_field="phone" if isinstance(email, Keep) else "email",
        )
        # A contact not given stays exactly as stored, even if it would normalise otherwise.
        new_email = person.email if isinstance(email, Keep) else _short_enough(new_email, "email")
        new_phone = person.phone if isinstance(phone, Keep) else _short_enough(new_phone, "phone")
        require_not_suppressed(
            email=new_email if new_email != person.email else "",
            phone=new_phone if new_phone != person.phone else "",
        )
        for field, value, old in (
            ("email", new_email, person.email),
            ("phone", new_phone, person.phone),
        ):
            if value and value != old:
                _refuse_duplicate(person, by, field=field, value=value)
        person.email, person.phone = new_email, new_phone
    if not isinstance(company_name, Keep):
        company_name = company_name.strip()
        if not company_name:
            person.company = None
        elif person.company is None or person.company.name != company_name:
            _company_name_short_enough(company_name)
            person.company = _company_named(company_name, by)
    if not isinstance(temperature, Keep):
        _check_temperature(temperature)
        person.temperature = temperature
    if not isinstance(source, Keep):
        person.source = _short_enough(source.strip(), "source")
    if not isinstance(owner, Keep) and (owner.pk if owner else None) != person.owner_id:
        if by is not None:
            require_owner_access(by, owner)
        if owner is not None and not owner.is_active:
            raise ServiceError(_("This user is deactivated."), field="owner")
        person.owner = owner
    changed = [
        field.name
        for field in Person._meta.concrete_fields
        if field.attname in before and before[field.attname] != getattr(person, field.attname)
    ]
    if changed:
        person.save(update_fields=changed)
        audit_record(actor=by, instance=person, action=AuditAction.UPDATE, before=before)
    return person
