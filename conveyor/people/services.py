"""Writes on people: create with normalised contacts, link a referral."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_owner_access
from conveyor.core.errors import ServiceError
from conveyor.core.phones import normalize_phone
from conveyor.people.models import Company, Person, Temperature


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


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
    email = normalize_email(email)
    if email and "@" not in email:
        raise ServiceError(_("This does not look like an e-mail address."), field="email")
    phone = normalize_phone(phone) if phone.strip() else ""
    if not email and not phone:
        raise ServiceError(_("Enter an e-mail or a phone number."), field="email")
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
    return Person.objects.create(
        name=name,
        email=email,
        phone=phone,
        company=company,
        source=source.strip(),
        owner=owner,
        temperature=temperature,
        referred_by=referred_by,
    )


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
    person.referred_by = referrer
    person.save(update_fields=["referred_by"])
    return person
