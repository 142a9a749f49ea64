"""Where a touch falls in its deal's history, and how many touches a won deal took.

Both are kept on the rows, in the transaction of the write that changes them, so the reports
read them instead of matching millions of touches to the stage history:

- `Touch.stage`: the stage the deal was in at the touch's time, i.e. that of the deal's last
  stage change at or before it (a won or lost change has none, so a touch after the close or
  before the opening has none); two changes at the same moment: the later one. With the deal's
  cohort keys (`deal_pipeline`, `deal_opened_at`) beside it.
- `Deal.touches_to_win`: while the deal is won, its touches at or before the win time.

Who keeps them: `touch_log` (a new touch), the deal services (a change appended at `at` re-homes
the deal's touches from `at` on; a win counts, a reopen clears; a transfer moves the cohort key),
a touch's deletion in the admin (recount) and the importers (set-based, in SQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from conveyor.pipelines.models import Deal, DealStatus, Stage, StageChange
from conveyor.touches.models import Touch


def stage_at(deal_id: int, at: dt.datetime) -> int | None:
    """The id of the stage the deal was in at `at` (None before it opened or after it closed)."""
    return (
        StageChange.objects.filter(deal_id=deal_id, at__lte=at)
        .order_by("-at", "-pk")
        .values_list("to_stage_id", flat=True)
        .first()
    )


def touch_keys(deal: Deal | None, at: dt.datetime) -> dict[str, Any]:
    """The placement fields of a new touch on `deal` at `at`."""
    if deal is None:
        return {"stage_id": None, "deal_pipeline_id": None, "deal_opened_at": None}
    return {
        "stage_id": stage_at(deal.pk, at),
        "deal_pipeline_id": deal.pipeline_id,
        "deal_opened_at": deal.opened_at,
    }


def touch_counted(deal: Deal | None, at: dt.datetime) -> None:
    """A touch at `at` was added to `deal` (read under its row lock): a won deal counts it when
    it falls at or before the win."""
    if deal is None or deal.status != DealStatus.WON or deal.closed_at is None:
        return
    if at <= deal.closed_at:
        Deal.objects.filter(pk=deal.pk).update(touches_to_win=Coalesce("touches_to_win", 0) + 1)


def touches_rehome(deal_id: int, at: dt.datetime, stage: Stage | None) -> None:
    """A change at `at` put the deal in `stage` (None: closed): the touches from `at` on are
    now in it (rarely any: only when the change is dated before touches already logged)."""
    Touch.objects.filter(deal_id=deal_id, at__gte=at).update(stage=stage)


def touches_to_win(deal_id: int, closed_at: dt.datetime) -> int:
    return Touch.objects.filter(deal_id=deal_id, at__lte=closed_at).count()


def touches_recount(deal_ids: Iterable[int]) -> None:
    """Count again the touches to the win of these deals (those won), after touches went."""
    counted = (
        Touch.objects.filter(deal=OuterRef("pk"), at__lte=OuterRef("closed_at"))
        .order_by()
        .values("deal")
        .annotate(n=Count("*"))
        .values("n")
    )
    Deal.objects.filter(pk__in=list(deal_ids), status=DealStatus.WON).update(
        touches_to_win=Coalesce(Subquery(counted), 0)
    )
