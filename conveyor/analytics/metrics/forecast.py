"""`forecast`: the open pipeline by expected close month, weighted two ways.

Every open deal's value is weighted by its stage's *set* probability (what the head of sales
typed into the stage) and by the stage's *measured* odds of ending in a win over the last
`months` months (what the conveyor actually did); the gap between the two shows where the set
probabilities are too hopeful or too gloomy.

Definitions (all narrowed by the report filter, `ReportFilter.deal_q()`, which includes what the
viewer may see — so a manager's measured odds are their own):

- **As of** = the moment the report runs (`now`). The forecast is a snapshot of the deals open
  now; the filter's date window is not used (the history is the `months` option).
- **History** = deals closed (won or lost) in `[now - months calendar months, now)`.
- **Measured odds of a stage** (position k of pipeline p) = of the history deals of p that
  reached k (highest position held ≥ k, or won: a won deal reached every stage), the share won.
  A stage with no such deal has no measured odds; its deals are then weighted by the set
  probability in the measured column too (no evidence against it), so it adds nothing to the gap.
- **Expected close** of an open deal = `opened_at` + the median time from opening to win of the
  pipeline's history wins (the median of the durations, linear interpolation). A deal whose
  expected close has passed, or whose pipeline has no win in the history, falls into the current
  month: it is still open, so it can close no earlier than now. Months are calendar months in
  the account time zone. (Chosen over "now + the stage's remaining median" because it needs no
  replay of the stage history and stays defined for stages no won deal went through.)

Weights use the exact fractions; money is rounded to 2 places at the end, and each row's gap is
the difference of its two rounded weighted values, so a row adds up as shown.

Four queries whatever the data size (three when no pipeline is in play): the history grouped by
(pipeline, status, highest position), the median time to win per pipeline (percentile_cont on
PostgreSQL; elsewhere one streamed column of the history's wins, median in Python), the open
deals grouped by (expected close month computed in SQL, pipeline, stage), and the stages to list:
the live stages of every pipeline with history or open deals (or the filtered pipeline), and any
archived stage still holding an open deal.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import MEDIAN, ElapsedMs, PercentilesCont, cents, on_postgresql
from conveyor.analytics.reports import Option, Report, Table
from conveyor.core.timewindow import account_tz, add_months
from conveyor.pipelines.models import Deal, DealStatus, Stage

MS_PER_DAY = 86_400_000
Month = tuple[int, int]  # (year, month)


# --- Small helpers ---------------------------------------------------------------------------


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """`moment` shifted back `months` calendar months on the account's wall clock (the day is
    clamped to the target month's length: 31 March - 1 month = 28/29 February)."""
    local = moment.astimezone(account_tz())
    day = add_months(local.date(), -months)
    return dt.datetime.combine(day, local.time(), tzinfo=account_tz())


def _next_month(month: Month) -> Month:
    year, number = month
    return (year + 1, 1) if number == 12 else (year, number + 1)


def _share(value: Fraction | Decimal | None) -> float | None:
    """A probability rounded to 4 places (DESIGN §5)."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return float(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


@dataclass
class _Sums:
    """Open deals and their exact value, weighted two ways."""

    deals: int = 0
    value: Decimal = Decimal(0)
    weighted_set: Fraction = Fraction(0)
    weighted_measured: Fraction = Fraction(0)

    def add(self, deals: int, value: Decimal, set_p: Fraction, measured_p: Fraction) -> None:
        self.deals += deals
        self.value += value
        self.weighted_set += Fraction(value) * set_p
        self.weighted_measured += Fraction(value) * measured_p

    def as_row(self) -> dict[str, Any]:
        weighted_set = cents(self.weighted_set)
        weighted_measured = cents(self.weighted_measured)
        return {
            "open_deals": self.deals,
            "open_value": float(cents(self.value)),
            "weighted_set": float(weighted_set),
            "weighted_measured": float(weighted_measured),
            "gap": float(weighted_measured - weighted_set),
        }


@dataclass
class _History:
    """One pipeline's closed deals of the history: wins, and the others by highest position."""

    won: int = 0
    unwon_by_max_position: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def reached(self, position: int) -> int:
        return self.won + sum(n for p, n in self.unwon_by_max_position.items() if p >= position)


# --- Queries ---------------------------------------------------------------------------------


