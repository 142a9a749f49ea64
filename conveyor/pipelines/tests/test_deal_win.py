"""deal_win: closing a deal won, its outcome in the history, and the person's purchase numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from conveyor.accounts.models import User
from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_lose, deal_move, deal_win
from conveyor.pipelines.tests.support import (
    deal_state,
    hours,
    open_deal,
    stages_of,
    world_counts,
)
from conveyor.testing.factories import LossReasonFactory, PersonFactory

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    """An open deal of the manager's at stage 2 (opened at T0, moved at T0 + 1h), version 2."""
    deal = open_deal(person, pipeline, owner=cast.manager)
    return deal_move(
        deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=cast.manager, at=hours(1)
    )


def win(deal: Deal, by: User, at_hour: float) -> Deal:
    """Win a freshly opened deal (version 1) at T0 + `at_hour` hours."""
    return deal_win(deal_id=deal.pk, version=1, by=by, at=hours(at_hour))


def test_win_closes_the_deal_and_appends_a_won_outcome(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    second = stages_of(pipeline)[1]

    won = deal_win(
        deal_id=deal.pk, version=2, by=cast.manager, amount=Decimal("2500.00"), at=hours(3)
    )

    deal.refresh_from_db()
    assert deal.status == DealStatus.WON
    assert deal.closed_at == hours(3)
    assert deal.amount == Decimal("2500.00")
    assert deal.version == won.version == 3
    assert deal.stage == second
    outcome = StageChange.objects.filter(deal=deal).order_by("pk").last()
    assert outcome is not None
    assert outcome.kind == ChangeKind.WON
    assert outcome.from_stage == second
    assert outcome.to_stage is None
    assert outcome.at == hours(3)
    assert outcome.user == cast.manager


def test_win_closes_the_interval_in_the_current_stage(cast: Cast, deal: Deal) -> None:
    deal_win(deal_id=deal.pk, version=2, by=cast.manager, at=hours(3))

    move = StageChange.objects.get(deal=deal, kind=ChangeKind.MOVE)
    assert move.left_at == hours(3)


def test_win_without_an_amount_keeps_the_deal_amount(cast: Cast, deal: Deal) -> None:
    deal_win(deal_id=deal.pk, version=2, by=cast.manager, at=hours(3))

    assert Deal.objects.get(pk=deal.pk).amount == Decimal("1000.00")


def test_a_persons_first_win_is_purchase_1_and_the_second_is_2(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    first = open_deal(person, pipeline, owner=cast.manager)
    second = open_deal(person, pipeline, owner=cast.manager)

    assert win(first, cast.manager, 1).purchase_number == 1
    assert win(second, cast.manager, 2).purchase_number == 2

    assert Deal.objects.get(pk=first.pk).purchase_number == 1
    assert Deal.objects.get(pk=second.pk).purchase_number == 2


def test_purchase_numbers_count_only_the_persons_own_wins(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    someone_else = PersonFactory(owner=cast.manager)
    win(open_deal(someone_else, pipeline, owner=cast.manager), cast.manager, 1)

    mine = win(open_deal(person, pipeline, owner=cast.manager), cast.manager, 2)

    assert mine.purchase_number == 1


def test_a_win_dated_before_an_existing_win_renumbers_the_persons_purchases(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    later = open_deal(person, pipeline, owner=cast.manager)
    earlier = open_deal(person, pipeline, owner=cast.manager)
    win(later, cast.manager, 10)

    recorded_late = win(earlier, cast.manager, 5)

    assert recorded_late.purchase_number == 1
    assert Deal.objects.get(pk=earlier.pk).purchase_number == 1
    assert Deal.objects.get(pk=later.pk).purchase_number == 2


@pytest.mark.parametrize("outcome", [DealStatus.WON, DealStatus.LOST])
def test_a_closed_deal_cannot_be_won(
    cast: Cast, pipeline: Pipeline, deal: Deal, outcome: str
) -> None:
    if outcome == DealStatus.WON:
        deal_win(deal_id=deal.pk, version=2, by=cast.manager, at=hours(2))
    else:
        reason = LossReasonFactory(pipeline=pipeline)
        deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=reason, at=hours(2))
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_win(deal_id=deal.pk, version=3, by=cast.manager, at=hours(3))

    assert exc.value.field == "deal"
    assert deal_state(deal.pk) == before


def test_stale_version_is_refused_and_writes_nothing(cast: Cast, deal: Deal) -> None:
    before = deal_state(deal.pk)
    counts = world_counts()

    with pytest.raises(ConflictError):
        deal_win(deal_id=deal.pk, version=1, by=cast.manager, at=hours(3))

    assert deal_state(deal.pk) == before
    assert world_counts() == counts


def test_negative_final_amount_is_refused_and_writes_nothing(cast: Cast, deal: Deal) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_win(deal_id=deal.pk, version=2, by=cast.manager, amount=Decimal(-1), at=hours(3))

    assert exc.value.field == "amount"
    assert deal_state(deal.pk) == before


def test_a_win_dated_before_the_deal_entered_its_stage_is_refused(cast: Cast, deal: Deal) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_win(deal_id=deal.pk, version=2, by=cast.manager, at=hours(0.5))

    assert exc.value.field == "at"
    assert deal_state(deal.pk) == before


@pytest.mark.parametrize("actor", ["outsider", "other_head"])
def test_users_outside_the_team_cannot_win_the_deal(cast: Cast, deal: Deal, actor: str) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(PermissionDenied):
        deal_win(deal_id=deal.pk, version=2, by=getattr(cast, actor), at=hours(3))

    assert deal_state(deal.pk) == before


def test_the_managers_head_can_win_the_deal(cast: Cast, deal: Deal) -> None:
    deal_win(deal_id=deal.pk, version=2, by=cast.head, at=hours(3))

    assert Deal.objects.get(pk=deal.pk).status == DealStatus.WON
