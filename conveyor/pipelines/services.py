"""Writes on deals: open, move, win, lose, reopen. One transaction each.

Each state change locks the deal row, checks the caller's `version` (optimistic locking for
callers that read the deal earlier), appends a StageChange and keeps the deal's derived fields
(stage, stage_entered_at, max_position, lost_stage, purchase_number) in step, so reports never
need to replay history. `by=None` means the system (imports, automation) and skips the access check.
Every change also appends its audit entry (`conveyor.core.audit`) in the same transaction.

The settings screens' writes on the process itself (segments, pipelines, stages and their order,
loss reasons) are here too, at the end: owners and heads only, audited the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from conveyor.accounts.models import User
from conveyor.accounts.permissions import (
    require_assignable,
    require_owner_access,
    require_settings_access,
)
from conveyor.core.audit import (
    Changes,
    audit_editing,
    audit_record,
    audit_rows,
    audit_saved,
    audit_snapshot,
)
from conveyor.core.db import clean_and_save, locked_or_refuse, micros_between, next_position
from conveyor.core.errors import ConflictError, ServiceError
from conveyor.core.fields import max_length
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.people.services import person_referrals_refresh
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    PlaybookCheck,
    Segment,
    Stage,
    StageChange,
)
from conveyor.pipelines.playbooks import playbook_clean, playbook_items, playbook_state
from conveyor.pipelines.signals import deal_assigned, deal_changed
from conveyor.touches.models import Touch
from conveyor.touches.placement import touches_rehome, touches_to_win


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ServiceError(_("Times must carry a time zone."), field="at")
    return at


# Deal.amount: 14 digits, 2 of them after the point.
_CENTS = Decimal("0.01")
_AMOUNT_LIMIT = Decimal(10) ** 12


def _check_amount(amount: Decimal, *, exact: bool = False) -> Decimal:
    """Refuse a negative amount; with `exact`, also one the column cannot hold as given."""
    if exact and (
        not amount.is_finite() or amount != amount.quantize(_CENTS) or amount >= _AMOUNT_LIMIT
    ):
        raise ServiceError(
            _("Enter an amount below a trillion with at most two decimals."), field="amount"
        )
    if amount < 0:
        raise ServiceError(_("The amount cannot be negative."), field="amount")
    return amount


def _lock_deal(
    deal_id: int, *, version: int | None, by: User | None, lock_person: bool = False
) -> Deal:
    """Lock the deal row; refuse when the caller's `version` is stale or access is missing.

    With `lock_person`, the deal's person is locked first: every service that renumbers a
    person's purchases takes the person before the deal, so two of them cannot deadlock.
    The lock query has no joins (PostgreSQL refuses FOR UPDATE on the nullable side of one).
    """
    if lock_person:
        person_id = Deal.objects.filter(pk=deal_id).values_list("person_id", flat=True).first()
        if person_id is not None:
            Person.objects.select_for_update().filter(pk=person_id).first()
    try:
        deal = Deal.objects.select_for_update().get(pk=deal_id)
    except Deal.DoesNotExist as exc:
        raise ServiceError(_("This deal does not exist."), field="deal") from exc
    if by is not None:
        require_owner_access(by, deal.owner)
    if version is not None and deal.version != version:
        raise ConflictError(
            _(
                "Someone else changed this deal (you had version %(yours)s, it is now "
                "%(current)s). Reload it and try again."
            )
            % {"yours": version, "current": deal.version},
            field="version",
        )
    return deal


def _close_current_interval(deal: Deal, at: dt.datetime) -> None:
    """Stamp `left_at` on the change that put the deal in its current stage."""
    if at < deal.stage_entered_at:
        raise ServiceError(
            _("The change cannot be dated before the deal entered its current stage."),
            field="at",
        )
    # The open stay began when the deal entered its stage (`stage_entered_at` is that change's
    # `at`), so its length is known without reading the row.
    StageChange.objects.filter(deal=deal, to_stage__isnull=False, left_at__isnull=True).update(
        left_at=at, stay_us=micros_between(deal.stage_entered_at, at)
    )


def _history_append(deal: Deal, **fields: Any) -> StageChange:
    """Append one change to the deal's history, with the cohort keys the reports read; the
    deal's touches from its time on fall in the stage it leads to (`touches.placement`)."""
    change = StageChange.objects.create(
        deal=deal, deal_pipeline_id=deal.pipeline_id, deal_opened_at=deal.opened_at, **fields
    )
    if change.kind != ChangeKind.ENTER:  # a new deal has no touches yet
        touches_rehome(deal.pk, change.at, change.to_stage)
    return change


