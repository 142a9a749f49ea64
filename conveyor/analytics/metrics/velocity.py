"""`velocity`: how long deals stay in each stage (median, p90) and how many days a win takes.

Time in stage (DESIGN §4): every interval a deal of the cohort (deals OPENED in the window) spent
in a stage ends at its next stage change or at its win or loss (the stage change's `left_at`);
intervals still running are left out, and a deal that comes back to a stage adds a second
interval there. Median and 90th percentile with linear interpolation, in hours. Rows cover every
pipeline with cohort deals (or the chosen pipeline): its current stages, plus archived stages a
cohort deal went through. A stage is keyed by pipeline + position, since names repeat across
pipelines.

Days to win: the deals WON in the window (by `closed_at`), days from `opened_at` to `closed_at`:
median, 90th percentile (linear interpolation), mean and count, also split first purchase
(purchase number 1) vs repeat (2 and more).

A fixed number of queries whatever the data size: the finished intervals by stage, the stages to
list, and the won deals. The stay percentiles are read rank by rank from an index on both
databases (`queries.stay_quantiles`); the days to win are `percentile_cont` aggregates on
PostgreSQL and streamed and interpolated in Python on SQLite, which has none.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, Exists, IntegerField, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import (
    MEDIAN,
    MS_PER_HOUR,
    P90,
    ElapsedMs,
    PercentilesCont,
    finished_stays,
    interpolate,
    on_postgresql,
    stay_quantiles,
    stream_rows,
)
from conveyor.analytics.reports import Report, Table
from conveyor.pipelines.models import Deal, DealStatus, Stage

COHORT = "opened_in_window"
WINS = "won_in_window"
MS_PER_DAY = 24 * MS_PER_HOUR
FRACTIONS = (MEDIAN, P90)


@dataclass
class _Spread:
    """Count, median, p90 and mean of some durations, in milliseconds."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None


def _in(milliseconds: float | None, unit: int) -> float | None:
    return None if milliseconds is None else round(milliseconds / unit, 2)


def _spread_of(values: Sequence[float]) -> _Spread:
    """The spread of a list of durations computed here (SQLite)."""
    if not values:
        return _Spread()
    ordered = sorted(values)
    return _Spread(
        count=len(ordered),
        median=interpolate(ordered, MEDIAN),
        p90=interpolate(ordered, P90),
        mean=sum(ordered) / len(ordered),
    )


# --- Time in stage ---------------------------------------------------------------------------


def _stage_spreads(f: ReportFilter) -> dict[int, _Spread]:
    """Finished intervals of the cohort's deals, by stage id (all pipelines, or the chosen
    one through the pipeline kept on each stage change)."""
    stays = finished_stays(f.window, pipeline=f.pipeline, scope=f.stay_q())
    return {
        stage_id: _Spread(count=n, median=median / 1000, p90=p90 / 1000)
        for stage_id, (n, (median, p90)) in stay_quantiles(stays, FRACTIONS).items()
    }


def _stage_rows(f: ReportFilter, spreads: dict[int, _Spread]) -> list[dict[str, Any]]:
    """One row per stage of the pipelines in play (one query)."""
    window = f.window
    # One probe of the (pipeline, opened_at) index per stage, rather than reading every
    # cohort deal to list the pipelines they are in.
    cohort = Deal.objects.filter(
        f.deal_q(),
        pipeline=OuterRef("pipeline"),
        opened_at__gte=window.start,
        opened_at__lt=window.end,
    )
    listed = Q(Exists(cohort))
    if f.pipeline is not None:
        listed |= Q(pipeline=f.pipeline)
    stages = (
        Stage.objects.filter((listed & Q(is_archived=False)) | Q(pk__in=list(spreads)))
        .order_by("pipeline__name", "position", "id")
        .values_list("id", "pipeline__name", "position", "name")
    )
    rows = []
    for stage_id, pipeline, position, name in stages:
        spread = spreads.get(stage_id, _Spread())
        rows.append(
            {
                "pipeline": pipeline,
                "position": position,
                "stage": name,
                "intervals": spread.count,
                "hours_median": _in(spread.median, MS_PER_HOUR),
                "hours_p90": _in(spread.p90, MS_PER_HOUR),
            }
        )
    return rows


