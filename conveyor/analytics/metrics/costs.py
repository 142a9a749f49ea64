"""`costs`: cost per lead and per customer by channel, and the funnel design check of the seeds
(DESIGN §1 seed 003, §4 "Cost per lead", §5).

**Cost by channel.** An expense (channel, inclusive period, amount) counts in the window pro rata
by days: amount * (days of the period inside `[from, to)`) / (days of the period). Per channel:
cost per lead = those expenses / people first recorded in the window with that source; cost per
customer = the same expenses / people of that source whose first won deal (purchase number 1)
falls in the window (None when there are none). A channel appears when it has an expense in the
window or leads or customers; people without a source are no channel and are left out. The
filters narrow the people (leads by `person_q`, customers by the first won deal's `deal_q`, as in
the `conveyor` report); expenses belong to the account and are narrowed only by `source` (the
channel), so a manager's or a team's figure is the channel's whole spend over their people.

**Funnel design check** ("move losses to the front, move our expensive steps to the back, move
the buyer's own investment to the front"). The cohort is the deals opened in the window; the
pipelines checked are the filter's pipeline, or, when none is chosen, every active pipeline of
the process "conversion" (of the chosen segment, if any), each checked on its own. Per stage:

- loss share = cohort deals lost at the stage / cohort deals lost;
- touch share = touches logged on a cohort deal while it was in the stage (a touch at time t
  belongs to the stay `[entered, left)` holding t, kept on the touch as `Touch.stage`; touches
  before the deal was opened or after it was closed belong to no stage) / all such touches;
- time share = hours of the cohort's finished stays in the stage / hours of all of them (stays
  still running are left out, DESIGN §4 "Time in stage");
- effort share = the mean of the touch share and the time share (either alone when the other has
  nothing to divide by).

Listed are the open stages and the archived ones holding any of these numbers. Warnings, in
plain words:

1. *Expensive steps before the big losses*: take the stage with the biggest loss share (the
   first of equals); every stage before it whose effort share is above the average
   (1 / number of stages listed) gets a warning.
2. *The buyer's own investment comes late*: the key-meeting stage (the first open stage marked
   `is_key_meeting`, the client's own step) stands in the back half of the open stages, i.e. its
   place k among n open stages is > ceil(n / 2). This is about the pipeline's design, so it is
   given even for an empty window; a pipeline without a key-meeting stage gets none.

Queries, whatever the data size: expenses overlapping the window, leads by source, new customers
by source, the stages checked, the cohort's losses by stage, touches by stage (from the
touches' own stage and cohort keys) and finished time by stage: seven.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics.conveyor_path import first_buyers, leads, new_customer_deals
from conveyor.analytics.models import Expense
from conveyor.analytics.queries import MS_PER_HOUR, count_rows, finished_stays, money, rate
from conveyor.analytics.reports import Report, Table
from conveyor.pipelines.models import Deal, DealStatus, Process, Stage
from conveyor.touches.models import Touch

# --- Cost per lead and per customer ----------------------------------------------------------


def pro_rata(
    amount: Decimal, start: dt.date, end: dt.date, date_from: dt.date, date_to: dt.date
) -> Fraction:
    """The part of an expense over the inclusive days `start..end` that falls in the half-open
    window `[date_from, date_to)`, exactly (no rounding before the final figure)."""
    first = max(start, date_from)
    last = min(end, date_to - dt.timedelta(days=1))
    inside = (last - first).days + 1
    if inside <= 0:
        return Fraction(0)
    return Fraction(amount) * inside / ((end - start).days + 1)


def _cost(expenses: Fraction, people: int) -> float | None:
    return money(expenses / people) if people else None


def _customers_by_source(f: ReportFilter) -> dict[str, int]:
    """The window's new customers (first won deal in it) per source, people without one left
    out."""
    if not f.deal_q():
        # Every first purchase counts: each person keeps theirs, and the index answers alone.
        return dict(
            first_buyers(f)
            .exclude(source="")
            .values("source")
            .annotate(n=Count("first_won_at"))
            .values_list("source", "n")
        )
    # One first purchase per person (purchase numbers are 1..n per person): no DISTINCT.
    return dict(
        new_customer_deals(f)
        .exclude(person__source="")
        .values("person__source")
        .annotate(n=Count("*"))
        .values_list("person__source", "n")
    )


def _channels(f: ReportFilter) -> list[dict[str, Any]]:
    """One row per channel: expenses in the window, leads, customers and the two costs."""
    expenses = Expense.objects.filter(
        period_start__lt=f.date_to, period_end__gte=f.date_from
    ).order_by()
    if f.source:
        expenses = expenses.filter(channel=f.source)
    spent: dict[str, Fraction] = defaultdict(Fraction)
    for channel, start, end, amount in expenses.values_list(
        "channel", "period_start", "period_end", "amount"
    ):
        spent[channel] += pro_rata(amount, start, end, f.date_from, f.date_to)
    lead_rows = leads(f).exclude(source="")
    lead_counts = dict(
        lead_rows.values("source")
        .annotate(n=count_rows(lead_rows, "created_at"))
        .values_list("source", "n")
    )
    customer_counts = _customers_by_source(f)
    rows = []
    for channel in sorted(set(spent) | set(lead_counts) | set(customer_counts)):
        total = spent.get(channel, Fraction(0))
        lead_count = lead_counts.get(channel, 0)
        customer_count = customer_counts.get(channel, 0)
        rows.append(
            {
                "channel": channel,
                "expenses": money(total),
                "leads": lead_count,
                "customers": customer_count,
                "cost_per_lead": _cost(total, lead_count),
                "cost_per_customer": _cost(total, customer_count),
            }
        )
    return rows


# --- Funnel design check ---------------------------------------------------------------------


@dataclass
class _StageFigures:
    stage_id: int
    position: int
    name: str
    key_meeting: bool
    archived: bool
    lost: int = 0
    touches: int = 0
    ms: float = 0.0


@dataclass
class _PipelineFigures:
    name: str
    stages: list[_StageFigures] = field(default_factory=list)
    cohort: int = 0


def _pipelines_q(f: ReportFilter, prefix: str = "") -> Q:
    """The pipelines checked, seen through `prefix` (see the module docstring)."""
    if f.pipeline is not None:
        return Q(**{f"{prefix}pipeline": f.pipeline})
    q = Q(
        **{f"{prefix}pipeline__process": Process.CONVERSION, f"{prefix}pipeline__is_active": True}
    )
    if f.segment is not None:
        q &= Q(**{f"{prefix}pipeline__segment": f.segment})
    return q


def _gather(f: ReportFilter) -> list[_PipelineFigures]:
    """The four queries of the check, laid out per pipeline and stage."""
    window = f.window
    pipelines: dict[int, _PipelineFigures] = {}
    by_stage: dict[int, _StageFigures] = {}
    stage_pipeline: dict[int, int] = {}
    for stage_id, pipeline_id, pipeline_name, position, name, key, archived in (
        Stage.objects.filter(_pipelines_q(f))
        .order_by("pipeline__name", "pipeline_id", "position", "id")
        .values_list(
            "id", "pipeline_id", "pipeline__name", "position", "name", "is_key_meeting",
            "is_archived",
        )
    ):  # fmt: skip
        figures = _StageFigures(stage_id, position, name, key, archived)
        pipelines.setdefault(pipeline_id, _PipelineFigures(pipeline_name)).stages.append(figures)
        by_stage[stage_id] = figures
        stage_pipeline[stage_id] = pipeline_id

    cohort = Deal.objects.filter(
        f.deal_q(), _pipelines_q(f), opened_at__gte=window.start, opened_at__lt=window.end
    ).order_by()
    for row in cohort.values("pipeline_id", "status", "lost_stage_id").annotate(n=Count("pk")):
        if row["pipeline_id"] in pipelines:
            pipelines[row["pipeline_id"]].cohort += row["n"]
        if row["status"] == DealStatus.LOST and row["lost_stage_id"] in by_stage:
            by_stage[row["lost_stage_id"]].lost += row["n"]

    # Each touch keeps the stage its deal was in at the time, beside the deal's cohort keys
    # (`touches.placement`): no join to the deals unless another filter needs one. Counted
    # only at stages of the deal's own (current) pipeline, which holds its cohort: a deal
    # transferred from another pipeline must not add its old stays' touches to that one's.
    placed = Touch.objects.filter(
        f.stay_q(),
        deal_pipeline__in=list(pipelines),
        stage__isnull=False,
        deal_opened_at__gte=window.start,
        deal_opened_at__lt=window.end,
    ).order_by()
    for pipeline_id, stage_id, touches in (
        placed.values("deal_pipeline_id", "stage_id")
        .annotate(n=Count("*"))
        .values_list("deal_pipeline_id", "stage_id", "n")
    ):
        if stage_id in by_stage and stage_pipeline[stage_id] == pipeline_id:
            by_stage[stage_id].touches += touches
    # Time spent: the finished stays' lengths kept on the stage changes, with the cohort keys
    # beside them (no join to the deals for the window and pipelines).
    # The stages are known, so each is a seek into the `stagechange_stay` index; the
    # pipelines too, so neither table is joined (a stay counts in its deal's own pipeline).
    finished = finished_stays(window, scope=f.stay_q()).filter(
        to_stage__in=list(by_stage), deal_pipeline__in=list(pipelines)
    )
    for pipeline_id, stage_id, us in (
        finished.values("deal_pipeline_id", "to_stage_id")
        .annotate(us=Sum("stay_us"))
        .values_list("deal_pipeline_id", "to_stage_id", "us")
    ):
        if stage_pipeline[stage_id] == pipeline_id:
            by_stage[stage_id].ms += (us or 0) / 1000
    return list(pipelines.values())


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _percent(share: float) -> str:
    return f"{share:.0%}"


def _check(figures: _PipelineFigures) -> dict[str, Any]:
    """One pipeline's stage rows and its warnings (the rules of the module docstring)."""
    listed = [s for s in figures.stages if not s.archived or s.lost or s.touches or s.ms]
    lost = sum(s.lost for s in listed)
    touches = sum(s.touches for s in listed)
    ms = sum(s.ms for s in listed)

    loss_share: dict[int, float | None] = {}
    effort_share: dict[int, float | None] = {}
    rows = []
    for s in listed:
        loss_share[s.stage_id] = _share(s.lost, lost)
        touch_share = _share(s.touches, touches)
        time_share = _share(s.ms, ms)
        known = [share for share in (touch_share, time_share) if share is not None]
        effort = sum(known) / len(known) if known else None
        effort_share[s.stage_id] = effort
        rows.append(
            {
                "position": s.position,
                "stage": s.name,
                "key_meeting": s.key_meeting,
                "lost": s.lost,
                "loss_share": rate(s.lost, lost),
                "touches": s.touches,
                "touch_share": rate(s.touches, touches),
                "hours": round(s.ms / MS_PER_HOUR, 2),
                "time_share": None if time_share is None else round(time_share, 4),
                "effort_share": None if effort is None else round(effort, 4),
            }
        )

    warnings: list[str] = []
    if lost and listed:
        biggest = max(listed, key=lambda s: (loss_share[s.stage_id] or 0, -s.position))
        average = 1 / len(listed)
        for s in listed:
            if s.position >= biggest.position:
                break
            share = effort_share[s.stage_id]
            if share is not None and share > average:
                warnings.append(
                    str(
                        _(
                            "Expensive steps come before the big losses: “%(stage)s” takes "
                            "%(effort)s of our effort (touches and time, against %(average)s "
                            "for an average stage), but most deals are lost later, at "
                            "“%(loss_stage)s” (%(losses)s of the losses). Move the losses to "
                            "the front and our expensive steps to the back."
                        )
                        % {
                            "stage": s.name,
                            "effort": _percent(share),
                            "average": _percent(average),
                            "loss_stage": biggest.name,
                            "losses": _percent(loss_share[biggest.stage_id] or 0),
                        }
                    )
                )
    open_stages = [s for s in figures.stages if not s.archived]
    key = next((s for s in open_stages if s.key_meeting), None)
    if key is not None:
        place = open_stages.index(key) + 1
        if place > math.ceil(len(open_stages) / 2):
            warnings.append(
                str(
                    _(
                        "The buyer's own effort comes late: the key meeting “%(stage)s” is step "
                        "%(place)s of %(count)s. Move it, or another step the client takes "
                        "themselves, towards the front."
                    )
                    % {"stage": key.name, "place": place, "count": len(open_stages)}
                )
            )
    return {
        "pipeline": figures.name,
        "cohort": figures.cohort,
        "lost": lost,
        "touches": touches,
        "hours": round(ms / MS_PER_HOUR, 2),
        "stages": rows,
        "warnings": warnings,
    }