def _check_stage(pipeline: Pipeline, stage: Stage) -> None:
    if stage.pipeline_id != pipeline.pk:
        raise ServiceError(_("This stage belongs to another pipeline."), field="stage")
    if stage.is_archived:
        raise ServiceError(_("This stage is archived."), field="stage")


# People whose purchase facts one statement works out again (well under SQLite's limit of
# parameters per statement).
REFRESH_CHUNK = 500


def purchases_renumber(person_id: int, *, by: User | None, skip: int | None = None) -> None:
    """Purchase numbers are 1..n over the person's won deals by win time (then id).

    Each deal renumbered gets an audit entry, except `skip` (the deal whose own change, being
    audited by the caller, caused the renumbering).
    """
    won = Deal.objects.filter(person_id=person_id, status=DealStatus.WON).order_by(
        "closed_at", "pk"
    )
    renumbered: dict[int, Changes] = {}
    for number, deal in enumerate(won.only("pk", "purchase_number"), start=1):
        if deal.purchase_number != number:
            Deal.objects.filter(pk=deal.pk).update(purchase_number=number)
            if deal.pk != skip:
                renumbered[deal.pk] = {"purchase_number": [deal.purchase_number, number]}
    audit_rows(actor=by, model=Deal, changes=renumbered, action=AuditAction.UPDATE)
    person_purchases_refresh(person_ids=[person_id])


def person_purchases_refresh(*, person_ids: Collection[int] | None) -> None:
    """Work out again these people's purchase facts from their numbered won deals (None:
    everyone): `first_won_at` and `repeat_won_at` (purchases 1 and 2), then when they and
    whoever referred them first referred a customer. Called in the transaction that changed
    the purchases (`purchases_renumber`, the importers); a few hundred people per statement."""
    won = Deal.objects.filter(person=OuterRef("pk"), status=DealStatus.WON).order_by()
    facts = {
        "first_won_at": Subquery(won.filter(purchase_number=1).values("closed_at")[:1]),
        "repeat_won_at": Subquery(won.filter(purchase_number=2).values("closed_at")[:1]),
    }
    if person_ids is None:
        Person.objects.update(**facts)
        person_referrals_refresh(person_ids=None)
        return
    ids = sorted(set(person_ids))
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start : start + REFRESH_CHUNK]
        people = Person.objects.filter(pk__in=chunk)
        people.update(**facts)
        referrers = people.exclude(referred_by=None).values_list("referred_by", flat=True)
        person_referrals_refresh(person_ids=[*chunk, *referrers])


def _entry_stage(pipeline: Pipeline, stage: Stage | None) -> Stage:
    """Where a deal comes into `pipeline`: `stage`, else the first open stage; the pipeline
    must take new deals."""
    if not pipeline.is_active:
        raise ServiceError(_("This pipeline is closed for new deals."), field="pipeline")
    if stage is None:
        stage = pipeline.stages.filter(is_archived=False).order_by("position").first()
        if stage is None:
            raise ServiceError(_("This pipeline has no stages yet."), field="pipeline")
    _check_stage(pipeline, stage)
    return stage


