"""`dashboard`: the head of sales' page, readable in five seconds (issue 7, point 2).

One call gathers what the head looks at every morning, each number computed by the report
that owns it, so the dashboard can never disagree with the report behind a tile:

- **key counts** of the window (`key-counts` totals): leads, requests, key meetings, deals won,
  revenue;
- **plan vs fact** (`plan-fact`) of one month: the current one with its run rate, or the
  window's last month when the window lies in the past;
- **the funnel of each active pipeline** (`funnel`), cohort of the window, narrowed by the
  segment / pipeline filter;
- **needs attention** (`discipline`): the counts of its five lists and the first rows of the
  stalled and the rotting deals;
- **repeat purchase rate** and referral rate (`conveyor`) against the seeds' 50 % mark.

A manager's own dashboard is the same page narrowed to them: `dashboard_filter` pins the
manager filter to a manager viewer, so shared deals of colleagues do not count as theirs.

Queries: those of the reports it calls, a fixed number whatever the number of deals; the
funnels of all the pipelines read their cohorts in one pass (`funnel.run_each`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import Role, User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics import conveyor_path, discipline, funnel, key_counts, plan_fact
from conveyor.analytics.reports import Report, Table
from conveyor.core.timewindow import add_months
from conveyor.pipelines.models import Pipeline

# Rows of the stalled and rotting lists shown on the dashboard (the counts cover them all).
ATTENTION_ROWS = 10


def own_dashboard(viewer: User | None) -> bool:
    """Whether `viewer` gets their own dashboard (a manager) rather than their teams'."""
    return viewer is not None and viewer.role == Role.MANAGER


def dashboard_filter(f: ReportFilter) -> ReportFilter:
    """A manager sees their own dashboard: the manager filter is pinned to them."""
    if own_dashboard(f.viewer):
        return dataclasses.replace(f, manager=f.viewer)
    return f


def _pipelines(f: ReportFilter) -> list[Pipeline]:
    if f.pipeline is not None:
        return [f.pipeline]
    pipelines = Pipeline.objects.filter(is_active=True).order_by("name")
    if f.segment is not None:
        pipelines = pipelines.filter(segment=f.segment)
    return list(pipelines)


def _funnels(f: ReportFilter) -> list[dict[str, Any]]:
    pipelines = _pipelines(f)
    # Only the counts are shown: the time in stage is not worked out.
    return [
        {
            "pipeline_id": pipeline.pk,
            "pipeline": data["pipeline"],
            **{key: data[key] for key in funnel.SUMMARY_KEYS},
            "stages": [
                {key: stage[key] for key, _label in funnel.STAGE_COLUMNS}
                for stage in data["stages"]
            ],
        }
        for pipeline, data in zip(
            pipelines, funnel.run_each(f, pipelines, hours=False), strict=True
        )
    ]


def _plan_month(f: ReportFilter) -> ReportFilter:
    """The one month of plan vs fact on the page: the current one, or the window's last when
    it lies in the past. Plan-fact counts each month in full and on its own, so it is asked
    for that month alone (not every month of a long window)."""
    months = plan_fact.month_starts(f.date_from, f.date_to)
    if not months:
        return f
    month = plan_fact.current_month(months, timezone.now()) or months[-1]
    return dataclasses.replace(f, date_from=month, date_to=add_months(month, 1))


def run(f: ReportFilter) -> dict[str, Any]:
    f = dashboard_filter(f)
    counts = key_counts.totals(f)
    plans = plan_fact.run(_plan_month(f))
    attention = discipline.run(f)
    path = conveyor_path.rates(f)
    month = plans["current_month"] or (plans["months"][-1] if plans["months"] else None)
    lists = ("stalled_deals", "rotting_deals", "waiting_leads", "managers_below_rhythm")
    return {
        "filter": f.describe(),
        "currency": str(settings.CONVEYOR_CURRENCY),
        "key_counts": counts,
        "plan_fact": {
            "month": month,
            "working_days": plans["working_days"] if month == plans["current_month"] else None,
            "managers": [row for row in plans["managers"] if row["month"] == month],
            "teams": [row for row in plans["teams"] if row["month"] == month],
        },
        "funnels": _funnels(f),
        "attention": {
            **{name: attention[name]["count"] for name in (*lists, "overdue_tasks")},
            "stalled_rows": attention["stalled_deals"]["rows"][:ATTENTION_ROWS],
            "rotting_rows": attention["rotting_deals"]["rows"][:ATTENTION_ROWS],
        },
        "repeat_purchase_rate": path["repeat_purchase_rate"],
        "target_repeat_rate": path["target_repeat_rate"],
        "referral_rate": path["referral_rate"],
    }


KEY_COLUMNS = (
    ("leads", _("Leads")),
    ("requests", _("Requests")),
    ("key_meetings", _("Key meetings")),
    ("deals_won", _("Deals won")),
    ("revenue", _("Revenue")),
)


def tables(data: dict[str, Any]) -> list[Table]:
    plans = data["plan_fact"]
    result = [
        Table(
            title=_("Key counts"),
            columns=KEY_COLUMNS,
            rows=[data["key_counts"]],
            note=_("Revenue in %(currency)s.") % {"currency": data["currency"]},
        ),
        Table(
            title=_("Plan vs fact"),
            columns=(
                ("month", _("Month")),
                ("manager", _("Manager")),
                *plan_fact.COLUMNS,
            ),
            rows=plans["managers"],
        ),
    ]
    for pipeline in data["funnels"]:
        result.append(
            Table(
                title=_("Funnel: %(pipeline)s") % {"pipeline": pipeline["pipeline"]},
                columns=funnel.STAGE_COLUMNS,
                rows=pipeline["stages"],
                bar="reached",
                percent=("conversion_to_next",),
            )
        )
    attention = data["attention"]
    result += [
        Table(
            title=_("Needs attention"),
            columns=(
                ("stalled_deals", _("No next step")),
                ("rotting_deals", _("Rotting")),
                ("waiting_leads", _("Leads waiting")),
                ("managers_below_rhythm", _("Below their rhythm")),
                ("overdue_tasks", _("Overdue tasks")),
            ),
            rows=[attention],
        ),
        Table(
            title=_("Deals with no next step"),
            columns=discipline.DEAL_COLUMNS,
            rows=attention["stalled_rows"],
            link="deal",
        ),
        Table(
            title=_("Rotting deals"),
            columns=discipline.DEAL_COLUMNS,
            rows=attention["rotting_rows"],
            link="deal",
        ),
        Table(
            title=_("Repeat purchase rate"),
            columns=(
                ("customers", _("First-time customers")),
                ("repeat", _("Bought again")),
                ("rate", _("Rate")),
            ),
            rows=[data["repeat_purchase_rate"]],
            percent=("rate",),
            note=_("The seeds' mark: %(target)s or more.")
            % {"target": f"{data['target_repeat_rate']:.0%}"},
        ),
    ]
    return result


REPORT = Report(
    name="dashboard",
    title=_("Dashboard"),
    run=run,
    tables=tables,
    help="The head of sales' page: key counts, plan vs fact, the funnel of each pipeline, "
    "what needs attention and the repeat rate; a manager's own for a manager.",
)