# --- The report ------------------------------------------------------------------------------


def run(f: ReportFilter) -> dict[str, Any]:
    channels = _channels(f)
    checks = [_check(figures) for figures in _gather(f)]
    return {
        "filter": f.describe(),
        "currency": str(settings.CONVEYOR_CURRENCY),
        "cost_per_lead": {row["channel"]: row["cost_per_lead"] for row in channels},
        "cost_per_customer": {row["channel"]: row["cost_per_customer"] for row in channels},
        "channels": channels,
        "funnel_check": checks,
        "warnings": [
            f"{check['pipeline']}: {text}" for check in checks for text in check["warnings"]
        ],
    }


def tables(data: dict[str, Any]) -> list[Table]:
    result = [
        Table(
            title=_("Cost per lead and per customer by channel"),
            columns=(
                ("channel", _("Channel")),
                ("expenses", _("Expenses")),
                ("leads", _("Leads")),
                ("customers", _("Customers")),
                ("cost_per_lead", _("Cost per lead")),
                ("cost_per_customer", _("Cost per customer")),
            ),
            rows=data["channels"],
            bar="cost_per_customer",
            note=_(
                "In %(currency)s. Expenses whose period straddles the window count pro rata by "
                "days; customers are people whose first purchase falls in the window."
            )
            % {"currency": data["currency"]},
        ),
        Table(
            title=_("Funnel design warnings"),
            columns=(("pipeline", _("Pipeline")), ("warning", _("Warning"))),
            rows=[
                {"pipeline": check["pipeline"], "warning": text}
                for check in data["funnel_check"]
                for text in check["warnings"]
            ],
            note=_(
                "Losses belong at the front of the funnel, our expensive steps at the back and "
                "the buyer's own effort (the key meeting) at the front."
            ),
        ),
    ]
    for check in data["funnel_check"]:
        result.append(
            Table(
                title=_("Funnel design check: %(pipeline)s") % {"pipeline": check["pipeline"]},
                columns=(
                    ("position", _("#")),
                    ("stage", _("Stage")),
                    ("key_meeting", _("Key meeting")),
                    ("lost", _("Lost")),
                    ("loss_share", _("Share of losses")),
                    ("touches", _("Touches")),
                    ("touch_share", _("Share of touches")),
                    ("hours", _("Hours in stage")),
                    ("time_share", _("Share of time")),
                    ("effort_share", _("Share of effort")),
                ),
                rows=check["stages"],
                bar="loss_share",
                percent=("loss_share", "touch_share", "time_share", "effort_share"),
                note=_(
                    "%(cohort)s deals opened in the window; effort = the mean of the shares of "
                    "touches and of time."
                )
                % {"cohort": check["cohort"]},
            )
        )
    return result


REPORT = Report(
    name="costs",
    title=_("Costs and funnel design"),
    run=run,
    tables=tables,
    help=(
        "Cost per lead and per customer by channel, and the funnel design check: where losses "
        "happen versus where our effort goes (DESIGN §4)."
    ),
)
