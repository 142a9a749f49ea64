"""Helpers shared by the service tests: a fixed clock and a snapshot of what a deal wrote."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from conveyor.accounts.models import User
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline, Stage, StageChange
from conveyor.pipelines.services import deal_open

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
