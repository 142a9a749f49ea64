"""`/api/v1/deals`: read deals, open one, edit its facts, tick its playbook, and move / win /
lose / reopen it; hand many deals to another owner at once (the deals list's bulk edit).

State changes and edits carry the `version` the caller last read; a stale one answers 409 and
changes nothing, so two people (or a person and an integration) never overwrite each other
silently.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StrictBool

from conveyor.accounts.models import User
from conveyor.api.audit import AUDIT_DESCRIPTION, AuditPage, audit_page
from conveyor.api.auth import api_user
from conveyor.api.errors import ApiError, chosen, fields_as_sent
from conveyor.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, filtered, page
from conveyor.api.types import BodyIn, Id, IsoDatetime, PatchIn, Text, Version, fields_sent
from conveyor.core.db import BULK_LIMIT
from conveyor.people.selectors import people_for
from conveyor.pipelines import selectors
from conveyor.pipelines.models import Deal, DealStatus, LossReason, Pipeline, Stage
from conveyor.pipelines.playbooks import MAX_ITEM_LENGTH, PlaybookEntry, playbook_state
from conveyor.pipelines.services import (
    deal_assign,
    deal_assign_bulk,
    deal_lose,
    deal_move,
    deal_open,
    deal_reopen,
    deal_update,
    deal_win,
    playbook_check,
)
from conveyor.touches.selectors import visible_deal

DealOrdering = Literal[
    "id",
    "-id",
    "opened_at",
    "-opened_at",
    "stage_entered_at",
    "-stage_entered_at",
    "amount",
    "-amount",
]


router = Router()


class DealOut(Schema):
    id: int
    person_id: Id
    pipeline_id: Id
    stage_id: Id
    owner_id: Id | None
    title: str
    status: str
    amount: Decimal
    currency: str
    opened_at: IsoDatetime
    closed_at: dt.datetime | None
    stage_entered_at: IsoDatetime
    lost_reason_id: Id | None
    lost_stage_id: Id | None
    refused_by_us: bool
    purchase_number: int | None
    version: Version


class DealPage(Schema):
    items: list[DealOut]
    next_cursor: str | None


class DealFilters(Schema):
    status: DealStatus | None = None
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    owner_id: Id | None = None
    person_id: Id | None = None


class DealIn(BodyIn):
    person_id: Id
    pipeline_id: Id
    stage_id: Id | None = Field(None, description="Default: the pipeline's first stage.")
    owner_id: Id | None = Field(None, description="Default: the caller.")
    title: Text = Field("", max_length=200)
    amount: Decimal = Field(Decimal(0), ge=0, max_digits=14, decimal_places=2)
    currency: Text = Field("", max_length=3)


class MoveIn(BodyIn):
    stage_id: Id
    version: Version


class WinIn(BodyIn):
    version: Version
    amount: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)


class LoseIn(BodyIn):
    version: Version
    reason_id: Id
    refused_by_us: StrictBool = False
    unmet_criteria: Text = Field("", max_length=2000)


class ReopenIn(BodyIn):
    version: Version
    stage_id: Id | None = None


class DealPatchIn(PatchIn):
    """A deal's facts as the deal page edits them in place; only the fields sent change."""

    version: Version
    title: Text = Field(None, max_length=200)  # type: ignore[assignment]
    amount: Decimal = Field(None, ge=0, max_digits=14, decimal_places=2)  # type: ignore[assignment]
    currency: Text = Field(  # type: ignore[assignment]
        None,
        min_length=3,
        max_length=3,
        pattern=r"^[A-Za-z]{3}$",
        description="The three-letter ISO 4217 code.",
    )
    owner_id: Id = Field(  # type: ignore[assignment]
        None, description="Hand the deal (and its open tasks) to this user."
    )


class PlaybookCheckIn(BodyIn):
    item: Text = Field(
        ...,
        min_length=1,
        max_length=MAX_ITEM_LENGTH,
        description="The item's text, as in the stage's playbook.",
    )
    checked: StrictBool = Field(True, description="false unticks it.")


