"""`/api/v1/people` and `/api/v1/companies`: read them; record, edit, link a referral, merge and
erase a person (the person page's actions, through the same services); set the owner and/or
temperature of many people at once (the people list's bulk edit)."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from conveyor.accounts.models import User
from conveyor.api.audit import AUDIT_DESCRIPTION, AuditPage, audit_page
from conveyor.api.auth import api_user
from conveyor.api.errors import ApiError, chosen, fields_as_sent
from conveyor.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, filtered, page
from conveyor.api.types import BodyIn, Id, IsoDatetime, PatchIn, Text, fields_sent
from conveyor.core.db import BULK_LIMIT
from conveyor.people.models import Company, Person, Suppression, Temperature
from conveyor.people.privacy import person_export
from conveyor.people.selectors import companies_for, people_for
from conveyor.people.services import (
    person_create,
    person_erase,
    person_link_referral,
    person_merge,
    person_update,
    person_update_bulk,
)

PersonOrdering = Literal["id", "-id", "created_at", "-created_at", "name", "-name"]
CompanyOrdering = Literal["id", "-id", "created_at", "-created_at", "name", "-name"]


router = Router()
companies_router = Router()


class PersonOut(Schema):
    id: int
    name: str
    email: str
    phone: str
    company_id: Id | None
    source: str
    owner_id: Id | None
    temperature: str
    referred_by_id: Id | None
    consent_email: bool
    consent_phone: bool
    created_at: IsoDatetime


class PersonPage(Schema):
    items: list[PersonOut]
    next_cursor: str | None


class PersonFilters(Schema):
    owner_id: Id | None = None
    company_id: Id | None = None
    temperature: Temperature | None = None
    source: Text | None = None
    email: Text | None = None
    phone: Text | None = None


class PersonIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=200)
    email: Text = Field("", max_length=254)
    phone: Text = Field("", max_length=64)
    company_name: Text = Field("", max_length=200)
    source: Text = Field("", max_length=64)
    temperature: Temperature = Temperature.COLD
    owner_id: Id | None = Field(None, description="Default: the caller.")
    referred_by_id: Id | None = None


class PersonPatchIn(PatchIn):
    """A person's details as the person page edits them in place; only the fields sent change."""

    name: Text = Field(None, min_length=1, max_length=200)  # type: ignore[assignment]
    email: Text = Field(None, max_length=254)  # type: ignore[assignment]
    phone: Text = Field(None, max_length=64)  # type: ignore[assignment]
    company_name: Text = Field(  # type: ignore[assignment]
        None,
        max_length=200,
        description="Found by name whatever its case, or created; empty clears it.",
    )
    source: Text = Field(None, max_length=64)  # type: ignore[assignment]
    temperature: Temperature = Field(None)  # type: ignore[assignment]
    owner_id: Id | None = Field(None, description="null: nobody.")


class PersonReferralIn(BodyIn):
    referred_by_id: Id = Field(..., description="Who brought this person (someone you may see).")


class PersonMergeIn(BodyIn):
    merge_id: Id = Field(
        ..., description="The duplicate (someone you may see), joined into this person."
    )


class PersonEraseIn(BodyIn):
    reason: Text = Field(
        "",
        max_length=Suppression._meta.get_field("reason").max_length,
        description="Why (kept with the suppressed contacts).",
    )


class PeopleBulkIn(BodyIn):
    ids: list[Id] = Field(
        ...,
        min_length=1,
        max_length=BULK_LIMIT,
        description=f"The people to change (at most {BULK_LIMIT}), all of them people you may see.",
    )
    owner_id: Id | None = Field(None, description="The new owner (an active user); null: keep.")
    temperature: Temperature | None = Field(None, description="The new temperature; null: keep.")


class PeopleBulkOut(Schema):
    updated: int = Field(..., description="How many people changed (unchanged ones are skipped).")
    items: list[PersonOut] = Field(
        ..., description="The people named, as they are now (those you still see)."
    )


# The service's names for its inputs, as this API's body names them.
BULK_FIELDS = {"people": "ids", "owner": "owner_id"}


class CompanyOut(Schema):
    id: int
    name: str
    website: str
    created_at: IsoDatetime


class CompanyPage(Schema):
    items: list[CompanyOut]
    next_cursor: str | None


@router.get("", response=PersonPage, summary="List people")
def person_list(
    request: HttpRequest,
    filters: Query[PersonFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: PersonOrdering = "-created_at",
) -> dict[str, Any]:
    queryset = filtered(people_for(api_user(request)), filters)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/bulk",
    response=PeopleBulkOut,
    summary="Set the owner and/or temperature of many people",
    description=(
        "The people list's bulk edit, all or nothing in one transaction: every person goes "
        "through the access rule (a refusal answers 403 naming the person and changes nothing), "
        "one audit entry per person changed. Ids of people you may not see (or that do not "
        "exist) answer 422 on `ids` and change nothing."
    ),
)
def people_bulk(request: HttpRequest, payload: PeopleBulkIn) -> dict[str, Any]:
    user = api_user(request)
    ids = list(dict.fromkeys(payload.ids))
    visible = set(people_for(user).filter(pk__in=ids).values_list("pk", flat=True))
    unseen = [pk for pk in ids if pk not in visible]
    if unseen:
        message = _("Person #%(id)s does not exist.") % {"id": unseen[0]}
        raise ApiError(422, message, fields={"ids": [message]})
    owner = chosen(
        User.objects.filter(is_active=True), payload.owner_id, "owner_id", _("No such user.")
    )
    with fields_as_sent(BULK_FIELDS):
        count = person_update_bulk(
            person_ids=ids, by=user, owner=owner, temperature=payload.temperature or ""
        )
    return {"updated": count, "items": list(people_for(user).filter(pk__in=ids).order_by("pk"))}