@transaction.atomic
def deal_open(
    *,
    person: Person,
    pipeline: Pipeline,
    owner: User | None,
    by: User | None,
    stage: Stage | None = None,
    title: str = "",
    amount: Decimal = Decimal(0),
    currency: str = "",
    at: dt.datetime | None = None,
) -> Deal:
    """Open a deal for `person` in `pipeline`, at its first stage unless `stage` is given."""
    at = _now(at)
    if by is not None:
        require_owner_access(by, owner)
    stage = _entry_stage(pipeline, stage)
    deal = Deal.objects.create(
        person=person,
        pipeline=pipeline,
        stage=stage,
        owner=owner,
        title=title,
        amount=_check_amount(amount),
        currency=(currency or settings.CONVEYOR_CURRENCY).upper(),
        opened_at=at,
        stage_entered_at=at,
        max_position=stage.position,
    )
    change = _history_append(deal, kind=ChangeKind.ENTER, to_stage=stage, at=at, user=by)
    audit_record(actor=by, instance=deal, action=AuditAction.CREATE)
    deal_changed.send(sender=Deal, deal=deal, change=change, by=by)
    return deal


@transaction.atomic
def deal_move(
    *,
    deal_id: int,
    stage: Stage,
    version: int,
    by: User | None,
    at: dt.datetime | None = None,
) -> Deal:
    """Move an open deal to another stage of its pipeline (forward, back or skipping)."""
    at = _now(at)
    deal = _lock_deal(deal_id, version=version, by=by)
    if deal.status != DealStatus.OPEN:
        raise ServiceError(_("Only an open deal can be moved; reopen it first."), field="deal")
    _check_stage(deal.pipeline, stage)
    if stage.pk == deal.stage_id:
        raise ServiceError(_("The deal is already at this stage."), field="stage")
    if stage.position > deal.stage.position:
        _require_mandatory_playbook(deal)
    before = audit_snapshot(deal)
    _close_current_interval(deal, at)
    change = _history_append(
        deal, kind=ChangeKind.MOVE, from_stage=deal.stage, to_stage=stage, at=at, user=by
    )
    deal.stage = stage
    deal.stage_entered_at = at
    deal.max_position = max(deal.max_position, stage.position)
    deal.version = F("version") + 1
    deal.save(update_fields=["stage", "stage_entered_at", "max_position", "version"])
    deal.refresh_from_db(fields=["version"])
    audit_record(actor=by, instance=deal, action=AuditAction.MOVE, before=before)
    deal_changed.send(sender=Deal, deal=deal, change=change, by=by)
    return deal


@transaction.atomic
def deal_win(
    *,
    deal_id: int,
    version: int,
    by: User | None,
    amount: Decimal | None = None,
    at: dt.datetime | None = None,
) -> Deal:
    """Mark an open deal won with its final amount; the person's purchase numbers follow."""
    at = _now(at)
    # The person is locked too: two wins for one person must not share a purchase number.
    deal = _lock_deal(deal_id, version=version, by=by, lock_person=True)
    if deal.status != DealStatus.OPEN:
        raise ServiceError(_("Only an open deal can be won."), field="deal")
    _require_mandatory_playbook(deal)
    before = audit_snapshot(deal)
    _close_current_interval(deal, at)
    change = _history_append(deal, kind=ChangeKind.WON, from_stage=deal.stage, at=at, user=by)
    deal.amount = _check_amount(deal.amount if amount is None else amount)
    deal.status = DealStatus.WON
    deal.closed_at = at
    # A provisional number satisfies the won => purchase number constraint; renumbering fixes it.
    last = Deal.objects.filter(person_id=deal.person_id, status=DealStatus.WON).aggregate(
        n=Max("purchase_number")
    )["n"]
    deal.purchase_number = (last or 0) + 1
    deal.touches_to_win = touches_to_win(deal.pk, at)
    deal.version = F("version") + 1
    deal.save(
        update_fields=[
            "amount",
            "status",
            "closed_at",
            "purchase_number",
            "touches_to_win",
            "version",
        ]
    )
    purchases_renumber(deal.person_id, by=by, skip=deal.pk)
    deal.refresh_from_db()
    audit_record(actor=by, instance=deal, action=AuditAction.WIN, before=before)
    deal_changed.send(sender=Deal, deal=deal, change=change, by=by)
    return deal


