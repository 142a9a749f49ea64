"""`losses`: what was lost in the window and why — lost deals by stage and reason, the share we
refused ourselves, and the top reasons at each stage.

Cohort: the deals LOST in the window (by `closed_at`, half-open, account time zone), whenever
they were opened — the head's question is "what did we lose this month and why". (DESIGN §4
"Lost at stage" counts the *opened-in-window* cohort instead; that is the funnel's view.) The JSON
says so: `"cohort": "lost_in_window"`.

The report works across pipelines: stage names repeat between pipelines, so a stage row is keyed
by pipeline + position + stage name. A deal's stage is the stage it was lost at (`lost_stage`);
reasons are grouped by name (reasons of the same name in different pipelines are one reason).
Only stages with at least one loss are listed.

Three queries: a GROUP BY over the lost deals by (stage id, reason id) with the refused-by-us
count, on the deal table alone, then the names of those few stages and reasons; the rows, shares
and top reasons are folded in Python from those few groups.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, IntegerField, Q
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import rate
from conveyor.analytics.reports import Report, Table
from conveyor.pipelines.models import Deal, DealStatus, LossReason, Stage

COHORT = "lost_in_window"
TOP_REASONS = 3


@dataclass
class _StageLosses:
    pipeline: str | None
    position: int | None
    stage: str | None
    lost: int = 0
    refused_by_us: int = 0
    by_reason: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))


def _by_count(counts: dict[str | None, int]) -> list[tuple[str | None, int]]:
    """Most first; ties by name (a missing name last) so the order is stable."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))


def run(f: ReportFilter) -> dict[str, Any]:
    window = f.window
    # Grouped by ids on the deal table alone: joining the names into the GROUP BY looked up a
    # stage, its pipeline and a reason for every lost deal (seconds on SQLite at 1M deals).
    groups = list(
        Deal.objects.filter(
            f.deal_q(),
            status=DealStatus.LOST,
            closed_at__gte=window.start,
            closed_at__lt=window.end,
        )
        .order_by()
        .values("lost_stage_id", "lost_reason_id")
        .annotate(
            deals=Count("pk"),
            refused=Count("pk", filter=Q(refused_by_us=True), output_field=IntegerField()),
        )
    )
    stage_names: dict[int, Any] = {
        row["pk"]: row
        for row in Stage.objects.filter(pk__in={group["lost_stage_id"] for group in groups})
        .order_by()
        .values("pk", "pipeline__name", "position", "name")
    }
    reason_names: dict[int, str] = dict(
        LossReason.objects.filter(pk__in={group["lost_reason_id"] for group in groups})
        .order_by()
        .values_list("pk", "name")
    )

    stages: dict[int | None, _StageLosses] = {}
    by_reason: dict[str | None, int] = defaultdict(int)
    lost = refused_by_us = 0
    for group in groups:
        deals: int = group["deals"]
        refused: int = group["refused"]
        reason = reason_names.get(group["lost_reason_id"])
        stage = stages.get(group["lost_stage_id"])
        if stage is None:
            names: dict[str, Any] = stage_names.get(group["lost_stage_id"], {})
            stage = stages[group["lost_stage_id"]] = _StageLosses(
                pipeline=names.get("pipeline__name"),
                position=names.get("position"),
                stage=names.get("name"),
            )
        stage.lost += deals
        stage.refused_by_us += refused
        stage.by_reason[reason] += deals
        by_reason[reason] += deals
        lost += deals
        refused_by_us += refused

    ordered = sorted(
        stages.values(), key=lambda s: (s.pipeline or "", s.position or 0, s.stage or "")
    )
    return {
        "cohort": COHORT,
        "filter": f.describe(),
        "lost": lost,
        "refused_by_us": refused_by_us,
        "refused_by_us_share": rate(refused_by_us, lost),
        "by_stage": [
            {
                "pipeline": stage.pipeline,
                "position": stage.position,
                "stage": stage.stage,
                "lost": stage.lost,
                "refused_by_us": stage.refused_by_us,
                "share_of_losses": rate(stage.lost, lost),
                "top_reasons": [
                    {"reason": reason, "count": count}
                    for reason, count in _by_count(stage.by_reason)[:TOP_REASONS]
                ],
            }
            for stage in ordered
        ],
        "by_reason": [
            {"reason": reason, "lost": count, "share": rate(count, lost)}
            for reason, count in _by_count(by_reason)
        ],
        "matrix": [
            {
                "pipeline": stage.pipeline,
                "position": stage.position,
                "stage": stage.stage,
                "reason": reason,
                "lost": count,
            }
            for stage in ordered
            for reason, count in _by_count(stage.by_reason)
        ],
    }


def _reasons(top: list[dict[str, Any]]) -> str:
    return "; ".join(f"{row['reason']}={row['count']}" for row in top)


def tables(data: dict[str, Any]) -> list[Table]:
    return [
        Table(
            title=_("Lost by stage"),
            columns=(
                ("pipeline", _("Pipeline")),
                ("position", _("#")),
                ("stage", _("Stage")),
                ("lost", _("Lost")),
                ("refused_by_us", _("Refused by us")),
                ("share_of_losses", _("Share of losses")),
                ("top_reasons", _("Top reasons")),
            ),
            rows=[{**row, "top_reasons": _reasons(row["top_reasons"])} for row in data["by_stage"]],
            bar="lost",
            percent=("share_of_losses",),
            note=_("Deals lost in the window (by when they were lost), at the stage they were in."),
        ),
        Table(
            title=_("Lost by reason"),
            columns=(("reason", _("Reason")), ("lost", _("Lost")), ("share", _("Share"))),
            rows=data["by_reason"],
            bar="lost",
            percent=("share",),
        ),
        Table(
            title=_("Losses by stage and reason"),
            columns=(
                ("pipeline", _("Pipeline")),
                ("position", _("#")),
                ("stage", _("Stage")),
                ("reason", _("Reason")),
                ("lost", _("Lost")),
            ),
            rows=data["matrix"],
        ),
    ]


REPORT = Report(
    name="losses",
    title=_("Losses"),
    run=run,
    tables=tables,
    help="Deals lost in the window by stage and reason, with the share refused by us.",
)