def _history(f: ReportFilter, start: dt.datetime, end: dt.datetime) -> dict[int, _History]:
    """Query 1: the history's closed deals by (pipeline, status, highest position)."""
    groups = (
        Deal.objects.filter(
            f.deal_q(),
            status__in=[DealStatus.WON, DealStatus.LOST],
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .order_by()
        .values("pipeline_id", "status", "max_position")
        .annotate(deals=Count("pk"))
    )
    history: dict[int, _History] = defaultdict(_History)
    for group in groups:
        tally = history[group["pipeline_id"]]
        if group["status"] == DealStatus.WON:
            tally.won += group["deals"]
        else:
            tally.unwon_by_max_position[group["max_position"]] += group["deals"]
    return history


def _median_ms_to_win(f: ReportFilter, start: dt.datetime, end: dt.datetime) -> dict[int, float]:
    """Query 2: per pipeline, the median milliseconds from opening to win of the history's wins."""
    wins = Deal.objects.filter(
        f.deal_q(), status=DealStatus.WON, closed_at__gte=start, closed_at__lt=end
    ).order_by()
    if on_postgresql(wins):
        rows = (
            wins.values("pipeline_id")
            .annotate(ms=PercentilesCont(ElapsedMs("closed_at", "opened_at"), [MEDIAN]))
            .values_list("pipeline_id", "ms")
        )
        return {pipeline_id: ms[0] for pipeline_id, ms in rows}
    durations: dict[int, list[float]] = defaultdict(list)
    for pipeline_id, ms in wins.annotate(ms=ElapsedMs("closed_at", "opened_at")).values_list(
        "pipeline_id", "ms"
    ):
        durations[pipeline_id].append(ms)
    return {pipeline_id: statistics.median(values) for pipeline_id, values in durations.items()}


def _open_groups(f: ReportFilter, median_ms: dict[int, float]) -> list[dict[str, Any]]:
    """Query 3: open deals by (expected close month, pipeline, stage); month None = no history."""
    deals = Deal.objects.filter(f.deal_q(), status=DealStatus.OPEN).order_by()
    if median_ms:
        expected = Case(
            *[
                When(
                    pipeline_id=pipeline_id,
                    then=ExpressionWrapper(
                        F("opened_at") + Value(dt.timedelta(milliseconds=ms), DurationField()),
                        output_field=DateTimeField(),
                    ),
                )
                for pipeline_id, ms in sorted(median_ms.items())
            ],
            default=None,
            output_field=DateTimeField(),
        )
        deals = deals.annotate(close_month=TruncMonth(expected, tzinfo=account_tz()))
    else:
        deals = deals.annotate(close_month=Value(None, DateTimeField()))
    return list(
        deals.values("close_month", "pipeline_id", "stage_id").annotate(
            deals=Count("pk"), value=Sum("amount")
        )
    )


def _stages(pipeline_ids: set[int], stage_ids: set[int]) -> list[dict[str, Any]]:
    """Query 4: the live stages of the pipelines in play, and any stage holding an open deal."""
    stages = (
        Stage.objects.filter(
            Q(pipeline_id__in=pipeline_ids, is_archived=False) | Q(pk__in=stage_ids)
        )
        .order_by("pipeline__name", "position", "id")
        .values("id", "pipeline_id", "pipeline__name", "position", "name", "probability")
    )
    return [dict(stage) for stage in stages]


# --- The report ------------------------------------------------------------------------------


def forecast(f: ReportFilter, *, months: int, now: dt.datetime) -> dict[str, Any]:
    """The forecast as of `now` with `months` of history (see the module's docstring)."""
    history_from = months_before(now, months)
    history = _history(f, history_from, now)
    median_ms = _median_ms_to_win(f, history_from, now)
    groups = _open_groups(f, median_ms)

    pipeline_ids = set(history) | {g["pipeline_id"] for g in groups}
    if f.pipeline is not None:
        pipeline_ids.add(f.pipeline.pk)
    stages = _stages(pipeline_ids, {g["stage_id"] for g in groups})

    set_odds: dict[int, Fraction] = {}
    measured_odds: dict[int, Fraction | None] = {}
    by_stage: dict[int, _Sums] = {}
    for stage in stages:
        tally = history.get(stage["pipeline_id"], _History())
        reached = tally.reached(stage["position"])
        set_odds[stage["id"]] = Fraction(stage["probability"])
        measured_odds[stage["id"]] = Fraction(tally.won, reached) if reached else None
        by_stage[stage["id"]] = _Sums()

    local_now = now.astimezone(account_tz())
    current: Month = (local_now.year, local_now.month)
    by_month: dict[Month, _Sums] = defaultdict(_Sums)
    totals = _Sums()
    for group in groups:
        stage_id = group["stage_id"]
        set_p = set_odds[stage_id]
        measured = measured_odds[stage_id]
        measured_p = set_p if measured is None else measured
        close: dt.datetime | None = group["close_month"]
        month = current
        if close is not None:
            close = close.astimezone(account_tz())
            month = max(current, (close.year, close.month))
        value: Decimal = group["value"] or Decimal(0)
        for sums in (by_stage[stage_id], by_month[month], totals):
            sums.add(group["deals"], value, set_p, measured_p)

    month_rows = []
    if by_month:
        month, last = current, max(by_month)
        while month <= last:
            month_rows.append(
                {"month": f"{month[0]:04d}-{month[1]:02d}", **by_month[month].as_row()}
            )
            month = _next_month(month)

    stage_rows = []
    for stage in stages:
        tally = history.get(stage["pipeline_id"], _History())
        set_p, measured = set_odds[stage["id"]], measured_odds[stage["id"]]
        stage_rows.append(
            {
                "pipeline": stage["pipeline__name"],
                "position": stage["position"],
                "stage": stage["name"],
                "set_probability": _share(set_p),
                "measured_probability": _share(measured),
                "probability_gap": None if measured is None else _share(measured - set_p),
                "history_reached": tally.reached(stage["position"]),
                "history_won": tally.won,
                **by_stage[stage["id"]].as_row(),
            }
        )

    names = {stage["pipeline_id"]: stage["pipeline__name"] for stage in stages}
    return {
        "filter": f.describe(),
        "as_of": local_now.date().isoformat(),
        "months": months,
        "history_from": history_from.date().isoformat(),
        "currency": str(settings.CONVEYOR_CURRENCY),
        "days_to_win": {
            names[pipeline_id]: round(ms / MS_PER_DAY, 2)
            for pipeline_id, ms in sorted(median_ms.items(), key=lambda item: names[item[0]])
        },
        "totals": totals.as_row(),
        "by_month": month_rows,
        "by_stage": stage_rows,
    }


def run(f: ReportFilter, months: int = 6) -> dict[str, Any]:
    return forecast(f, months=months, now=timezone.now())


# --- Layout ----------------------------------------------------------------------------------

_MONEY_COLUMNS = (
    ("open_deals", _("Open deals")),
    ("open_value", _("Open value")),
    ("weighted_set", _("Weighted by set probability")),
    ("weighted_measured", _("Weighted by measured odds")),
    ("gap", _("Gap (measured - set)")),
)


def tables(data: dict[str, Any]) -> list[Table]:
    return [
        Table(
            title=_("Open pipeline by expected close month"),
            columns=(("month", _("Month")), *_MONEY_COLUMNS),
            rows=data["by_month"],
            bar="weighted_measured",
            note=_(
                "Expected close = opened + the pipeline's median time to win over the history; "
                "overdue deals and pipelines with no wins fall into the current month."
            ),
        ),
        Table(
            title=_("Open pipeline by stage"),
            columns=(
                ("pipeline", _("Pipeline")),
                ("position", _("#")),
                ("stage", _("Stage")),
                ("set_probability", _("Set probability")),
                ("measured_probability", _("Measured odds")),
                ("probability_gap", _("Odds gap")),
                ("history_reached", _("Closed deals that reached it")),
                ("history_won", _("Of them won")),
                *_MONEY_COLUMNS,
            ),
            rows=data["by_stage"],
            bar="weighted_measured",
            percent=("set_probability", "measured_probability", "probability_gap"),
            note=_(
                "Measured odds = of the deals closed in the history that reached the stage, the "
                "share won. Stages with none are weighted by their set probability."
            ),
        ),
    ]


REPORT = Report(
    name="forecast",
    title=_("Forecast"),
    run=run,
    tables=tables,
    help=(
        "Open pipeline value by expected close month, weighted by each stage's set probability "
        "and by its measured odds of a win over the last N months, with the gap."
    ),
    options={"months": Option(default=6, help=_("Months of history for the measured odds"))},
)
