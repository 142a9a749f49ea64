"""`funnel-compare`: two funnels side by side, stage by stage (issue 7, point 1).

Side A is the funnel of the filter (its pipeline and window). Side B is, by `against`:

- `previous` — the same pipeline over the window of the same length just before A's;
- `year` — the same pipeline over A's dates one year earlier;
- `window` — the same pipeline over the window `other_from` .. `other_to` (half-open);
- `pipeline` — another pipeline (typically another segment's funnel) over A's window.

Each side is exactly the `funnel` report (DESIGN §4) with every other filter shared. Stages are
paired by position, as both funnels count "reached stage k"; where one side has no stage at a
position its cells stay empty. `difference` = A - B, for the conversions in percentage points
(as a fraction), for the counts in deals.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics import funnel
from conveyor.analytics.reports import Option, Report, Table
from conveyor.core.errors import ServiceError
from conveyor.core.timewindow import add_months
from conveyor.pipelines.models import Pipeline

AGAINST = ("previous", "year", "window", "pipeline")


def other_side(
    f: ReportFilter,
    against: str,
    other_from: dt.date | None,
    other_to: dt.date | None,
    other_pipeline_id: int | None,
) -> ReportFilter:
    """The filter of side B; ServiceError (with the option's name) when it cannot be built."""
    if against == "previous":
        length = f.date_to - f.date_from
        return dataclasses.replace(f, date_from=f.date_from - length, date_to=f.date_from)
    if against == "year":
        return dataclasses.replace(
            f, date_from=add_months(f.date_from, -12), date_to=add_months(f.date_to, -12)
        )
    if against == "window":
        if other_from is None or other_to is None:
            raise ServiceError(gettext("Give both dates of the other window."), field="other_from")
        if other_from >= other_to:
            raise ServiceError(
                gettext("The start of the window must be before its end."), field="other_to"
            )
        return dataclasses.replace(f, date_from=other_from, date_to=other_to)
    if against == "pipeline":
        other = Pipeline.objects.filter(pk=other_pipeline_id).first() if other_pipeline_id else None
        if other is None:
            raise ServiceError(gettext("Choose the other pipeline."), field="other_pipeline_id")
        # The segment filter would empty the other segment's funnel: it is the pipeline's own.
        return dataclasses.replace(f, pipeline=other, segment=None)
    raise ServiceError(gettext("Not a valid value."), field="against")


def _difference(a: float | int | None, b: float | int | None) -> float | int | None:
    if a is None or b is None:
        return None
    return round(a - b, 4)


def _side(f: ReportFilter, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline": data["pipeline"],
        "from": f.date_from.isoformat(),
        "to": f.date_to.isoformat(),
        **{key: data[key] for key in funnel.SUMMARY_KEYS},
    }


def run(
    f: ReportFilter,
    against: str = "previous",
    other_from: dt.date | None = None,
    other_to: dt.date | None = None,
    other_pipeline_id: int | None = None,
) -> dict[str, Any]:
    g = other_side(f, against, other_from, other_to, other_pipeline_id)
    a, b = funnel.run(f), funnel.run(g)
    by_position_a = {stage["position"]: stage for stage in a["stages"]}
    by_position_b = {stage["position"]: stage for stage in b["stages"]}
    positions = sorted(by_position_a.keys() | by_position_b.keys())
    stages = []
    for position in positions:
        sa, sb = by_position_a.get(position, {}), by_position_b.get(position, {})
        stages.append(
            {
                "position": position,
                "stage_a": sa.get("stage"),
                "reached_a": sa.get("reached"),
                "conversion_a": sa.get("conversion_to_next"),
                "stage_b": sb.get("stage"),
                "reached_b": sb.get("reached"),
                "conversion_b": sb.get("conversion_to_next"),
                "conversion_difference": _difference(
                    sa.get("conversion_to_next"), sb.get("conversion_to_next")
                ),
            }
        )
    side_a, side_b = _side(f, a), _side(g, b)
    return {
        "filter": f.describe(),
        "against": against,
        "a": side_a,
        "b": side_b,
        "difference": {key: _difference(side_a[key], side_b[key]) for key in funnel.SUMMARY_KEYS},
        "stages": stages,
    }


def tables(data: dict[str, Any]) -> list[Table]:
    a, b = data["a"], data["b"]
    label_a = f"A: {a['pipeline']}, {a['from']} - {a['to']}"
    label_b = f"B: {b['pipeline']}, {b['from']} - {b['to']}"
    return [
        Table(
            title=_("Stage by stage"),
            columns=(
                ("position", _("#")),
                ("stage_a", _("Stage A")),
                ("reached_a", _("Reached A")),
                ("conversion_a", _("Conversion A")),
                ("stage_b", _("Stage B")),
                ("reached_b", _("Reached B")),
                ("conversion_b", _("Conversion B")),
                ("conversion_difference", _("A - B")),
            ),
            rows=data["stages"],
            bar="reached_a",
            percent=("conversion_a", "conversion_b", "conversion_difference"),
            note=f"{label_a}; {label_b}",
        ),
        Table(
            title=_("Cohorts"),
            columns=(
                ("side", _("Side")),
                ("pipeline", _("Pipeline")),
                ("from", _("From")),
                ("to", _("To (not included)")),
                ("cohort", _("Deals opened")),
                ("won", _("Won")),
                ("lost", _("Lost")),
                ("open", _("Open")),
                ("end_to_end_conversion", _("End-to-end conversion")),
            ),
            rows=[
                {"side": "A", **a},
                {"side": "B", **b},
                {"side": "A - B", **data["difference"], "pipeline": "", "from": "", "to": ""},
            ],
            percent=("end_to_end_conversion",),
        ),
    ]


REPORT = Report(
    name="funnel-compare",
    title=_("Funnel comparison"),
    run=run,
    tables=tables,
    help="Two funnels side by side: the window against the previous one, the same dates a year "
    "before or any other window, or the pipeline against another segment's pipeline.",
    needs_pipeline=True,
    options={
        "against": Option(
            default="previous",
            help=_("Compare with"),
            choices=AGAINST,
            labels={
                "previous": _("the window before"),
                "year": _("the same dates a year before"),
                "window": _("another window"),
                "pipeline": _("another pipeline"),
            },
        ),
        "other_from": Option(default=None, help=_("Other window from"), kind="date"),
        "other_to": Option(default=None, help=_("Other window to (not included)"), kind="date"),
        "other_pipeline_id": Option(default=None, help=_("Other pipeline"), kind="pipeline"),
    },
)
