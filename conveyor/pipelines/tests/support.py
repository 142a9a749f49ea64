"""Helpers shared by the service tests: a fixed clock and a snapshot of what a deal wrote."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from conveyor.accounts.models import User
from conveyor.core.db import micros_between
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Stage, StageChange
from conveyor.pipelines.services import deal_open
from conveyor.touches.models import Touch

# Every test runs in the past, so touches are never "in the future" and times are exact.
T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


def hours(n: float) -> dt.datetime:
    """T0 plus `n` hours."""
    return T0 + dt.timedelta(hours=n)


def stages_of(pipeline: Pipeline) -> list[Stage]:
    """The pipeline's open stages in position order (index 0 = position 1)."""
    return list(pipeline.stages.filter(is_archived=False).order_by("position"))


def open_deal(
    person: Person,
    pipeline: Pipeline,
    *,
    owner: User | None,
    by: User | None = None,
    stage: Stage | None = None,
    amount: Decimal = Decimal("1000.00"),
    at: dt.datetime = T0,
) -> Deal:
    """Open a deal through the service (the system acts unless `by` is given)."""
    return deal_open(
        person=person, pipeline=pipeline, owner=owner, by=by, stage=stage, amount=amount, at=at
    )


def deal_state(deal_id: int) -> dict[str, Any]:
    """Everything a deal service may write about one deal: its row and its stage history."""
    return {
        "deal": Deal.objects.filter(pk=deal_id).values().get(),
        "changes": list(StageChange.objects.filter(deal_id=deal_id).order_by("pk").values()),
    }


def world_counts() -> dict[str, int]:
    """Row counts of every table a deal service writes to."""
    return {"deals": Deal.objects.count(), "changes": StageChange.objects.count()}


def assert_history_keys(deal: Deal) -> None:
    """Every stage change of `deal` carries the deal's pipeline and opening time, and a finished
    stay its exact length in microseconds (what the time-in-stage reports read); every touch
    on it where it falls in that history, and the deal, if won, its touches to the win
    (`touches.placement`), all worked out again here from the raw rows."""
    deal.refresh_from_db()
    for change in StageChange.objects.filter(deal=deal):
        assert (change.deal_pipeline_id, change.deal_opened_at) == (
            deal.pipeline_id,
            deal.opened_at,
        ), change
        finished = change.to_stage_id is not None and change.left_at is not None
        expected = micros_between(change.at, change.left_at) if finished else None
        assert change.stay_us == expected, change
    # Each touch: the stage of the deal's last change at or before it (in history order), the
    # deal's cohort keys; a won deal: its touches at or before the win.
    history = list(StageChange.objects.filter(deal=deal).order_by("at", "pk"))
    touches = list(Touch.objects.filter(deal=deal))
    for touch in touches:
        before = [change for change in history if change.at <= touch.at]
        stage = before[-1].to_stage_id if before else None
        assert (touch.stage_id, touch.deal_pipeline_id, touch.deal_opened_at) == (
            stage,
            deal.pipeline_id,
            deal.opened_at,
        ), touch
    closed_at = deal.closed_at
    won = deal.status == DealStatus.WON and closed_at is not None
    expected_count = sum(1 for t in touches if t.at <= closed_at) if won else None
    assert deal.touches_to_win == expected_count, deal


def assert_purchase_facts() -> None:
    """Every person's purchase facts (`people.PURCHASE_FACTS`) equal a recount from the raw
    rows: their won deals by win time (then id) and who referred whom."""
    won: dict[int, list[tuple[dt.datetime, int]]] = {}
    for person_id, closed_at, pk in Deal.objects.filter(status=DealStatus.WON).values_list(
        "person_id", "closed_at", "pk"
    ):
        won.setdefault(person_id, []).append((closed_at, pk))
    first = {person: min(deals)[0] for person, deals in won.items()}
    second = {person: sorted(deals)[1][0] for person, deals in won.items() if len(deals) > 1}
    referred: dict[int, list[dt.datetime]] = {}
    for pk, referrer in Person.objects.exclude(referred_by=None).values_list("pk", "referred_by"):
        if pk in first:
            referred.setdefault(referrer, []).append(first[pk])
    for pk, *facts in Person.objects.values_list(
        "pk", "first_won_at", "repeat_won_at", "referral_won_at"
    ):
        expected = [first.get(pk), second.get(pk), min(referred[pk]) if pk in referred else None]
        assert facts == expected, (pk, facts, expected)
