"""A hand-built deal history for the report tests, written straight to the ORM.

Each deal is a path of stage changes at explicit times; the derived fields are set as the
services set them (current stage, highest position, status, closed time, loss stage and reason,
purchase number for a win, and `left_at` of each stage change = the next change's time, with the
deal's cohort keys and the stay's length).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from conveyor.core.db import micros_between
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Stage,
    StageChange,
)
from conveyor.testing.factories import LossReasonFactory, PersonFactory, StageFactory

UTC = dt.UTC


def at(day: str, hours: float = 0) -> dt.datetime:
    """`day` 09:00 UTC plus `hours`."""
    start = dt.datetime.fromisoformat(f"{day}T09:00:00+00:00")
    return start + dt.timedelta(hours=hours)


@dataclass
class Step:
    kind: str
    stage: Stage | None  # None for the outcomes won / lost
    hours: float  # since the deal was opened


def build_deal(
    pipeline: Pipeline,
    opened_at: dt.datetime,
    steps: list[Step],
    *,
    lost_reason: LossReason | None = None,
    refused_by_us: bool = False,
    title: str = "",
) -> Deal:
    """Create the deal and its stage changes as the services would have written them."""
    assert steps[0].kind == ChangeKind.ENTER and steps[0].hours == 0
    times = [opened_at + dt.timedelta(hours=step.hours) for step in steps]
    in_stage = [index for index, step in enumerate(steps) if step.stage is not None]
    last_stage = steps[in_stage[-1]].stage
    assert last_stage is not None
    outcome = steps[-1].kind if steps[-1].kind in (ChangeKind.WON, ChangeKind.LOST) else None
    status = {
        ChangeKind.WON: DealStatus.WON,
        ChangeKind.LOST: DealStatus.LOST,
        None: DealStatus.OPEN,
    }[outcome]
    deal = Deal.objects.create(
        person=PersonFactory(),
        pipeline=pipeline,
        title=title,
        stage=last_stage,
        status=status,
        opened_at=opened_at,
        closed_at=times[-1] if outcome else None,
        stage_entered_at=times[in_stage[-1]],
        max_position=max(stage.position for step in steps if (stage := step.stage)),
        lost_stage=last_stage if status == DealStatus.LOST else None,
        lost_reason=lost_reason if status == DealStatus.LOST else None,
        refused_by_us=refused_by_us,
        purchase_number=1 if status == DealStatus.WON else None,
        touches_to_win=0 if status == DealStatus.WON else None,  # touches come later
    )
    previous: Stage | None = None
    for index, step in enumerate(steps):
        left_at = times[index + 1] if step.stage and index + 1 < len(steps) else None
        StageChange.objects.create(
            deal=deal,
            kind=step.kind,
            from_stage=previous,
            to_stage=step.stage,
            at=times[index],
            left_at=left_at,
            deal_pipeline=pipeline,
            deal_opened_at=opened_at,
            stay_us=None if left_at is None else micros_between(times[index], left_at),
        )
        previous = step.stage
    return deal


@dataclass
class History:
    pipeline: Pipeline
    s1: Stage
    s2: Stage
    s3: Stage
    s4: Stage
    s5_archived: Stage
    s6_archived: Stage
    no_answer: LossReason
    no_budget: LossReason
    not_our_client: LossReason
    deals: dict[str, Deal]


def enter(stage: Stage) -> Step:
    return Step(ChangeKind.ENTER, stage, 0)


def move(stage: Stage, hours: float) -> Step:
    return Step(ChangeKind.MOVE, stage, hours)


def won(hours: float) -> Step:
    return Step(ChangeKind.WON, None, hours)


def lost(hours: float) -> Step:
    return Step(ChangeKind.LOST, None, hours)


def build_history(pipeline: Pipeline, other_pipeline: Pipeline) -> History:
    """Nine deals opened in [2026-01-01, 2026-04-01) plus three that must not count.

    Hours in each stage are given in the comments; `(running)` marks an interval not finished.
    """
    s1, s2, s3, s4 = pipeline.stages.order_by("position")
    s5 = StageFactory(pipeline=pipeline, position=5, name="Paid a deposit", is_archived=True)
    s6 = StageFactory(pipeline=pipeline, position=6, name="Sent a fax", is_archived=True)
    no_answer = LossReasonFactory(name="No answer")
    no_budget = LossReasonFactory(name="No budget", pipeline=pipeline)
    not_our_client = LossReasonFactory(name="Not our client")

    deals = {
        # Won: S1 2.5h, S2 10h, S3 24h, S4 4h.
        "d1": build_deal(
            pipeline,
            at("2026-01-05"),
            [enter(s1), move(s2, 2.5), move(s3, 12.5), move(s4, 36.5), won(40.5)],
        ),
        # Back move S3 -> S2, open at S2: S1 4h, S2 6h, S3 6h, S2 (running). Reached 3.
        "d2": build_deal(
            pipeline,
            at("2026-01-06"),
            [enter(s1), move(s2, 4), move(s3, 10), move(s2, 16)],
        ),
        # Skips S2 (S1 -> S3), lost at S3 "No budget": S1 8h, S3 12h. Reached 3.
        "d3": build_deal(
            pipeline,
            at("2026-01-07"),
            [enter(s1), move(s3, 8), lost(20)],
            lost_reason=no_budget,
        ),
        # Opened at S2, lost there "No answer": S2 3h. Reached 2.
        "d4": build_deal(pipeline, at("2026-01-08"), [enter(s2), lost(3)], lost_reason=no_answer),
        # Refused by us at S1 "Not our client": S1 1h.
        "d5": build_deal(
            pipeline,
            at("2026-01-09"),
            [enter(s1), lost(1)],
            lost_reason=not_our_client,
            refused_by_us=True,
        ),
        # Open at S1: S1 (running).
        "d6": build_deal(pipeline, at("2026-02-10"), [enter(s1)]),
        # Lost at S1 "No answer": S1 5h.
        "d7": build_deal(pipeline, at("2026-02-11"), [enter(s1), lost(5)], lost_reason=no_answer),
        # Through the archived S5, lost there: S1 1h, S2 1h, S3 2h, S4 6h, S5 20h. Reached 5.
        "d8": build_deal(
            pipeline,
            at("2026-03-12"),
            [enter(s1), move(s2, 1), move(s3, 2), move(s4, 4), move(s5, 10), lost(30)],
            lost_reason=no_budget,
        ),
        # S1 -> S2 -> back to S1 -> S2 -> S3, open at S3: S1 2h and 1.5h, S2 3h and 2.5h.
        "d9": build_deal(
            pipeline,
            at("2026-03-31", hours=14.5),  # 23:30 UTC on the window's last day
            [enter(s1), move(s2, 2), move(s1, 5), move(s2, 6.5), move(s3, 9)],
        ),
        # --- Not in the cohort.
        # Opened 30 minutes before the window (UTC): S1 100h, would move every S1 figure.
        "before": build_deal(
            pipeline,
            at("2025-12-31", hours=14.5),  # 23:30 UTC
            [enter(s1), lost(100)],
            lost_reason=no_answer,
        ),
        # Opened exactly at the window's end (half-open window): S1 50h.
        "at_end": build_deal(
            pipeline,
            dt.datetime(2026, 4, 1, tzinfo=UTC),
            [enter(s1), move(s2, 50)],
        ),
        # Another pipeline, inside the window.
        "other": build_deal(
            other_pipeline,
            at("2026-01-05"),
            [enter(other_pipeline.stages.get(position=1)), won(7)],
        ),
    }
    return History(
        pipeline=pipeline,
        s1=s1,
        s2=s2,
        s3=s3,
        s4=s4,
        s5_archived=s5,
        s6_archived=s6,
        no_answer=no_answer,
        no_budget=no_budget,
        not_our_client=not_our_client,
        deals=deals,
    )