# --- Days to win -----------------------------------------------------------------------------

_FIRST = Q(purchase_number=1)
_REPEAT = Q(purchase_number__gte=2)


def _win_spreads(f: ReportFilter) -> dict[str, _Spread]:
    """Days from opening to winning of the deals won in the window: all, first, repeat."""
    window = f.window
    wins = Deal.objects.filter(
        f.deal_q(),
        status=DealStatus.WON,
        closed_at__gte=window.start,
        closed_at__lt=window.end,
    ).order_by()
    elapsed = ElapsedMs("closed_at", "opened_at")
    parts = {"all": Q(), "first": _FIRST, "repeat": _REPEAT}
    if on_postgresql(wins):
        aggregates: dict[str, Any] = {}
        for name, part in parts.items():
            condition = part if part else None
            aggregates[f"{name}_count"] = Count("pk", filter=condition, output_field=IntegerField())
            aggregates[f"{name}_mean"] = Avg(elapsed, filter=condition)
            aggregates[f"{name}_spread"] = PercentilesCont(elapsed, FRACTIONS, filter=condition)
        totals = wins.aggregate(**aggregates)
        return {
            name: _Spread(
                count=totals[f"{name}_count"],
                median=(totals[f"{name}_spread"] or (None, None))[0],
                p90=(totals[f"{name}_spread"] or (None, None))[1],
                mean=totals[f"{name}_mean"],
            )
            for name in parts
        }
    first: array[float] = array("d")
    repeat: array[float] = array("d")
    pairs = wins.annotate(elapsed=elapsed).values_list("purchase_number", "elapsed")
    for purchase_number, milliseconds in stream_rows(pairs):
        (first if purchase_number == 1 else repeat).append(milliseconds)
    return {
        "all": _spread_of(first + repeat),
        "first": _spread_of(first),
        "repeat": _spread_of(repeat),
    }


def _days(spread: _Spread) -> dict[str, Any]:
    return {
        "deals": spread.count,
        "median": _in(spread.median, MS_PER_DAY),
        "p90": _in(spread.p90, MS_PER_DAY),
        "mean": _in(spread.mean, MS_PER_DAY),
    }


def run(f: ReportFilter) -> dict[str, Any]:
    stages = _stage_rows(f, _stage_spreads(f))
    wins = _win_spreads(f)
    return {
        "cohort": COHORT,
        "wins": WINS,
        "filter": f.describe(),
        "stages": stages,
        "days_to_win": {
            **_days(wins["all"]),
            "first": _days(wins["first"]),
            "repeat": _days(wins["repeat"]),
        },
    }


def tables(data: dict[str, Any]) -> list[Table]:
    days = data["days_to_win"]
    return [
        Table(
            title=_("Time in stage"),
            columns=(
                ("pipeline", _("Pipeline")),
                ("position", _("#")),
                ("stage", _("Stage")),
                ("intervals", _("Finished stays")),
                ("hours_median", _("Hours, median")),
                ("hours_p90", _("Hours, p90")),
            ),
            rows=data["stages"],
            bar="hours_median",
            note=_(
                "Deals opened in the window; each finished stay in a stage counts, a stay still "
                "running does not."
            ),
        ),
        Table(
            title=_("Days to win"),
            columns=(
                ("purchases", _("Purchases")),
                ("deals", _("Deals won")),
                ("median", _("Days, median")),
                ("p90", _("Days, p90")),
                ("mean", _("Days, mean")),
            ),
            rows=[
                {"purchases": _("All"), **{k: days[k] for k in ("deals", "median", "p90", "mean")}},
                {"purchases": _("First purchase"), **days["first"]},
                {"purchases": _("Repeat purchase"), **days["repeat"]},
            ],
            note=_("Deals won in the window, from opening to the win."),
        ),
    ]


REPORT = Report(
    name="velocity",
    title=_("Velocity"),
    run=run,
    tables=tables,
    help="Hours in each stage (median, p90) and days to win (first vs repeat purchase).",
)