class DealPlaybookItemOut(Schema):
    text: str
    mandatory: bool
    checked: bool


class StageChangeOut(Schema):
    id: int
    kind: str
    from_stage_id: Id | None
    to_stage_id: Id | None
    at: IsoDatetime
    left_at: dt.datetime | None
    user_id: Id | None


class DealBulkIn(BodyIn):
    ids: list[Id] = Field(
        ...,
        min_length=1,
        max_length=BULK_LIMIT,
        description=f"The deals to hand over (at most {BULK_LIMIT}), all deals you may see.",
    )
    owner_id: Id = Field(..., description="Who gets the deals (an active user).")


class DealBulkOut(Schema):
    items: list[DealOut] = Field(..., description="The deals, in id order, as they are now.")


# The service's names for its inputs, as this API's body names them.
BULK_FIELDS = {"deals": "ids", "owner": "owner_id"}


def _stage(deal_pipeline_id: Id, stage_id: Id) -> Stage:
    stage = chosen(
        Stage.objects.filter(pipeline_id=deal_pipeline_id),
        stage_id,
        "stage_id",
        _("This stage is not in the deal's pipeline."),
    )
    assert stage is not None
    return stage


@router.get("", response=DealPage, summary="List deals")
def deal_list(
    request: HttpRequest,
    filters: Query[DealFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: DealOrdering = "-opened_at",
) -> dict[str, Any]:
    queryset = filtered(selectors.deals_for(api_user(request)), filters)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/bulk",
    response=DealBulkOut,
    summary="Hand many deals to another owner",
    description=(
        "The deals list's bulk edit, all or nothing in one transaction: each deal is handed "
        "over as `PATCH /deals/{deal_id}` with `owner_id` would (access rule, audit entry, open "
        "tasks follow), without a version. A refusal names the deal and changes nothing. Ids "
        "of deals you may not see (or that do not exist) answer 422 on `ids`."
    ),
)
def deal_bulk(request: HttpRequest, payload: DealBulkIn) -> dict[str, Any]:
    user = api_user(request)
    ids = list(dict.fromkeys(payload.ids))
    visible = set(selectors.deals_for(user).filter(pk__in=ids).values_list("pk", flat=True))
    unseen = [pk for pk in ids if pk not in visible]
    if unseen:
        message = _("Deal #%(id)s does not exist.") % {"id": unseen[0]}
        raise ApiError(422, message, fields={"ids": [message]})
    owner = chosen(
        User.objects.filter(is_active=True), payload.owner_id, "owner_id", _("No such user.")
    )
    assert owner is not None
    with fields_as_sent(BULK_FIELDS):
        deals = deal_assign_bulk(deal_ids=ids, owner=owner, by=user)
    return {"items": deals}


@router.get("/{deal_id}", response=DealOut, summary="One deal")
def deal_detail(request: HttpRequest, deal_id: Id) -> Deal:
    return visible_deal(api_user(request), deal_id)


@router.get("/{deal_id}/history", response=list[StageChangeOut], summary="A deal's stage changes")
def deal_history(request: HttpRequest, deal_id: Id) -> Any:
    return selectors.deal_history(visible_deal(api_user(request), deal_id))


