"""`hypotheses`: each hypothesis's stage conversion before vs after its start, with a z-test.

DESIGN §4 "Hypothesis result", made precise here:

- **Which hypotheses**: those started in the window (`started_on` in `[from, to)`) whose stage
  passes the pipeline and segment filters; a hypothesis about a stage the filters hide is left
  out. Ordered by start, then id.
- **Sub-windows**: with start = midnight of `started_on` in the account time zone and
  N = `window_days`, *before* = `[start - N days, start)` and *after* = `[start, start + N days)`,
  both from local midnights (half-open, like every window).
- **Entered**: the deals with a stage change *into* the hypothesis's stage (opened there, moved
  there, reopened there) at a time in the sub-window, each deal counted once per sub-window. A
  deal that skipped over the stage never entered it and is not counted (unlike DESIGN's
  "reached", which is about the funnel, not about what happened in the stage).
- **Converted**: of those, the deals that *after* an entry in the sub-window (any time up to now)
  were moved to a stage of the same pipeline with a higher position, or won. Counting a deal
  when any of its entries in the sub-window was followed by that is the same as asking it of its
  first entry there. Deals that entered late in the *after* window have had less time to convert;
  the comparison is only fair once the after window is well past (`finished` says it is over).
- **Rate** = converted / entered (None when nothing entered).
- **Test**: a two-sided two-proportion z-test with the pooled proportion,
  z = (rate_after - rate_before) / sqrt(p (1 - p) (1/n_before + 1/n_after)),
  p-value = erfc(|z| / sqrt 2). When the pooled proportion is 0 or 1 both rates are equal: z = 0,
  p = 1. When a side has no deal there is nothing to test: z and p are None.
- **Verdict** at p < 0.05: "better" (after > before), "worse", else "no significant change";
  "not enough data" when a side is empty. `verdict_code` is the untranslated key.

Deals are narrowed by every filter and the viewer (`ReportFilter.deal_q`). Two queries whatever
the number of hypotheses and deals: the hypotheses, and one aggregate over the stage changes
with four conditional counts per hypothesis.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.models import Hypothesis
from conveyor.analytics.queries import rate
from conveyor.analytics.reports import Report, Table
from conveyor.core.timewindow import start_of_day
from conveyor.pipelines.models import ChangeKind, StageChange

ALPHA = 0.05

VERDICTS = {
    "better": _("better"),
    "worse": _("worse"),
    "no_change": _("no significant change"),
    "not_enough_data": _("not enough data"),
}


def two_proportion_z_test(
    converted_before: int, entered_before: int, converted_after: int, entered_after: int
) -> tuple[float | None, float | None]:
    """(z, two-sided p-value) of after vs before with the pooled proportion; (None, None) when a
    side is empty. Unrounded."""
    if not entered_before or not entered_after:
        return None, None
    pooled = (converted_before + converted_after) / (entered_before + entered_after)
    variance = pooled * (1 - pooled) * (1 / entered_before + 1 / entered_after)
    if variance <= 0:  # everyone or no one converted on both sides: the rates are equal
        return 0.0, 1.0
    z = (converted_after / entered_after - converted_before / entered_before) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def verdict_code(z: float | None, p_value: float | None) -> str:
    if z is None or p_value is None:
        return "not_enough_data"
    if p_value >= ALPHA:
        return "no_change"
    return "better" if z > 0 else "worse"


def _hypotheses(f: ReportFilter) -> list[Hypothesis]:
    """Query 1: the hypotheses started in the window about a stage the filters show."""
    q = Q(started_on__gte=f.date_from, started_on__lt=f.date_to)
    if f.pipeline is not None:
        q &= Q(stage__pipeline=f.pipeline)
    if f.segment is not None:
        q &= Q(stage__pipeline__segment=f.segment)
    return list(
        Hypothesis.objects.filter(q).select_related("stage__pipeline").order_by("started_on", "id")
    )


def _sub_windows(h: Hypothesis) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    days = dt.timedelta(days=h.window_days)
    return {
        "before": (start_of_day(h.started_on - days), start_of_day(h.started_on)),
        "after": (start_of_day(h.started_on), start_of_day(h.started_on + days)),
    }


def _counts(f: ReportFilter, hypotheses: list[Hypothesis]) -> dict[str, int]:
    """Query 2: entered and converted per hypothesis and side, as `h<id>_<side>_<what>`."""
    # A later change of the same deal (later time, or the same time and a later row) that moved
    # it above the entered stage's position in the same pipeline, or won it.
    advanced_later = StageChange.objects.filter(
        Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), pk__gt=OuterRef("pk")),
        Q(kind=ChangeKind.WON)
        | Q(
            to_stage__pipeline=OuterRef("to_stage__pipeline"),
            to_stage__position__gt=OuterRef("to_stage__position"),
        ),
        deal=OuterRef("deal"),
    )
    aggregates: dict[str, Count] = {}
    entries: list[Q] = []
    for h in hypotheses:
        for side, (start, end) in _sub_windows(h).items():
            entered = Q(to_stage_id=h.stage_id, at__gte=start, at__lt=end)
            entries.append(entered)
            key = f"h{h.pk}_{side}"
            aggregates[f"{key}_entered"] = Count("deal", distinct=True, filter=entered)
            aggregates[f"{key}_converted"] = Count(
                "deal", distinct=True, filter=entered & Q(advanced=True)
            )
    counts: dict[str, int] = (
        StageChange.objects.filter(f.deal_q("deal__"), reduce(or_, entries))
        .annotate(advanced=Exists(advanced_later))
        .aggregate(**aggregates)
    )
    return counts


def hypotheses(f: ReportFilter, *, now: dt.datetime) -> dict[str, Any]:
    """Every hypothesis's before/after result (see the module's docstring), as of `now`."""
    found = _hypotheses(f)
    counts = _counts(f, found) if found else {}
    rows = []
    for h in found:
        sides: dict[str, dict[str, Any]] = {}
        windows = _sub_windows(h)
        for side, (start, end) in windows.items():
            entered = counts[f"h{h.pk}_{side}_entered"]
            converted = counts[f"h{h.pk}_{side}_converted"]
            sides[side] = {
                "from": start.date().isoformat(),
                "to": end.date().isoformat(),
                "entered": entered,
                "converted": converted,
                "rate": rate(converted, entered),
            }
        before, after = sides["before"], sides["after"]
        z, p_value = two_proportion_z_test(
            before["converted"], before["entered"], after["converted"], after["entered"]
        )
        code = verdict_code(z, p_value)
        rows.append(
            {
                "id": h.pk,
                "title": h.title,
                "pipeline": h.stage.pipeline.name,
                "stage": h.stage.name,
                "started_on": h.started_on.isoformat(),
                "window_days": h.window_days,
                "finished": windows["after"][1] <= now,
                "before": before,
                "after": after,
                "z": None if z is None else round(z, 4),
                "p_value": None if p_value is None else round(p_value, 4),
                "verdict": str(VERDICTS[code]),
                "verdict_code": code,
            }
        )
    return {"filter": f.describe(), "alpha": ALPHA, "hypotheses": rows}


def run(f: ReportFilter) -> dict[str, Any]:
    return hypotheses(f, now=timezone.now())


def tables(data: dict[str, Any]) -> list[Table]:
    rows = [
        {
            **{k: v for k, v in row.items() if k not in ("before", "after")},
            **{f"{side}_{k}": v for side in ("before", "after") for k, v in row[side].items()},
        }
        for row in data["hypotheses"]
    ]
    return [
        Table(
            title=_("Hypotheses"),
            columns=(
                ("title", _("Hypothesis")),
                ("pipeline", _("Pipeline")),
                ("stage", _("Stage")),
                ("started_on", _("Started on")),
                ("window_days", _("Days before and after")),
                ("before_entered", _("Entered before")),
                ("before_converted", _("Converted before")),
                ("before_rate", _("Conversion before")),
                ("after_entered", _("Entered after")),
                ("after_converted", _("Converted after")),
                ("after_rate", _("Conversion after")),
                ("z", _("z")),
                ("p_value", _("p-value")),
                ("verdict", _("Verdict")),
                ("finished", _("After window over")),
            ),
            rows=rows,
            bar="after_rate",
            percent=("before_rate", "after_rate"),
            note=_(
                "Conversion = of the deals that entered the stage in the N days before (after) "
                "the start, the share later moved to a higher stage or won. Two-sided "
                "two-proportion z-test; significant at p < 0.05."
            ),
        )
    ]


REPORT = Report(
    name="hypotheses",
    title=_("Hypotheses"),
    run=run,
    tables=tables,
    help=(
        "Each hypothesis started in the window: its stage's conversion in the N days before vs "
        "after the start, with a two-proportion z-test p-value."
    ),
)
