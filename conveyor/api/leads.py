"""`/api/v1/leads`: send a lead in (same validation, idempotency and routing as every channel),
read the intake records the caller may see, and accept / merge / reject an inbox lead (the
inbox's own services, so the web inbox and the API follow one rule and one audit trail), one
lead or many selected at once (the inbox toolbar's bulk actions)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, ClassVar, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from conveyor.accounts.models import TokenScope, User
from conveyor.api.auth import TokenAuth, api_token, api_user
from conveyor.api.deals import DealOut
from conveyor.api.errors import ApiError, chosen
from conveyor.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, filtered, page
from conveyor.api.types import BodyIn, Id, IsoDatetime
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.selectors import leads_for
from conveyor.intake.services import (
    QualificationError,
    lead_accept,
    lead_accept_bulk,
    lead_merge,
    lead_merge_bulk,
    lead_receive,
    lead_reject_spam,
    lead_reject_spam_bulk,
)
from conveyor.pipelines.models import Pipeline, Segment

LeadOrdering = Literal["id", "-id", "received_at", "-received_at"]

router = Router()


class LeadIn(BodyIn):
    name: str = Field(..., min_length=1, max_length=200)
    phone: str = Field("", max_length=64)
    email: str = Field("", max_length=254)
    company: str = Field("", max_length=200)
    note: str = Field("", max_length=5000)
    source: str = Field("", max_length=64, description="Where the lead came from, e.g. 'site'.")
    segment_id: Id | None = None
    utm: dict[str, str] = Field(default_factory=dict, description="utm_source, utm_medium, …")
    answers: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Answers to the segment's qualifying questions, keyed by question id.",
    )
    received_at: IsoDatetime | None = Field(
        None, description="When the lead arrived elsewhere (with a time zone); default now."
    )


class LeadOut(Schema):
    id: int
    status: str
    channel: str
    received_at: IsoDatetime
    name: str
    phone: str
    email: str
    source: str
    utm: dict[str, Any]
    segment_id: Id | None
    person_id: Id | None
    deal_id: Id | None
    score: int
    temperature: str
    is_suspected_spam: bool
    routed_pipeline_id: Id | None
    routed_owner_id: Id | None
    routing_note: str


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None


class LeadFilters(Schema):
    status: LeadStatus | None = None
    channel: LeadChannel | None = None
    person_id: Id | None = None
    deal_id: Id | None = None
    received_after: IsoDatetime | None = None
    received_before: IsoDatetime | None = None

    LOOKUPS: ClassVar[dict[str, str]] = {
        "received_after": "received_at__gte",
        "received_before": "received_at__lt",
    }


class AcceptIn(BodyIn):
    pipeline_id: Id | None = Field(
        None,
        description="Default: the pipeline routing proposed, else the segment's conversion one.",
    )
    owner_id: Id | None = Field(
        None, description="Default: the owner routing proposed, else the caller."
    )


class MergeIn(BodyIn):
    person_id: Id = Field(..., description="The person this lead is a repeat request of.")


class AcceptOut(Schema):
    lead: LeadOut
    deal: DealOut


UTM_MAX = 200
# The most leads one bulk action handles (each in its own transaction, within one request).
LEAD_BULK_LIMIT = 500


class LeadBulkIn(BodyIn):
    ids: list[Id] = Field(
        ..., min_length=1, max_length=LEAD_BULK_LIMIT, description="The selected leads."
    )
    action: Literal["accept", "merge", "reject"] = Field(
        ...,
        description=(
            "accept: open a deal for each; merge: record each as a repeat request of "
            "`person_id`, or without it of the person intake linked it to; reject: as spam."
        ),
    )
    pipeline_id: Id | None = Field(
        None,
        description=(
            "accept only. Default: the pipeline routing proposed, else the segment's "
            "conversion one."
        ),
    )
    owner_id: Id | None = Field(
        None, description="accept only. Default: the owner routing proposed, else the caller."
    )
    person_id: Id | None = Field(
        None, description="merge only: the person every lead is merged into."
    )


class LeadBulkResult(Schema):
    lead_id: int
    ok: bool
    message: str = Field(..., description="Why the lead was refused; empty when done.")
    deal_id: Id | None = Field(..., description="The deal an accepted lead opened.")


class LeadBulkOut(Schema):
    results: list[LeadBulkResult] = Field(..., description="One per lead, in the order sent.")


@router.post(
    "",
    response={201: LeadOut, 200: LeadOut},
    auth=TokenAuth(accept=(TokenScope.WRITE, TokenScope.INTAKE)),
    summary="Send a lead in",
)
def lead_create(request: HttpRequest, payload: LeadIn) -> Status[Lead]:
    """Records the lead in the inbox (or routes it straight to a funnel by the routing rules).
    A person with the same phone or e-mail is linked, not duplicated. Answers 200 instead of
    201 when this `Idempotency-Key` already made a lead more than 24 h ago."""
    token = api_token(request)
    segment = None
    if payload.segment_id is not None:
        segment = Segment.objects.filter(pk=payload.segment_id).first()
        if segment is None:
            raise ApiError(
                422, _("No such segment."), fields={"segment_id": [_("No such segment.")]}
            )
    key = request.headers.get("Idempotency-Key", "").strip()
    # Scoped to the token and hashed to fit the column: the HTTP layer replays within
    # 24 h; this keeps the lead itself from being recorded twice even after that.
    scoped_key = f"api:{token.pk}:{hashlib.sha256(key.encode()).hexdigest()[:40]}" if key else None
    submission = uuid.uuid4().hex
    payload_extra: dict[str, Any] = {"api_token": token.prefix, "submission": submission}
    if payload.company.strip():
        payload_extra["company"] = payload.company.strip()
    try:
        lead = lead_receive(
            channel=LeadChannel.API,
            name=payload.name,
            phone=payload.phone,
            email=payload.email,
            source=payload.source or "api",
            segment=segment,
            payload=payload_extra,
            utm={name[:50]: value[:UTM_MAX] for name, value in payload.utm.items()},
            idempotency_key=scoped_key,
            received_at=payload.received_at,
            note=payload.note,
            answers={str(k): v for k, v in payload.answers.items()},
            by=token.user,
            audit_note=_("API token: %(token)s") % {"token": token},
        )
    except QualificationError as error:
        raise ApiError(
            422,
            _("Some answers are not valid."),
            fields={f"answers.{qid}": [message] for qid, message in error.errors.items()},
        ) from error
    created = lead.payload.get("submission") == submission
    return Status(201 if created else 200, lead)


@router.get("", response=LeadPage, summary="List leads")
def lead_list(
    request: HttpRequest,
    filters: Query[LeadFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: LeadOrdering = "-received_at",
) -> dict[str, Any]:
    queryset = filtered(leads_for(api_user(request)), filters)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/bulk",
    response=LeadBulkOut,
    summary="Accept, merge or reject many inbox leads",
    description=(
        "The inbox toolbar's bulk actions: each lead is handled in its own transaction, like "
        "the single-lead actions, so one refusal does not undo the others; the answer tells "
        "per lead. A lead you may not see (or that does not exist) is refused as not existing."
    ),
)
def lead_bulk(request: HttpRequest, payload: LeadBulkIn) -> dict[str, Any]:
    user = api_user(request)
    if payload.person_id is not None and payload.action != "merge":
        message = _("Clear the person id: it is only for merging into that person.")
        raise ApiError(422, message, fields={"person_id": [message]})
    ids = list(dict.fromkeys(payload.ids))
    visible = set(leads_for(user).filter(pk__in=ids).values_list("pk", flat=True))
    seen = [pk for pk in ids if pk in visible]
    if payload.action == "accept":
        pipeline, owner = _accept_targets(payload.pipeline_id, payload.owner_id)
        results = lead_accept_bulk(lead_ids=seen, by=user, pipeline=pipeline, owner=owner)
    elif payload.action == "merge":
        results = lead_merge_bulk(lead_ids=seen, by=user, person_id=payload.person_id)
    else:
        results = lead_reject_spam_bulk(lead_ids=seen, by=user)
    by_id: dict[int, dict[str, Any]] = {
        result.lead_id: {
            "lead_id": result.lead_id,
            "ok": result.ok,
            "message": result.message,
            "deal_id": result.deal_id,
        }
        for result in results
    }
    missing = _("This lead does not exist.")
    return {
        "results": [
            by_id.get(pk, {"lead_id": pk, "ok": False, "message": missing, "deal_id": None})
            for pk in ids
        ]
    }


@router.get("/{lead_id}", response=LeadOut, summary="One lead")
def lead_detail(request: HttpRequest, lead_id: Id) -> Lead:
    return _visible_lead(api_user(request), lead_id)


def _accept_targets(
    pipeline_id: int | None, owner_id: int | None
) -> tuple[Pipeline | None, User | None]:
    """Where accepted leads go: an active pipeline and an active owner, as the inbox offers
    (None: the lead's routing decides)."""
    pipeline = chosen(
        Pipeline.objects.filter(is_active=True),
        pipeline_id,
        "pipeline_id",
        _("No such active pipeline."),
    )
    owner = chosen(User.objects.filter(is_active=True), owner_id, "owner_id", _("No such user."))
    return pipeline, owner


def _visible_lead(user: User, lead_id: int) -> Lead:
    """The lead if the caller may see it (any inbox lead; a handled one with its deal), else
    404 — the same answer as for a lead that does not exist, so ids cannot be probed."""
    return get_object_or_404(leads_for(user), pk=lead_id)


@router.post(
    "/{lead_id}/accept",
    response=AcceptOut,
    summary="Accept an inbox lead: open a deal for it",
)
def lead_accept_action(request: HttpRequest, lead_id: Id, payload: AcceptIn) -> dict[str, Any]:
    """Reuses the lead's person (or one with the same phone or e-mail, or makes one) and opens
    a deal at the pipeline's first stage. Answers the lead and the new deal (with the
    `version` its actions need). A lead no longer in the inbox is refused with 422."""
    user = api_user(request)
    lead = _visible_lead(user, lead_id)
    pipeline, owner = _accept_targets(payload.pipeline_id, payload.owner_id)
    deal = lead_accept(lead_id=lead.pk, by=user, pipeline=pipeline, owner=owner)
    return {"lead": Lead.objects.get(pk=lead.pk), "deal": deal}


@router.post(
    "/{lead_id}/merge",
    response=LeadOut,
    summary="Merge an inbox lead into a person (a repeat request; no deal)",
)
def lead_merge_action(request: HttpRequest, lead_id: Id, payload: MergeIn) -> Lead:
    user = api_user(request)
    lead = _visible_lead(user, lead_id)
    return lead_merge(lead_id=lead.pk, person_id=payload.person_id, by=user)


@router.post("/{lead_id}/reject", response=LeadOut, summary="Reject an inbox lead as spam")
def lead_reject_action(request: HttpRequest, lead_id: Id) -> Lead:
    """The lead is kept, marked as spam and out of the inbox."""
    user = api_user(request)
    lead = _visible_lead(user, lead_id)
    return lead_reject_spam(lead_id=lead.pk, by=user)