@router.get("/{person_id}", response=PersonOut, summary="One person")
def person_detail(request: HttpRequest, person_id: Id) -> Person:
    return people_for(api_user(request)).get(pk=person_id)


@router.get(
    "/{person_id}/export",
    response=dict[str, Any],
    summary="Everything recorded about one person",
    description=(
        "The person, company, referrals, deals with their stage history, touches, tasks and "
        "leads with their payloads, as one document (the same as `conveyor person export`)."
    ),
)
def person_export_view(request: HttpRequest, person_id: Id) -> dict[str, Any]:
    return person_export(person_id=person_id, user=api_user(request))


@router.get(
    "/{person_id}/audit",
    response=AuditPage,
    summary="A person's audit log",
    description=AUDIT_DESCRIPTION,
)
def person_audit(
    request: HttpRequest,
    person_id: Id,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    person = people_for(api_user(request)).get(pk=person_id)
    return audit_page(person, cursor=cursor, limit=limit)


@router.post("", response={201: PersonOut}, summary="Record a person")
def person_add(request: HttpRequest, payload: PersonIn) -> Status[Person]:
    user = api_user(request)
    owner = (
        chosen(
            User.objects.filter(is_active=True), payload.owner_id, "owner_id", _("No such user.")
        )
        or user
    )
    referred_by = chosen(
        people_for(user), payload.referred_by_id, "referred_by_id", _("No such person.")
    )
    person = person_create(
        name=payload.name,
        by=user,
        owner=owner,
        email=payload.email,
        phone=payload.phone,
        company_name=payload.company_name,
        source=payload.source,
        temperature=payload.temperature,
        referred_by=referred_by,
    )
    return Status(201, person)


@router.patch(
    "/{person_id}",
    response=PersonOut,
    summary="Change a person's details",
    description=(
        "Only the fields sent change. E-mail and phone are normalised and refused when another "
        "person has them (merge the two instead); one of them stays required."
    ),
)
def person_change(request: HttpRequest, person_id: Id, payload: PersonPatchIn) -> Person:
    user = api_user(request)
    person = people_for(user).get(pk=person_id)
    sent = fields_sent(payload)
    changes: dict[str, Any] = {
        name: sent[name]
        for name in ("name", "email", "phone", "company_name", "source", "temperature")
        if name in sent
    }
    if "owner_id" in sent:
        changes["owner"] = chosen(User, sent["owner_id"], "owner_id", _("No such user."))
    with fields_as_sent({"owner": "owner_id", "company": "company_name"}):
        return person_update(person_id=person.pk, by=user, **changes)


@router.post("/{person_id}/referral", response=PersonOut, summary="Record who referred a person")
def person_referral(request: HttpRequest, person_id: Id, payload: PersonReferralIn) -> Person:
    user = api_user(request)
    person = people_for(user).get(pk=person_id)
    referrer = chosen(
        people_for(user), payload.referred_by_id, "referred_by_id", _("No such person.")
    )
    assert referrer is not None
    return person_link_referral(person_id=person.pk, referred_by_id=referrer.pk, by=user)


@router.post(
    "/{person_id}/merge",
    response=PersonOut,
    summary="Merge a duplicate into this person",
    description=(
        "Everything of the duplicate (deals, touches, tasks, leads, referrals) moves to this "
        "person, empty details are filled from it, and the duplicate is deleted. Answers the "
        "person kept."
    ),
)
def person_merge_action(request: HttpRequest, person_id: Id, payload: PersonMergeIn) -> Person:
    user = api_user(request)
    person = people_for(user).get(pk=person_id)
    duplicate = chosen(people_for(user), payload.merge_id, "merge_id", _("No such person."))
    assert duplicate is not None
    return person_merge(keep_id=person.pk, merge_id=duplicate.pk, by=user)


@router.post(
    "/{person_id}/erase",
    response=PersonOut,
    summary="Erase a person's personal data",
    description=(
        'At the person\'s request: they become "Erased person #id" without contacts, company '
        "or consent, the personal text of their deals, touches, tasks and leads is cleared, "
        "and their e-mail and phone are kept off intake for good (as digests). Numbers and "
        "dates stay, so reports do not change. Cannot be undone. Owners and heads of sales "
        "only. Answers what is left of the person."
    ),
)
def person_erase_action(request: HttpRequest, person_id: Id, payload: PersonEraseIn) -> Person:
    user = api_user(request)
    person = people_for(user).get(pk=person_id)
    return person_erase(person_id=person.pk, by=user, reason=payload.reason)


@companies_router.get("", response=CompanyPage, summary="List companies")
def company_list(
    request: HttpRequest,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: CompanyOrdering = "name",
    name: Text | None = None,
) -> dict[str, Any]:
    queryset = companies_for(api_user(request))
    if name:
        queryset = queryset.filter(name__icontains=name)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@companies_router.get("/{company_id}", response=CompanyOut, summary="One company")
def company_detail(request: HttpRequest, company_id: Id) -> Company:
    return companies_for(api_user(request)).get(pk=company_id)