@transaction.atomic
def deal_lose(
    *,
    deal_id: int,
    version: int,
    by: User | None,
    reason: LossReason | None,
    refused_by_us: bool = False,
    unmet_criteria: str = "",
    at: dt.datetime | None = None,
) -> Deal:
    """Close an open deal as lost, with a reason from its pipeline's catalogue.

    `refused_by_us` marks a deal we turned down; it must say which criteria the client did not meet.
    """
    at = _now(at)
    deal = _lock_deal(deal_id, version=version, by=by)
    if deal.status != DealStatus.OPEN:
        raise ServiceError(_("Only an open deal can be lost."), field="deal")
    if reason is None:
        raise ServiceError(_("Choose why the deal was lost."), field="reason")
    if not reason.is_active or reason.pipeline_id not in (None, deal.pipeline_id):
        raise ServiceError(
            _("This loss reason is not in this pipeline's catalogue."), field="reason"
        )
    limited_to = set(reason.stages.values_list("pk", flat=True))
    if limited_to and deal.stage_id not in limited_to:
        raise ServiceError(
            _("This loss reason does not apply at the deal's current stage."), field="reason"
        )
    unmet_criteria = unmet_criteria.strip()
    if refused_by_us and not unmet_criteria:
        raise ServiceError(
            _("When we refuse a client, say which criteria they do not meet."),
            field="unmet_criteria",
        )
    before = audit_snapshot(deal)
    _close_current_interval(deal, at)
    change = _history_append(deal, kind=ChangeKind.LOST, from_stage=deal.stage, at=at, user=by)
    deal.status = DealStatus.LOST
    deal.closed_at = at
    deal.lost_reason = reason
    deal.lost_stage = deal.stage
    deal.refused_by_us = refused_by_us
    deal.unmet_criteria = unmet_criteria if refused_by_us else ""
    deal.version = F("version") + 1
    deal.save(
        update_fields=[
            "status",
            "closed_at",
            "lost_reason",
            "lost_stage",
            "refused_by_us",
            "unmet_criteria",
            "version",
        ]
    )
    deal.refresh_from_db(fields=["version"])
    audit_record(actor=by, instance=deal, action=AuditAction.LOSE, before=before)
    deal_changed.send(sender=Deal, deal=deal, change=change, by=by)
    return deal


@transaction.atomic
def deal_reopen(
    *,
    deal_id: int,
    version: int,
    by: User | None,
    stage: Stage | None = None,
    at: dt.datetime | None = None,
) -> Deal:
    """Reopen a won or lost deal at `stage` (default: the stage it closed at)."""
    at = _now(at)
    deal = _lock_deal(deal_id, version=version, by=by, lock_person=True)
    if deal.status == DealStatus.OPEN:
        raise ServiceError(_("The deal is already open."), field="deal")
    assert deal.closed_at is not None
    if at < deal.closed_at:
        raise ServiceError(_("A deal cannot be reopened before it was closed."), field="at")
    stage = stage or deal.stage
    _check_stage(deal.pipeline, stage)
    was_won = deal.status == DealStatus.WON
    before = audit_snapshot(deal)
    change = _history_append(
        deal, kind=ChangeKind.REOPENED, from_stage=deal.stage, to_stage=stage, at=at, user=by
    )
    deal.status = DealStatus.OPEN
    deal.closed_at = None
    deal.lost_reason = None
    deal.lost_stage = None
    deal.refused_by_us = False
    deal.unmet_criteria = ""
    deal.purchase_number = None
    deal.touches_to_win = None
    deal.stage = stage
    deal.stage_entered_at = at
    deal.max_position = max(deal.max_position, stage.position)
    deal.version = F("version") + 1
    deal.save()
    if was_won:
        purchases_renumber(deal.person_id, by=by)
    deal.refresh_from_db(fields=["version"])
    audit_record(actor=by, instance=deal, action=AuditAction.REOPEN, before=before)
    deal_changed.send(sender=Deal, deal=deal, change=change, by=by)
    return deal


