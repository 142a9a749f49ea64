"""Writes on deals: open, move, win, lose, reopen. One transaction each.

Each state change locks the deal row, checks the caller's `version` (optimistic locking for
callers that read the deal earlier), appends a StageChange and keeps the deal's derived fields
(stage, stage_entered_at, max_position, lost_stage, purchase_number) in step, so reports never
need to replay history. `by=None` means the system (imports, automation) and skips the access check.
Every change also appends its audit entry (`conveyor.core.audit`) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_owner_access
from conveyor.core.audit import Changes, audit_record, audit_rows, audit_snapshot
from conveyor.core.errors import ConflictError, ServiceError
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    PlaybookCheck,
    Stage,
    StageChange,
)
from conveyor.pipelines.playbooks import playbook_items, playbook_state
from conveyor.pipelines.signals import deal_assigned, deal_changed


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ServiceError(_("Times must carry a time zone."), field="at")
    return at


def _check_amount(amount: Decimal) -> Decimal:
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
    StageChange.objects.filter(deal=deal, to_stage__isnull=False, left_at__isnull=True).update(
        left_at=at
    )


def _check_stage(pipeline: Pipeline, stage: Stage) -> None:
    if stage.pipeline_id != pipeline.pk:
        raise ServiceError(_("This stage belongs to another pipeline."), field="stage")
    if stage.is_archived:
        raise ServiceError(_("This stage is archived."), field="stage")


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
    change = StageChange.objects.create(
        deal=deal, kind=ChangeKind.ENTER, to_stage=stage, at=at, user=by
    )
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
    change = StageChange.objects.create(
        deal=deal, kind=ChangeKind.MOVE, from_stage=deal.stage, to_stage=stage, at=at, user=by
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
    change = StageChange.objects.create(
        deal=deal, kind=ChangeKind.WON, from_stage=deal.stage, at=at, user=by
    )
    deal.amount = _check_amount(deal.amount if amount is None else amount)
    deal.status = DealStatus.WON
    deal.closed_at = at
    # A provisional number satisfies the won => purchase number constraint; renumbering fixes it.
    last = Deal.objects.filter(person_id=deal.person_id, status=DealStatus.WON).aggregate(
        n=Max("purchase_number")
    )["n"]
    deal.purchase_number = (last or 0) + 1
    deal.version = F("version") + 1
    deal.save(update_fields=["amount", "status", "closed_at", "purchase_number", "version"])
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
    change = StageChange.objects.create(
        deal=deal, kind=ChangeKind.LOST, from_stage=deal.stage, at=at, user=by
    )
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
    change = StageChange.objects.create(
        deal=deal, kind=ChangeKind.REOPENED, from_stage=deal.stage, to_stage=stage, at=at, user=by
    )
    deal.status = DealStatus.OPEN
    deal.closed_at = None
    deal.lost_reason = None
    deal.lost_stage = None
    deal.refused_by_us = False
    deal.unmet_criteria = ""
    deal.purchase_number = None
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
    change = StageChange.objects.create(
        deal=deal, kind=ChangeKind.MOVE, from_stage=deal.stage, to_stage=stage, at=at, user=by
    )
    deal.pipeline = pipeline
    deal.stage = stage
    deal.stage_entered_at = at
    # Positions of two pipelines do not compare: the deal starts its climb in the new one.
    deal.max_position = stage.position
    deal.version = F("version") + 1
    deal.save(update_fields=["pipeline", "stage", "stage_entered_at", "max_position", "version"])
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
