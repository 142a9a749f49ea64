"""`funnel`: stage by stage, the deals opened in the window in one pipeline (DESIGN §4, §5)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from conveyor.analytics import queries
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import Report, Table
from conveyor.pipelines.models import Pipeline


def run(f: ReportFilter, *, hours: bool = True) -> dict[str, Any]:
    """The report; `hours=False` leaves out the time in stage (the dashboard shows counts)."""
    if f.pipeline is None:
        raise ValueError("the funnel is about one pipeline")
    return queries.funnel(
        pipeline=f.pipeline,
        date_from=f.date_from,
        date_to=f.date_to,
        scope=f.deal_q(),
        change_scope=f.stay_q(),
        hours=hours,
    )


def run_each(
    f: ReportFilter, pipelines: Sequence[Pipeline], *, hours: bool = True
) -> list[dict[str, Any]]:
    """`run` for each of `pipelines` (the dashboard's funnels), the cohorts read in one pass."""
    return queries.funnels(
        pipelines=pipelines,
        date_from=f.date_from,
        date_to=f.date_to,
        scope=dataclasses.replace(f, pipeline=None).deal_q(),
        change_scope=f.stay_q(),
        hours=hours,
    )


def _reasons(lost_by_reason: dict[str, int]) -> str:
    return "; ".join(f"{reason}={count}" for reason, count in lost_by_reason.items())


# What became of the cohort, in a few numbers (the dashboard and funnel-compare show these).
SUMMARY_KEYS = ("cohort", "won", "lost", "open", "end_to_end_conversion")

# How far the cohort got at each stage: the funnel's first columns (the dashboard shows these).
STAGE_COLUMNS = (
    ("position", _("#")),
    ("stage", _("Stage")),
    ("reached", _("Reached")),
    ("conversion_to_next", _("Conversion to next")),
)


def tables(data: dict[str, Any]) -> list[Table]:
    rows = [
        {**stage, "lost_by_reason": _reasons(stage["lost_by_reason"])} for stage in data["stages"]
    ]
    return [
        Table(
            title=_("Funnel"),
            columns=(
                *STAGE_COLUMNS,
                ("lost", _("Lost")),
                ("refused_by_us", _("Refused by us")),
                ("open", _("Open")),
                ("hours_in_stage_median", _("Hours in stage, median")),
                ("hours_in_stage_p90", _("Hours in stage, p90")),
                ("lost_by_reason", _("Lost by reason")),
            ),
            rows=rows,
            bar="reached",
            percent=("conversion_to_next",),
        ),
        Table(
            title=_("Cohort"),
            columns=(
                ("pipeline", _("Pipeline")),
                ("cohort", _("Deals opened")),
                ("won", _("Won")),
                ("lost", _("Lost")),
                ("open", _("Open")),
                ("end_to_end_conversion", _("End-to-end conversion")),
            ),
            rows=[data],
            percent=("end_to_end_conversion",),
        ),
    ]


REPORT = Report(
    name="funnel",
    title=_("Funnel"),
    run=run,
    tables=tables,
    help="Stage-by-stage funnel of the deals opened in the window (DESIGN §4).",
    needs_pipeline=True,
)
