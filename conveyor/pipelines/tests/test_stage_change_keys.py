"""The cohort keys and stay lengths kept on the stage history (read by the time-in-stage
reports) follow every service that writes history, including a transfer to another pipeline,
and the CRM import's bulk writer."""

from __future__ import annotations

import datetime as dt

import pytest

from conveyor.pipelines.models import Deal, StageChange
from conveyor.pipelines.services import (
    deal_lose,
    deal_move,
    deal_reopen,
    deal_transfer,
    deal_win,
)
from conveyor.pipelines.tests.support import (
    assert_history_keys,
    hours,
    open_deal,
    stages_of,
)
from conveyor.testing.factories import LossReasonFactory, PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


def test_moves_wins_losses_and_reopens_keep_the_keys() -> None:
    pipeline = pipeline_with_stages(["A", "B", "C"])
    a, b, c = stages_of(pipeline)
    deal = open_deal(PersonFactory(), pipeline, owner=None, at=hours(0))
    deal = deal_move(deal_id=deal.pk, stage=c, version=deal.version, by=None, at=hours(1.5))
    deal = deal_move(deal_id=deal.pk, stage=b, version=deal.version, by=None, at=hours(2))
    deal = deal_lose(
        deal_id=deal.pk, version=deal.version, by=None, reason=LossReasonFactory(), at=hours(5)
    )
    deal = deal_reopen(deal_id=deal.pk, version=deal.version, by=None, stage=a, at=hours(6))
    # A stay of a fraction of a second is kept to the microsecond.
    later = hours(6) + dt.timedelta(seconds=3, microseconds=250_001)
    deal_win(deal_id=deal.pk, version=deal.version, by=None, at=later)
    assert_history_keys(deal)
    stays = list(
        StageChange.objects.filter(deal=deal, stay_us__isnull=False)
        .order_by("at")
        .values_list("stay_us", flat=True)
    )
    hour = 3_600_000_000
    assert stays == [hour * 3 // 2, hour // 2, hour * 3, 3_250_001]


def test_a_transfer_moves_the_whole_history_to_the_new_pipelines_cohort() -> None:
    first, second = pipeline_with_stages(["A", "B"]), pipeline_with_stages(["X", "Y"])
    deal = open_deal(PersonFactory(), first, owner=None, at=hours(0))
    deal = deal_move(
        deal_id=deal.pk, stage=stages_of(first)[1], version=deal.version, by=None, at=hours(1)
    )
    deal = deal_transfer(
        deal_id=deal.pk, pipeline=second, version=deal.version, by=None, at=hours(3)
    )
    assert_history_keys(deal)
    assert set(
        StageChange.objects.filter(deal=deal).values_list("deal_pipeline_id", flat=True)
    ) == {second.pk}
    assert Deal.objects.get(pk=deal.pk).pipeline_id == second.pk
