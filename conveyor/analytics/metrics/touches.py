"""`touches`: how many touches a first sale takes, each manager's warming : closing rhythm and
what the closing touches achieved, step by step (DESIGN §4 "Touches to first sale",
"Warming : closing ratio"; §5).

A fixed number of queries whatever the data size: the first sales grouped by the number of
touches each won deal keeps (a histogram, from which the median, mean and shares follow), the
window's touches tallied by user, kind, step and outcome (the per-manager and per-step tables
are sums of it), and the names of the users in the tally.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from typing import Any

from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import rate
from conveyor.analytics.reports import Report, Table
from conveyor.pipelines.models import Deal, DealStatus
from conveyor.touches.models import ClosingStep, Outcome, Touch, TouchKind

# The buckets of DESIGN §4: (JSON key, lowest count, highest count or None for no limit).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("share_0_4", 0, 4),
    ("share_5_12", 5, 12),
    ("share_13_plus", 13, None),
)


def _median(histogram: dict[int, int]) -> float | None:
    """The median of the values a {value: frequency} histogram describes (the mean of the two
    middle values for an even count)."""
    total = sum(histogram.values())
    if not total:
        return None
    middle = sorted({(total - 1) // 2, total // 2})  # 0-based ranks of the middle value(s)
    picked: list[int] = []
    seen = 0
    for value, frequency in sorted(histogram.items()):
        picked += [value] * sum(1 for rank in middle if seen <= rank < seen + frequency)
        seen += frequency
    return float(Fraction(sum(picked), len(picked)))


def touches_to_first_sale(f: ReportFilter) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """First purchases (purchase number 1) won in the window and the touches on each deal up to
    and including its win time: the summary of §5 and the histogram behind it.

    One query: the histogram grouped over the count each won deal keeps
    (`Deal.touches_to_win`, see `conveyor.touches.placement`), read with the deals from the
    `deal_closed` index.
    """
    window = f.window
    rows = (
        Deal.objects.filter(
            f.deal_q(),
            status=DealStatus.WON,
            purchase_number=1,
            closed_at__gte=window.start,
            closed_at__lt=window.end,
        )
        .order_by()
        .values("touches_to_win")
        .annotate(n=Count("*"))
        .values_list("touches_to_win", "n")
    )
    # A won deal always has its count (a constraint says so).
    histogram: dict[int, int] = {touches or 0: n for touches, n in rows}
    deals = sum(histogram.values())
    summary: dict[str, Any] = {
        "deals": deals,
        "median": _median(histogram),
        "mean": round(sum(t * n for t, n in histogram.items()) / deals, 2) if deals else None,
    }
    for key, low, high in BUCKETS:
        inside = sum(n for t, n in histogram.items() if t >= low and (high is None or t <= high))
        summary[key] = rate(inside, deals)
    distribution = [
        {"touches": touches, "deals": n, "share": rate(n, deals)}
        for touches, n in sorted(histogram.items())
    ]
    return summary, distribution


def _tally(f: ReportFilter) -> list[tuple[int | None, str, str, str, int]]:
    """The window's touches counted by (user id, kind, step, outcome): one pass over the
    `touch_tally` index, which both the per-user and the per-step tables are summed from."""
    window = f.window
    return list(
        Touch.objects.filter(f.touch_q(), at__gte=window.start, at__lt=window.end)
        .order_by()
        .values_list("user_id", "kind", "step", "outcome")
        .annotate(count=Count("pk"))
    )


def per_manager(
    tally: list[tuple[int | None, str, str, str, int]],
) -> list[dict[str, Any]]:
    """Warming and closing touches made in the window, per user (touches by nobody are left
    out: the ratio is keyed by the user's e-mail). The ratio is None without closing touches."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"warming": 0, "closing": 0})
    for user_id, kind, _step, _outcome, count in tally:
        if user_id is not None:
            counts[user_id][kind] += count
    users = (
        User.objects.filter(pk__in=list(counts))
        .order_by("email")
        .values_list("pk", "email", "name")
    )
    return [
        {
            "email": email,
            "name": name,
            "warming": counts[pk][TouchKind.WARMING],
            "closing": counts[pk][TouchKind.CLOSING],
            "ratio": rate(counts[pk][TouchKind.WARMING], counts[pk][TouchKind.CLOSING]),
        }
        for pk, email, name in users
    ]


def closing_by_step_outcome(
    tally: list[tuple[int | None, str, str, str, int]],
) -> list[dict[str, Any]]:
    """Closing touches made in the window, counted by the step asked for and the outcome
    (None where the touch records none)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for _user, kind, step, outcome, count in tally:
        if kind == TouchKind.CLOSING:
            counts[step, outcome] += count
    # Sorted here: the database's collation would order the codes differently per vendor.
    return [
        {"step": step or None, "outcome": outcome or None, "count": count}
        for (step, outcome), count in sorted(counts.items())
    ]


def run(f: ReportFilter) -> dict[str, Any]:
    summary, distribution = touches_to_first_sale(f)
    tally = _tally(f)
    managers = per_manager(tally)
    warming = sum(row["warming"] for row in managers)
    closing = sum(row["closing"] for row in managers)
    return {
        "filter": f.describe(),
        "touches_to_first_sale": summary,
        "touches_to_first_sale_distribution": distribution,
        "warming_closing_ratio": {row["email"]: row["ratio"] for row in managers},
        "managers": managers,
        "touches_in_window": {
            "warming": warming,
            "closing": closing,
            "ratio": rate(warming, closing),
        },
        "closing_by_step_outcome": closing_by_step_outcome(tally),
    }


def _steps_pivot(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """closing_by_step_outcome as one row per step with a column per outcome."""
    labels = dict(ClosingStep.choices)
    by_step: dict[str | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        by_step[row["step"]][row["outcome"] or "none"] += row["count"]
    order = [value for value, _label in ClosingStep.choices] + [None]
    pivot = []
    for step in sorted(by_step, key=lambda s: order.index(s) if s in order else len(order)):
        counts = by_step[step]
        total = sum(counts.values())
        pivot.append(
            {
                "step": str(labels.get(step, step)) if step else str(_("(no step)")),
                **{outcome: counts[outcome] for outcome in (*Outcome.values, "none")},
                "total": total,
                "advanced_share": rate(counts[Outcome.ADVANCED], total),
            }
        )
    return pivot


def tables(data: dict[str, Any]) -> list[Table]:
    summary = data["touches_to_first_sale"]
    totals = data["touches_in_window"]
    return [
        Table(
            title=_("Touches to first sale"),
            columns=(
                ("touches", _("Touches")),
                ("deals", _("First sales")),
                ("share", _("Share")),
            ),
            rows=data["touches_to_first_sale_distribution"],
            bar="deals",
            percent=("share",),
            note=_("First purchases won in the window; touches on the deal up to the win."),
        ),
        Table(
            title=_("Touches to first sale: summary"),
            columns=(
                ("deals", _("First sales")),
                ("median", _("Median touches")),
                ("mean", _("Mean touches")),
                ("share_0_4", _("0-4 touches")),
                ("share_5_12", _("5-12 touches")),
                ("share_13_plus", _("13+ touches")),
            ),
            rows=[summary],
            percent=("share_0_4", "share_5_12", "share_13_plus"),
        ),
        Table(
            title=_("Warming : closing per manager"),
            columns=(
                ("name", _("Manager")),
                ("email", _("E-mail")),
                ("warming", _("Warming")),
                ("closing", _("Closing")),
                ("ratio", _("Warming per closing")),
            ),
            rows=[*data["managers"], {"name": str(_("Everyone")), "email": "", **totals}],
            bar="ratio",
            note=_("Touches made in the window; the rhythm to aim at is about 5 : 1."),
        ),
        Table(
            title=_("Closing touches by step and outcome"),
            columns=(
                ("step", _("Step asked for")),
                ("advanced", _("Advanced")),
                ("not_advanced", _("Not advanced")),
                ("refused", _("Refused")),
                ("none", _("No outcome")),
                ("total", _("Total")),
                ("advanced_share", _("Advanced, share")),
            ),
            rows=_steps_pivot(data["closing_by_step_outcome"]),
            bar="total",
            percent=("advanced_share",),
        ),
    ]


REPORT = Report(
    name="touches",
    title=_("Touches"),
    run=run,
    tables=tables,
    help=(
        "Touches to first sale (median, mean, 0-4 / 5-12 / 13+ shares), the warming:closing "
        "ratio per manager and closing touches by step and outcome (DESIGN §4)."
    ),
)