@transaction.atomic
def deal_transfer(
    *,
    deal_id: int,
    pipeline: Pipeline,
    version: int | None,
    by: User | None,
    stage: Stage | None = None,
    at: dt.datetime | None = None,
) -> Deal:
    """Move an open deal into another pipeline (at `stage`, default its first), e.g. when a rule
    hands qualified deals from a lead pipeline to a segment's sales pipeline. The history keeps
    the step as a move from the old pipeline's stage to the new one's."""
    at = _now(at)
    deal = _lock_deal(deal_id, version=version, by=by)
    if deal.status != DealStatus.OPEN:
        raise ServiceError(_("Only an open deal can change pipeline."), field="deal")
    if pipeline.pk == deal.pipeline_id:
        raise ServiceError(_("The deal is already in this pipeline."), field="pipeline")
    stage = _entry_stage(pipeline, stage)
    before = audit_snapshot(deal)
    _close_current_interval(deal, at)
    change = _history_append(
        deal, kind=ChangeKind.MOVE, from_stage=deal.stage, to_stage=stage, at=at, user=by
    )
    deal.pipeline = pipeline
    deal.stage = stage
    deal.stage_entered_at = at
    # Positions of two pipelines do not compare: the deal starts its climb in the new one.
    deal.max_position = stage.position
    deal.version = F("version") + 1
    deal.save(update_fields=["pipeline", "stage", "stage_entered_at", "max_position", "version"])
    # The whole history now belongs to the new pipeline's cohort, as the deal does.
    StageChange.objects.filter(deal=deal).update(deal_pipeline=pipeline)
    Touch.objects.filter(deal=deal).update(deal_pipeline=pipeline)
    deal.refresh_from_db(fields=["version"])
    audit_record(actor=by, instance=deal, action=AuditAction.TRANSFER, before=before)
    deal_changed.send(sender=Deal, deal=deal, change=change, by=by)
    return deal


@transaction.atomic
def deal_assign(*, deal_id: int, owner: User, by: User | None, version: int | None = None) -> Deal:
    """Hand a deal to another manager; its open tasks follow it."""
    deal = _lock_deal(deal_id, version=version, by=by)
    if by is not None:
        require_owner_access(by, owner)
    if not owner.is_active:
        raise ServiceError(_("This user is deactivated."), field="owner")
    previous = deal.owner_id
    if previous == owner.pk:
        return deal
    before = audit_snapshot(deal)
    deal.owner = owner
    deal.version = F("version") + 1
    deal.save(update_fields=["owner", "version"])
    deal.refresh_from_db(fields=["version"])
    audit_record(actor=by, instance=deal, action=AuditAction.ASSIGN, before=before)
    deal_assigned.send(sender=Deal, deal=deal, previous_owner_id=previous, by=by)
    return deal


def _require_mandatory_playbook(deal: Deal) -> None:
    """A head can make playbook items mandatory: the deal does not leave its stage forward (or
    win) until they are ticked."""
    missing = [item.text for item in playbook_state(deal, mandatory_only=True) if not item.checked]
    if missing:
        raise ServiceError(
            _("Tick the mandatory playbook items first: %(items)s") % {"items": "; ".join(missing)},
            field="stage",
        )


@transaction.atomic
def playbook_check(
    *, deal_id: int, item: str, checked: bool, by: User | None
) -> PlaybookCheck | None:
    """Tick (or untick) one playbook item of the deal's current stage."""
    deal = _lock_deal(deal_id, version=None, by=by)
    if item not in {entry.text for entry in playbook_items(deal.stage)}:
        raise ServiceError(_("This item is not in the stage's playbook."), field="item")
    if not checked:
        PlaybookCheck.objects.filter(deal=deal, stage=deal.stage, item=item).delete()
        return None
    check, _created = PlaybookCheck.objects.get_or_create(
        deal=deal, stage=deal.stage, item=item, defaults={"user": by}
    )
    return check


