"""deal_reopen: a closed deal comes back open, its outcome fields cleared, its history extended."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_lose, deal_move, deal_reopen, deal_win
from conveyor.pipelines.tests.support import deal_state, hours, open_deal, stages_of
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost_deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    """The manager's deal: opened at T0, moved to stage 2 at 1h, refused by us at 2h; version 3."""
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_move(
        deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=cast.manager, at=hours(1)
    )
    return deal_lose(
        deal_id=deal.pk,
        version=2,
        by=cast.manager,
        reason=LossReasonFactory(pipeline=pipeline),
        refused_by_us=True,
        unmet_criteria="No budget",
        at=hours(2),
    )


def test_reopening_a_lost_deal_clears_the_loss(
    cast: Cast, pipeline: Pipeline, lost_deal: Deal
) -> None:
    second = stages_of(pipeline)[1]

    reopened = deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, at=hours(5))

    deal = Deal.objects.get(pk=lost_deal.pk)
    assert deal.status == DealStatus.OPEN
    assert deal.closed_at is None
    assert deal.lost_reason is None
    assert deal.lost_stage is None
    assert deal.refused_by_us is False
    assert deal.unmet_criteria == ""
    assert deal.stage == second
    assert deal.stage_entered_at == hours(5)
    assert deal.version == reopened.version == 4


def test_reopening_appends_a_reopened_change_to_the_stage(
    cast: Cast, pipeline: Pipeline, lost_deal: Deal
) -> None:
    second = stages_of(pipeline)[1]

    deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, at=hours(5))

    change = StageChange.objects.filter(deal=lost_deal).order_by("pk").last()
    assert change is not None
    assert change.kind == ChangeKind.REOPENED
    assert change.from_stage == second
    assert change.to_stage == second
    assert change.at == hours(5)
    assert change.left_at is None
    assert change.user == cast.manager


def test_a_reopened_deal_moves_on_and_its_reopened_interval_is_closed(
    cast: Cast, pipeline: Pipeline, lost_deal: Deal
) -> None:
    third = stages_of(pipeline)[2]
    deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, at=hours(5))

    deal_move(deal_id=lost_deal.pk, stage=third, version=4, by=cast.manager, at=hours(6))

    reopened = StageChange.objects.get(deal=lost_deal, kind=ChangeKind.REOPENED)
    assert reopened.left_at == hours(6)
    assert Deal.objects.get(pk=lost_deal.pk).stage == third


def test_reopening_a_won_deal_clears_its_purchase_number_and_renumbers_the_other_wins(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    first = open_deal(person, pipeline, owner=cast.manager)
    second = open_deal(person, pipeline, owner=cast.manager)
    deal_win(deal_id=first.pk, version=1, by=cast.manager, at=hours(1))
    deal_win(deal_id=second.pk, version=1, by=cast.manager, at=hours(2))

    deal_reopen(deal_id=first.pk, version=2, by=cast.manager, at=hours(3))

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == DealStatus.OPEN
    assert first.purchase_number is None
    assert first.closed_at is None
    assert second.purchase_number == 1


def test_reopening_an_open_deal_is_refused(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_reopen(deal_id=deal.pk, version=1, by=cast.manager, at=hours(1))

    assert exc.value.field == "deal"
    assert deal_state(deal.pk) == before


def test_reopening_before_the_deal_was_closed_is_refused(cast: Cast, lost_deal: Deal) -> None:
    before = deal_state(lost_deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, at=hours(1.5))

    assert exc.value.field == "at"
    assert deal_state(lost_deal.pk) == before


def test_reopening_at_a_higher_stage_raises_max_position(
    cast: Cast, pipeline: Pipeline, lost_deal: Deal
) -> None:
    second, _, fourth = stages_of(pipeline)[1:]

    deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, stage=fourth, at=hours(5))

    deal = Deal.objects.get(pk=lost_deal.pk)
    assert deal.stage == fourth
    assert deal.max_position == 4
    change = StageChange.objects.filter(deal=deal).order_by("pk").last()
    assert change is not None
    assert (change.from_stage, change.to_stage) == (second, fourth)


def test_reopening_at_a_lower_stage_keeps_max_position(
    cast: Cast, pipeline: Pipeline, lost_deal: Deal
) -> None:
    first = stages_of(pipeline)[0]

    deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, stage=first, at=hours(5))

    deal = Deal.objects.get(pk=lost_deal.pk)
    assert deal.stage == first
    assert deal.max_position == 2


def test_reopening_at_a_stage_of_another_pipeline_is_refused(cast: Cast, lost_deal: Deal) -> None:
    foreign = stages_of(pipeline_with_stages())[0]
    before = deal_state(lost_deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, stage=foreign, at=hours(5))

    assert exc.value.field == "stage"
    assert deal_state(lost_deal.pk) == before


def test_reopening_at_an_archived_stage_is_refused(
    cast: Cast, pipeline: Pipeline, lost_deal: Deal
) -> None:
    third = stages_of(pipeline)[2]
    third.is_archived = True
    third.save()
    before = deal_state(lost_deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.manager, stage=third, at=hours(5))

    assert exc.value.field == "stage"
    assert deal_state(lost_deal.pk) == before


def test_stale_version_is_refused_and_writes_nothing(cast: Cast, lost_deal: Deal) -> None:
    before = deal_state(lost_deal.pk)

    with pytest.raises(ConflictError):
        deal_reopen(deal_id=lost_deal.pk, version=2, by=cast.manager, at=hours(5))

    assert deal_state(lost_deal.pk) == before


def test_the_outsider_cannot_reopen_the_managers_deal(cast: Cast, lost_deal: Deal) -> None:
    before = deal_state(lost_deal.pk)

    with pytest.raises(PermissionDenied):
        deal_reopen(deal_id=lost_deal.pk, version=3, by=cast.outsider, at=hours(5))

    assert deal_state(lost_deal.pk) == before
