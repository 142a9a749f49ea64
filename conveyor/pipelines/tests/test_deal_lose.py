"""deal_lose: a loss needs a reason from the pipeline's catalogue; refusals need criteria."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_lose, deal_move, deal_win
from conveyor.pipelines.tests.support import deal_state, hours, open_deal, stages_of
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    """An open deal of the manager's at stage 3 (moved there at T0 + 1h), version 2."""
    deal = open_deal(person, pipeline, owner=cast.manager)
    return deal_move(
        deal_id=deal.pk, stage=stages_of(pipeline)[2], version=1, by=cast.manager, at=hours(1)
    )


def test_lost_deal_needs_reason(cast: Cast, deal: Deal) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=None, at=hours(2))

    assert exc.value.field == "reason"
    assert deal_state(deal.pk) == before


def test_losing_closes_the_deal_at_its_current_stage(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    third = stages_of(pipeline)[2]
    reason = LossReasonFactory(pipeline=pipeline)

    lost = deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=reason, at=hours(4))

    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert deal.closed_at == hours(4)
    assert deal.lost_reason == reason
    assert deal.lost_stage == third
    assert deal.refused_by_us is False
    assert deal.purchase_number is None
    assert deal.version == lost.version == 3


def test_losing_appends_a_lost_outcome_and_closes_the_stage_interval(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    third = stages_of(pipeline)[2]
    reason = LossReasonFactory(pipeline=pipeline)

    deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=reason, at=hours(4))

    move, outcome = StageChange.objects.filter(deal=deal).exclude(kind=ChangeKind.ENTER)
    assert move.left_at == hours(4)
    assert outcome.kind == ChangeKind.LOST
    assert outcome.from_stage == third
    assert outcome.to_stage is None
    assert outcome.at == hours(4)
    assert outcome.user == cast.manager


def test_lost_stage_is_the_stage_at_the_time_even_after_moving_back(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    second = stages_of(pipeline)[1]
    deal_move(deal_id=deal.pk, stage=second, version=2, by=cast.manager, at=hours(2))

    deal_lose(
        deal_id=deal.pk,
        version=3,
        by=cast.manager,
        reason=LossReasonFactory(pipeline=pipeline),
        at=hours(3),
    )

    deal.refresh_from_db()
    assert deal.lost_stage == second
    assert deal.max_position == 3


def test_reason_of_another_pipeline_is_refused(cast: Cast, deal: Deal) -> None:
    foreign = LossReasonFactory(pipeline=pipeline_with_stages())
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=foreign, at=hours(2))

    assert exc.value.field == "reason"
    assert deal_state(deal.pk) == before


def test_global_reason_is_accepted(cast: Cast, deal: Deal) -> None:
    everywhere = LossReasonFactory(pipeline=None)

    deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=everywhere, at=hours(2))

    assert Deal.objects.get(pk=deal.pk).lost_reason == everywhere


def test_inactive_reason_is_refused(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    retired = LossReasonFactory(pipeline=pipeline, is_active=False)
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=retired, at=hours(2))

    assert exc.value.field == "reason"
    assert deal_state(deal.pk) == before


def test_reason_limited_to_other_stages_is_refused(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    first, second, _, fourth = stages_of(pipeline)
    early_only = LossReasonFactory(pipeline=pipeline)
    early_only.stages.set([first, second, fourth])
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=early_only, at=hours(2))

    assert exc.value.field == "reason"
    assert deal_state(deal.pk) == before


def test_reason_limited_to_the_current_stage_is_accepted(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    third = stages_of(pipeline)[2]
    here = LossReasonFactory(pipeline=pipeline)
    here.stages.set([third])

    deal_lose(deal_id=deal.pk, version=2, by=cast.manager, reason=here, at=hours(2))

    assert Deal.objects.get(pk=deal.pk).lost_reason == here


@pytest.mark.parametrize("criteria", ["", "   \n"])
def test_refused_by_us_without_unmet_criteria_is_refused(
    cast: Cast, pipeline: Pipeline, deal: Deal, criteria: str
) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(
            deal_id=deal.pk,
            version=2,
            by=cast.manager,
            reason=LossReasonFactory(pipeline=pipeline),
            refused_by_us=True,
            unmet_criteria=criteria,
            at=hours(2),
        )

    assert exc.value.field == "unmet_criteria"
    assert deal_state(deal.pk) == before


def test_refused_by_us_stores_the_unmet_criteria(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    deal_lose(
        deal_id=deal.pk,
        version=2,
        by=cast.manager,
        reason=LossReasonFactory(pipeline=pipeline),
        refused_by_us=True,
        unmet_criteria="  Budget under 5k; no decision maker  ",
        at=hours(2),
    )

    deal.refresh_from_db()
    assert deal.refused_by_us is True
    assert deal.unmet_criteria == "Budget under 5k; no decision maker"


def test_unmet_criteria_are_dropped_when_the_client_refused(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    deal_lose(
        deal_id=deal.pk,
        version=2,
        by=cast.manager,
        reason=LossReasonFactory(pipeline=pipeline),
        refused_by_us=False,
        unmet_criteria="Budget",
        at=hours(2),
    )

    deal.refresh_from_db()
    assert deal.refused_by_us is False
    assert deal.unmet_criteria == ""


def test_a_closed_deal_cannot_be_lost(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    deal_win(deal_id=deal.pk, version=2, by=cast.manager, at=hours(2))
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(
            deal_id=deal.pk,
            version=3,
            by=cast.manager,
            reason=LossReasonFactory(pipeline=pipeline),
            at=hours(3),
        )

    assert exc.value.field == "deal"
    assert deal_state(deal.pk) == before


def test_stale_version_is_refused_and_writes_nothing(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ConflictError):
        deal_lose(
            deal_id=deal.pk,
            version=1,
            by=cast.manager,
            reason=LossReasonFactory(pipeline=pipeline),
            at=hours(2),
        )

    assert deal_state(deal.pk) == before


def test_a_loss_dated_before_the_deal_entered_its_stage_is_refused(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_lose(
            deal_id=deal.pk,
            version=2,
            by=cast.manager,
            reason=LossReasonFactory(pipeline=pipeline),
            at=hours(0.5),
        )

    assert exc.value.field == "at"
    assert deal_state(deal.pk) == before


def test_the_outsider_cannot_lose_the_managers_deal(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(PermissionDenied):
        deal_lose(
            deal_id=deal.pk,
            version=2,
            by=cast.outsider,
            reason=LossReasonFactory(pipeline=pipeline),
            at=hours(2),
        )

    assert deal_state(deal.pk) == before