@transaction.atomic
def deal_assign_bulk(*, deal_ids: Sequence[int], owner: User, by: User | None) -> list[Deal]:
    """Hand many deals to `owner` at once, all or nothing: `deal_assign` on each, in one
    transaction.

    The deals are locked first, in id order (two bulk hand-overs cannot deadlock); each then
    goes through `deal_assign`, so the access rule, the audit entry and the open tasks that
    follow the deal are exactly a single hand-over's. The first refusal names the deal by id
    and undoes everything. Returns the deals, in id order.
    """
    require_assignable(by, owner)
    ids = sorted(set(deal_ids))
    if not ids:
        raise ServiceError(_("Tick at least one deal."), field="deals")
    locked = set(
        Deal.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    deals = []
    for deal_id in ids:
        if deal_id not in locked:
            raise ServiceError(_("Deal #%(id)s does not exist.") % {"id": deal_id}, field="deals")
        try:
            deals.append(deal_assign(deal_id=deal_id, owner=owner, by=by))
        except ServiceError as error:
            raise type(error)(
                _("Deal #%(id)s: %(reason)s") % {"id": deal_id, "reason": error.message},
                field=error.field,
            ) from error
    return deals


@transaction.atomic
def deal_update(
    *,
    deal_id: int,
    version: int,
    by: User | None,
    title: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
) -> Deal:
    """Change a deal's title, amount or currency; a field passed as None stays as it is.

    The deal row is locked and the caller's `version` checked first, so an edit made on a stale
    page is a ConflictError that writes nothing. A change bumps the version and appends one
    audit entry; no change writes nothing. Closed deals may be corrected too (a won deal's
    amount is revenue: the log keeps the old value). The owner changes through `deal_assign`.
    """
    deal = _lock_deal(deal_id, version=version, by=by)
    before = audit_snapshot(deal)
    if title is not None:
        title = title.strip()
        limit = max_length(Deal, "title")
        if len(title) > limit:
            raise ServiceError(
                _("At most %(limit)s characters, please.") % {"limit": limit}, field="title"
            )
        deal.title = title
    if amount is not None:
        deal.amount = _check_amount(amount, exact=True)
    if currency is not None:
        currency = currency.strip().upper()
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise ServiceError(
                _("A currency is its three-letter ISO 4217 code, e.g. EUR."), field="currency"
            )
        deal.currency = currency
    changed = [
        name for name in ("title", "amount", "currency") if before[name] != getattr(deal, name)
    ]
    if not changed:
        return deal
    deal.version = F("version") + 1
    deal.save(update_fields=[*changed, "version"])
    deal.refresh_from_db(fields=["version"])
    audit_record(actor=by, instance=deal, action=AuditAction.UPDATE, before=before)
    return deal


# --- Settings screens: segments, pipelines, stages, loss reasons -----------------------------
# Their rows are locked FOR NO KEY UPDATE (PostgreSQL; `no_key=True`): the settings change plain
# columns, never a key, so deals opened or moved meanwhile may still insert rows pointing at the
# pipeline or stage (which take a key-share lock) instead of waiting on this transaction, or
# deadlocking with it.


def _require_process_settings(by: User | None) -> None:
    require_settings_access(by, _("Only owners and heads of sales change the sales process."))


@transaction.atomic
def segment_save(
    *, by: User | None, segment_id: int | None, name: str, description: str
) -> Segment:
    """Create a segment (`segment_id` None) or change its name and description."""
    _require_process_settings(by)
    segment, before = audit_editing(
        Segment, segment_id, _("This segment does not exist."), no_key=True
    )
    segment.name = name.strip()
    segment.description = description.strip()
    clean_and_save(segment)
    audit_saved(actor=by, instance=segment, before=before)
    return segment


@transaction.atomic
def pipeline_save(
    *,
    by: User | None,
    pipeline_id: int | None,
    name: str,
    segment: Segment | None,
    process: str,
    is_active: bool,
) -> Pipeline:
    """Create a pipeline (`pipeline_id` None) or change it. Switching it off closes it for new
    deals; the deals in it go on, and its history stays."""
    _require_process_settings(by)
    pipeline, before = audit_editing(
        Pipeline, pipeline_id, _("This pipeline does not exist."), no_key=True
    )
    pipeline.name = name.strip()
    pipeline.segment = segment
    pipeline.process = process
    pipeline.is_active = is_active
    clean_and_save(pipeline)
    audit_saved(actor=by, instance=pipeline, before=before)
    return pipeline


def _next_position(pipeline: Pipeline) -> int:
    """After every stage of the pipeline, archived ones included, so a new stage never shares
    a position (and so what deals reached) with an old one."""
    return next_position(Stage.objects.filter(pipeline=pipeline))


@transaction.atomic
def stage_save(
    *,
    by: User | None,
    pipeline_id: int,
    stage_id: int | None,
    name: str,
    exit_criterion: str,
    target_action: str,
    probability: Decimal,
    rot_days: int | None,
    is_key_meeting: bool,
    is_archived: bool,
    script: str,
    playbook: str,
) -> Stage:
    """Add a stage at the end of a pipeline (`stage_id` None) or change one.

    `playbook` is the checklist as lines, a leading `!` making an item mandatory
    (`playbook_clean`). A stage holding open deals cannot be archived; a stage taken out of
    the archive whose position an open stage has taken since goes to the end.
    """
    _require_process_settings(by)
    pipeline = locked_or_refuse(
        Pipeline, pipeline_id, _("This pipeline does not exist."), no_key=True
    )
    before = None
    if stage_id is None:
        stage = Stage(pipeline=pipeline, position=_next_position(pipeline))
    else:
        stage = locked_or_refuse(Stage, stage_id, _("This stage does not exist."), no_key=True)
        if stage.pipeline_id != pipeline.pk:
            raise ServiceError(_("This stage belongs to another pipeline."), field="stage")
        before = audit_snapshot(stage)
    if is_archived and not stage.is_archived and stage.pk is not None:
        waiting = Deal.objects.filter(stage=stage, status=DealStatus.OPEN).count()
        if waiting:
            raise ServiceError(
                ngettext(
                    "%(n)s open deal is at this stage: move it to another stage first.",
                    "%(n)s open deals are at this stage: move them to another stage first.",
                    waiting,
                )
                % {"n": waiting},
                field="is_archived",
            )
    moved = False
    if (
        stage.is_archived
        and not is_archived
        and Stage.objects.filter(pipeline=pipeline, position=stage.position, is_archived=False)
        .exclude(pk=stage.pk)
        .exists()
    ):
        stage.position = _next_position(pipeline)
        moved = True
    if rot_days is not None and rot_days < 1:
        raise ServiceError(
            _("A stage rots after one day at the earliest (leave it empty for never)."),
            field="rot_days",
        )
    stage.name = name.strip()
    stage.exit_criterion = exit_criterion.strip()
    stage.target_action = target_action.strip()
    stage.probability = probability
    stage.rot_days = rot_days
    stage.is_key_meeting = is_key_meeting
    stage.is_archived = is_archived
    stage.script = script.strip()
    stage.playbook = playbook_clean(playbook)
    clean_and_save(stage)
    audit_saved(actor=by, instance=stage, before=before)
    if moved:
        _deals_reached_refresh(pipeline, by=by)
    return stage


@transaction.atomic
def stage_reorder(*, by: User | None, pipeline_id: int, stage_ids: Sequence[int]) -> list[Stage]:
    """Put the pipeline's open stages in this order (positions 1..n); archived stages keep
    theirs. What each deal reached is recomputed from its history with the new positions, so
    the funnel counts the new order; every stage and deal changed gets an audit entry."""
    _require_process_settings(by)
    pipeline = locked_or_refuse(
        Pipeline, pipeline_id, _("This pipeline does not exist."), no_key=True
    )
    stages = list(
        Stage.objects.select_for_update(no_key=True).filter(pipeline=pipeline).order_by("position")
    )
    open_stages = {stage.pk: stage for stage in stages if not stage.is_archived}
    order = list(stage_ids)
    if len(order) != len(set(order)) or set(order) != set(open_stages):
        raise ServiceError(
            _("The order must name every open stage of the pipeline once."), field="order"
        )
    changed = {
        pk: position
        for position, pk in enumerate(order, start=1)
        if open_stages[pk].position != position
    }
    if not changed:
        return [open_stages[pk] for pk in order]
    # Two steps, so no two open stages ever share a position (the unique constraint holds
    # after each statement on both databases): out of the way past every position, then home.
    parked = max(stage.position for stage in stages) + 1
    for offset, pk in enumerate(changed):
        Stage.objects.filter(pk=pk).update(position=parked + offset)
    for pk, position in changed.items():
        Stage.objects.filter(pk=pk).update(position=position)
    audit_rows(
        actor=by,
        model=Stage,
        changes={pk: {"position": [open_stages[pk].position, new]} for pk, new in changed.items()},
        action=AuditAction.UPDATE,
    )
    for pk, position in changed.items():
        open_stages[pk].position = position
    _deals_reached_refresh(pipeline, by=by)
    return [open_stages[pk] for pk in order]


def _deals_reached_refresh(pipeline: Pipeline, *, by: User | None) -> int:
    """Recompute `max_position` of the pipeline's deals from their stage history (the highest
    position now held by a stage of this pipeline they were ever in; their current stage if
    they have no history), after stage positions changed. Returns the deals changed."""
    highest = (
        StageChange.objects.filter(deal=OuterRef("pk"), to_stage__pipeline=pipeline)
        .order_by()
        .values("deal")
        .annotate(top=Max("to_stage__position"))
        .values("top")
    )
    rows = list(
        Deal.objects.select_for_update(of=("self",), no_key=True)
        .filter(pipeline=pipeline)
        .annotate(reached=Coalesce(Subquery(highest), F("stage__position")))
        .exclude(max_position=F("reached"))
        .values_list("pk", "max_position", "reached")
    )
    by_value: dict[int, list[int]] = {}
    for pk, _old, new in rows:
        by_value.setdefault(new, []).append(pk)
    for value, ids in by_value.items():
        for start in range(0, len(ids), 500):
            Deal.objects.filter(pk__in=ids[start : start + 500]).update(max_position=value)
    audit_rows(
        actor=by,
        model=Deal,
        changes={pk: {"max_position": [old, new]} for pk, old, new in rows},
        action=AuditAction.UPDATE,
        note=_("Stages of the pipeline reordered."),
    )
    return len(rows)


@transaction.atomic
def loss_reason_save(
    *,
    by: User | None,
    reason_id: int | None,
    name: str,
    pipeline: Pipeline | None,
    stages: Sequence[Stage],
    is_active: bool,
) -> LossReason:
    """Create a loss reason (`reason_id` None) or change it. No pipeline offers it in every
    pipeline; stages (of its pipeline, when it has one) narrow it to those stages. A reason
    in use is switched off rather than removed: the deals lost for it keep it."""
    _require_process_settings(by)
    reason, before = audit_editing(
        LossReason, reason_id, _("This loss reason does not exist."), no_key=True
    )
    old_stages = [] if reason.pk is None else sorted(reason.stages.values_list("pk", flat=True))
    if pipeline is not None and any(stage.pipeline_id != pipeline.pk for stage in stages):
        raise ServiceError(_("Choose stages of the reason's own pipeline only."), field="stages")
    reason.name = name.strip()
    reason.pipeline = pipeline
    reason.is_active = is_active
    clean_and_save(reason)
    reason.stages.set(stages)
    new_stages = sorted(stage.pk for stage in stages)
    extra: Changes = {"stages": [old_stages, new_stages]} if new_stages != old_stages else {}
    audit_saved(actor=by, instance=reason, before=before, extra=extra)
    return reason
