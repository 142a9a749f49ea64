"""Every deal service appends its audit entry: who, what action, which fields from what to what;
a refused change appends nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from conftest import Cast
from conveyor.core.errors import ConflictError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import (
    deal_assign,
    deal_lose,
    deal_move,
    deal_reopen,
    deal_transfer,
    deal_win,
)
from conveyor.pipelines.tests.support import hours, open_deal, stages_of
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    return open_deal(person, pipeline, owner=cast.manager, by=cast.manager)


def test_opening_a_deal_records_who_opened_it_and_its_first_values(
    cast: Cast, deal: Deal, pipeline: Pipeline, person: Person
) -> None:
    [entry] = log_of(deal)
    assert entry.action == AuditAction.CREATE
    assert entry.actor_id == cast.manager.pk
    first = stages_of(pipeline)[0]
    assert entry.changes["stage"] == [None, first.pk]
    assert entry.changes["person"] == [None, person.pk]
    assert entry.changes["amount"] == [None, "1000.00"]
    assert "version" not in entry.changes


def test_a_move_records_the_stage_from_and_to(cast: Cast, deal: Deal, pipeline: Pipeline) -> None:
    first, _second, third, _fourth = stages_of(pipeline)
    deal_move(deal_id=deal.pk, stage=third, version=1, by=cast.head, at=hours(1))
    entry = log_of(deal)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.MOVE, cast.head.pk)
    assert entry.changes["stage"] == [first.pk, third.pk]
    assert entry.changes["max_position"] == [1, 3]


def test_a_refused_move_records_nothing(cast: Cast, deal: Deal, pipeline: Pipeline) -> None:
    with pytest.raises(ConflictError):
        deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=7, by=cast.manager)
    assert actions_of(deal) == [AuditAction.CREATE]


def test_win_lose_and_reopen_record_the_outcome_fields(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    won = deal_win(deal_id=deal.pk, version=1, by=cast.manager, amount=Decimal("1500"), at=hours(1))
    entry = log_of(deal)[-1]
    assert entry.action == AuditAction.WIN
    assert entry.changes["status"] == ["open", "won"]
    assert entry.changes["amount"] == ["1000.00", "1500.00"]
    assert entry.changes["purchase_number"] == [None, 1]
    reopened = deal_reopen(deal_id=deal.pk, version=won.version, by=cast.manager, at=hours(2))
    assert log_of(deal)[-1].changes["status"] == ["won", "open"]
    reason = LossReasonFactory()
    deal_lose(deal_id=deal.pk, version=reopened.version, by=cast.owner, reason=reason, at=hours(3))
    entry = log_of(deal)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.LOSE, cast.owner.pk)
    assert entry.changes["lost_reason"] == [None, reason.pk]
    assert actions_of(deal) == ["create", "win", "reopen", "lose"]


def test_winning_earlier_renumbers_the_other_purchases_each_with_an_entry(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    later = open_deal(person, pipeline, owner=cast.manager)
    deal_win(deal_id=later.pk, version=1, by=None, at=hours(5))
    earlier = open_deal(person, pipeline, owner=cast.manager)
    deal_win(deal_id=earlier.pk, version=1, by=cast.manager, at=hours(1))
    renumbered = log_of(later)[-1]
    assert (renumbered.action, renumbered.actor_id) == (AuditAction.UPDATE, cast.manager.pk)
    assert renumbered.changes == {"purchase_number": [1, 2]}


def test_transfer_and_assign_record_pipeline_and_owner(cast: Cast, deal: Deal) -> None:
    other = pipeline_with_stages(["Qualified", "Proposal"])
    moved = deal_transfer(deal_id=deal.pk, pipeline=other, version=1, by=cast.head, at=hours(1))
    entry = log_of(deal)[-1]
    assert entry.action == AuditAction.TRANSFER
    assert entry.changes["pipeline"] == [deal.pipeline_id, other.pk]
    deal_assign(deal_id=deal.pk, owner=cast.head, by=cast.head, version=moved.version)
    entry = log_of(deal)[-1]
    assert (entry.action, entry.changes) == (
        AuditAction.ASSIGN,
        {"owner": [cast.manager.pk, cast.head.pk]},
    )


def test_assigning_to_the_same_owner_records_nothing(cast: Cast, deal: Deal) -> None:
    deal_assign(deal_id=deal.pk, owner=cast.manager, by=cast.head)
    assert actions_of(deal) == [AuditAction.CREATE]


def test_the_system_is_recorded_as_no_actor(cast: Cast, deal: Deal, pipeline: Pipeline) -> None:
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=None, at=hours(1))
    assert log_of(deal)[-1].actor_id is None


def test_the_entry_is_written_in_the_services_transaction(
    cast: Cast, deal: Deal, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A failure after the entry (a receiver of deal_changed) undoes the entry with the move.
    from conveyor.pipelines import services

    def broken(**kwargs: object) -> None:
        raise RuntimeError("receiver failed")

    monkeypatch.setattr(services.deal_changed, "send", broken)
    with pytest.raises(RuntimeError):
        deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=cast.manager)
    assert AuditEntry.objects.filter(action=AuditAction.MOVE).count() == 0


def test_an_entry_records_when_it_was_written_not_the_business_time(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=None, at=hours(1))
    entry = log_of(deal)[-1]
    assert entry.at > hours(1) + dt.timedelta(days=1)