@router.get(
    "/{deal_id}/audit",
    response=AuditPage,
    summary="A deal's audit log",
    description=AUDIT_DESCRIPTION,
)
def deal_audit(
    request: HttpRequest,
    deal_id: Id,
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    return audit_page(visible_deal(api_user(request), deal_id), cursor=cursor, limit=limit)


@router.post("", response={201: DealOut}, summary="Open a deal")
def deal_create(request: HttpRequest, payload: DealIn) -> Status[Deal]:
    user = api_user(request)
    person = people_for(user).filter(pk=payload.person_id).first()
    pipeline = Pipeline.objects.filter(pk=payload.pipeline_id).first()
    if person is None or pipeline is None:
        raise ApiError(
            422,
            _("The person or the pipeline does not exist."),
            fields={
                name: [_("Not found.")]
                for name, found in (("person_id", person), ("pipeline_id", pipeline))
                if found is None
            },
        )
    owner = (
        chosen(
            User.objects.filter(is_active=True), payload.owner_id, "owner_id", _("No such user.")
        )
        or user
    )
    stage = _stage(pipeline.pk, payload.stage_id) if payload.stage_id is not None else None
    deal = deal_open(
        person=person,
        pipeline=pipeline,
        owner=owner,
        by=user,
        stage=stage,
        title=payload.title,
        amount=payload.amount,
        currency=payload.currency,
    )
    return Status(201, deal)


@router.post("/{deal_id}/move", response=DealOut, summary="Move a deal to another stage")
def deal_move_action(request: HttpRequest, deal_id: Id, payload: MoveIn) -> Deal:
    user = api_user(request)
    deal = visible_deal(user, deal_id)
    stage = _stage(deal.pipeline_id, payload.stage_id)
    return deal_move(deal_id=deal.pk, stage=stage, version=payload.version, by=user)


@router.post("/{deal_id}/win", response=DealOut, summary="Close a deal as won")
def deal_win_action(request: HttpRequest, deal_id: Id, payload: WinIn) -> Deal:
    user = api_user(request)
    deal = visible_deal(user, deal_id)
    return deal_win(deal_id=deal.pk, version=payload.version, by=user, amount=payload.amount)


@router.post("/{deal_id}/lose", response=DealOut, summary="Close a deal as lost, with a reason")
def deal_lose_action(request: HttpRequest, deal_id: Id, payload: LoseIn) -> Deal:
    user = api_user(request)
    deal = visible_deal(user, deal_id)
    reason = chosen(LossReason, payload.reason_id, "reason_id", _("No such loss reason."))
    assert reason is not None
    return deal_lose(
        deal_id=deal.pk,
        version=payload.version,
        by=user,
        reason=reason,
        refused_by_us=payload.refused_by_us,
        unmet_criteria=payload.unmet_criteria,
    )


@router.post("/{deal_id}/reopen", response=DealOut, summary="Reopen a won or lost deal")
def deal_reopen_action(request: HttpRequest, deal_id: Id, payload: ReopenIn) -> Deal:
    user = api_user(request)
    deal = visible_deal(user, deal_id)
    stage = _stage(deal.pipeline_id, payload.stage_id) if payload.stage_id is not None else None
    return deal_reopen(deal_id=deal.pk, version=payload.version, by=user, stage=stage)


@router.patch(
    "/{deal_id}",
    response=DealOut,
    summary="Change a deal's title, amount, currency or owner",
    description=(
        "Only the fields sent change; `version` is the one you read (stale: 409, nothing "
        "changes). A new owner takes the deal's open tasks too. Each change bumps the version "
        "(title, amount and currency together once, the owner once more) and is audited."
    ),
)
def deal_change(request: HttpRequest, deal_id: Id, payload: DealPatchIn) -> Deal:
    user = api_user(request)
    deal = visible_deal(user, deal_id)
    sent = fields_sent(payload)
    owner = chosen(User, sent.get("owner_id"), "owner_id", _("No such user."))
    # The web saves the facts through deal_update and the owner through deal_assign; sent
    # together, both happen or neither does.
    with transaction.atomic(), fields_as_sent({"owner": "owner_id"}):
        deal = deal_update(
            deal_id=deal.pk,
            version=payload.version,
            by=user,
            title=sent.get("title"),
            amount=sent.get("amount"),
            currency=sent.get("currency"),
        )
        if owner is not None:
            deal = deal_assign(deal_id=deal.pk, owner=owner, by=user, version=deal.version)
    return deal


@router.post(
    "/{deal_id}/checks",
    response=list[DealPlaybookItemOut],
    summary="Tick or untick a playbook item of the deal's current stage",
    description="Answers the stage's checklist for this deal after the change.",
)
def deal_check(request: HttpRequest, deal_id: Id, payload: PlaybookCheckIn) -> list[PlaybookEntry]:
    user = api_user(request)
    deal = visible_deal(user, deal_id)
    playbook_check(deal_id=deal.pk, item=payload.item, checked=payload.checked, by=user)
    return playbook_state(deal)
