"""`plan-fact`: the sales plan beside the fact, per manager and per team and month, with the run
rate of the current month (DESIGN §4 "Plan vs fact").

- Months: every calendar month overlapping the window, each counted **in full** (a plan is for a
  whole month, so the fact beside it is too).
- Plan: `accounts.SalesPlan` of the user, or of the team. A team without a plan of its own for a
  month is planned as the sum of its members' plans (`plan_from` says which).
- Fact: won deals by `closed_at`, in the month of the account time zone; revenue counts the deals
  in the account currency only (as in `key-counts`), deals count every won deal. A manager's
  fact is the deals they own; a team's, the deals its members own. The pipeline, segment and
  source filters narrow the fact, never the plan (plans are per person or team and month).
- Run rate (the current month only, the one holding today in the account time zone): the fact
  so far / working days elapsed (today included) * working days in the month, with the working
  days of `WorkCalendar` (CONVEYOR_WORKDAYS minus holidays). None outside the current month, and
  while no working day of the month has begun.

Four queries whatever the data size: the teams shown, the plans, the won deals grouped by month
and owner on the deal table alone (the team sums follow from those groups), and those owners'
names and teams; plus the month's holidays when the current month is shown. Months are
"YYYY-MM"; money is rounded to 2 places, shares to 4.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.calendar import WorkCalendar
from conveyor.accounts.models import Role, SalesPlan, Team, User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import bucket_index, money, rate
from conveyor.analytics.reports import Report, Table
from conveyor.core.timewindow import account_tz, add_months, start_of_day
from conveyor.pipelines.models import Deal, DealStatus

USER_FIELDS = ("user_id", "user__email", "user__name", "user__team_id", "user__team__name")


@dataclass(frozen=True)
class Plan:
    """Revenue and deals: a plan, or a fact beside it."""

    revenue: Decimal = Decimal(0)
    deals: int = 0

    def __add__(self, other: Plan) -> Plan:
        return Plan(self.revenue + other.revenue, self.deals + other.deals)


def month_starts(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    """The first day of every month overlapping [date_from, date_to)."""
    months = []
    month = date_from.replace(day=1)
    while month < date_to:
        months.append(month)
        month = add_months(month, 1)
    return months


def team_q(f: ReportFilter) -> Q:
    """Teams whose whole numbers the filter shows: the owner (or the command line) every team,
    a head the teams they head, a manager none (they see only their own numbers); only the
    filter's team; none when the filter is one manager."""
    if f.manager is not None:
        return Q(pk__in=[])
    q = Q()
    if f.viewer is not None:
        if not f.viewer.is_active or f.viewer.role == Role.MANAGER:
            return Q(pk__in=[])
        if f.viewer.role == Role.HEAD:
            q &= Q(head=f.viewer)
    if f.team is not None:
        q &= Q(pk=f.team.pk)
    return q


def run_rate_days(today: dt.date) -> tuple[int, int]:
    """(working days of today's month up to and including today, working days in the month);
    one query for the month's holidays."""
    first = today.replace(day=1)
    length = calendar.monthrange(today.year, today.month)[1]
    work = WorkCalendar(first, days=length)
    days = [first + dt.timedelta(days=n) for n in range(length)]
    elapsed = sum(1 for day in days if day <= today and work.is_workday(day))
    return elapsed, sum(1 for day in days if work.is_workday(day))


def _row(plan: Plan | None, fact: Plan, days: tuple[int, int] | None) -> dict[str, Any]:
    """The plan-vs-fact numbers of one (month, manager or team); `plan` None when there is
    none; `days` (working days elapsed, in the month) for the current month, else None."""
    run_rate_revenue = run_rate_deals = None
    if days is not None and days[0]:
        elapsed, total = days
        run_rate_revenue = money(fact.revenue * total / elapsed)
        run_rate_deals = round(fact.deals * total / elapsed, 2)
    return {
        "plan_revenue": money(plan.revenue) if plan else None,
        "fact_revenue": money(fact.revenue),
        "revenue_pct": (
            round(float(fact.revenue / plan.revenue), 4) if plan and plan.revenue else None
        ),
        "plan_deals": plan.deals if plan else None,
        "fact_deals": fact.deals,
        "deals_pct": rate(fact.deals, plan.deals) if plan else None,
        "run_rate_revenue": run_rate_revenue,
        "run_rate_deals": run_rate_deals,
    }


def current_month(months: list[dt.date], now: dt.datetime) -> dt.date | None:
    """The month of `now` in the account's time zone, when it is one of `months`: the one
    with a run rate (the month still running)."""
    this = timezone.localtime(now, account_tz()).date().replace(day=1)
    return this if this in months else None


def plan_fact(f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    """The report as of `now` (which month is current)."""
    currency = str(settings.CONVEYOR_CURRENCY)
    months = month_starts(f.date_from, f.date_to)
    today = timezone.localtime(now, account_tz()).date()
    current = current_month(months, now)
    teams: dict[int, str] = dict(
        Team.objects.filter(team_q(f)).order_by().values_list("pk", "name")
    )
    users: dict[int, dict[str, Any]] = {}

    # --- The plans: of the users the filter selects, and of the teams shown.
    user_plans: dict[tuple[dt.date, int], Plan] = {}
    team_plans: dict[tuple[dt.date, int], Plan] = {}
    members_plans: dict[tuple[dt.date, int], Plan] = defaultdict(Plan)
    plans = SalesPlan.objects.filter(
        (Q(user__isnull=False) & f.user_q("user__")) | Q(team__in=list(teams)),
        month__in=months,
    ).values("month", "revenue", "deals", "team_id", *USER_FIELDS)
    for plan in plans:
        numbers = Plan(plan["revenue"], plan["deals"])
        if plan["user_id"] is None:
            team_plans[plan["month"], plan["team_id"]] = numbers
            continue
        user_plans[plan["month"], plan["user_id"]] = numbers
        users[plan["user_id"]] = _user(plan, "user")
        if plan["user__team_id"] in teams:
            members_plans[plan["month"], plan["user__team_id"]] += numbers

    # --- The fact: won deals of the whole months, grouped by month and owner on the deal table
    # alone (a few hundred groups; joining the owners' names into the GROUP BY made PostgreSQL
    # sort every won deal), the owners' names and teams looked up afterwards.
    user_facts: dict[tuple[dt.date, int], Plan] = {}
    team_facts: dict[tuple[dt.date, int], Plan] = defaultdict(Plan)
    starts = [start_of_day(month) for month in months]
    won = (
        Deal.objects.filter(
            f.deal_q(),
            status=DealStatus.WON,
            owner__isnull=False,
            closed_at__gte=starts[0],
            closed_at__lt=start_of_day(add_months(months[-1], 1)),
        )
        .order_by()
        .annotate(month=bucket_index("closed_at", starts))
        .values("month", "owner_id")
        .annotate(
            n=Count("pk"),
            revenue=Sum("amount", filter=Q(currency=currency)),
            other=Count("pk", filter=~Q(currency=currency)),
        )
    )
    facts = list(won)
    owners = {
        row["pk"]: row
        for row in User.objects.filter(pk__in={fact["owner_id"] for fact in facts})
        .order_by()
        .values("pk", "email", "name", "team_id", "team__name")
    }
    other_currency = 0
    for fact in facts:
        month = months[fact["month"]]
        owner = owners[fact["owner_id"]]
        numbers = Plan(fact["revenue"] or Decimal(0), fact["n"])
        other_currency += fact["other"]
        user_facts[month, fact["owner_id"]] = numbers
        users.setdefault(
            fact["owner_id"],
            {"email": owner["email"], "name": owner["name"], "team": owner["team__name"]},
        )
        if owner["team_id"] in teams:
            team_facts[month, owner["team_id"]] += numbers

    days = run_rate_days(today) if current is not None else None

    def days_for(month: dt.date) -> tuple[int, int] | None:
        return days if month == current else None

    manager_rows = [
        {
            "month": f"{month:%Y-%m}",
            "user_id": user_id,
            "manager": users[user_id]["email"],
            "name": users[user_id]["name"],
            "team": users[user_id]["team"],
            **_row(
                user_plans.get((month, user_id)),
                user_facts.get((month, user_id), Plan()),
                days_for(month),
            ),
        }
        for month, user_id in sorted(
            set(user_plans) | set(user_facts), key=lambda key: (key[0], users[key[1]]["email"])
        )
    ]
    team_rows = []
    for month, team_id in sorted(
        set(team_plans) | set(members_plans) | set(team_facts),
        key=lambda key: (key[0], teams[key[1]]),
    ):
        own = team_plans.get((month, team_id))
        members = members_plans.get((month, team_id))
        team_rows.append(
            {
                "month": f"{month:%Y-%m}",
                "team_id": team_id,
                "team": teams[team_id],
                "plan_from": "team" if own else ("members" if members else None),
                **_row(own or members, team_facts.get((month, team_id), Plan()), days_for(month)),
            }
        )

    return {
        "filter": f.describe(),
        "currency": currency,
        "today": today.isoformat(),
        "months": [f"{month:%Y-%m}" for month in months],
        "current_month": f"{current:%Y-%m}" if current else None,
        "working_days": ({"elapsed": days[0], "in_month": days[1]} if days else None),
        "deals_won_other_currency": other_currency,
        "managers": manager_rows,
        "teams": team_rows,
    }


def _user(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        "email": row[f"{prefix}__email"],
        "name": row[f"{prefix}__name"],
        "team": row[f"{prefix}__team__name"],
    }


def run(f: ReportFilter) -> dict[str, Any]:
    return plan_fact(f, timezone.now())


COLUMNS = (
    ("plan_revenue", _("Plan, revenue")),
    ("fact_revenue", _("Fact, revenue")),
    ("revenue_pct", _("Revenue vs plan")),
    ("plan_deals", _("Plan, deals")),
    ("fact_deals", _("Fact, deals")),
    ("deals_pct", _("Deals vs plan")),
    ("run_rate_revenue", _("Run rate, revenue")),
    ("run_rate_deals", _("Run rate, deals")),
)


def tables(data: dict[str, Any]) -> list[Table]:
    note = _(
        "Revenue in %(currency)s; each month counts in full. The run rate projects the current "
        "month's fact to its end by working days. Pipeline, segment and source filters narrow "
        "the fact, not the plan."
    ) % {"currency": data["currency"]}
    if data["deals_won_other_currency"]:
        note += " " + _(
            "%(count)s won deals in another currency are counted as won but not in the revenue."
        ) % {"count": data["deals_won_other_currency"]}
    return [
        Table(
            title=_("Plan vs fact by manager"),
            columns=(("month", _("Month")), ("manager", _("Manager")), *COLUMNS),
            rows=data["managers"],
            bar="fact_revenue",
            note=note,
            percent=("revenue_pct", "deals_pct"),
        ),
        Table(
            title=_("Plan vs fact by team"),
            columns=(("month", _("Month")), ("team", _("Team")), *COLUMNS),
            rows=data["teams"],
            bar="fact_revenue",
            note=_("A team without a plan of its own is planned as the sum of its members'."),
            percent=("revenue_pct", "deals_pct"),
        ),
    ]


REPORT = Report(
    name="plan-fact",
    title=_("Plan vs fact"),
    run=run,
    tables=tables,
    help=(
        "Sales plan vs fact per manager and team per month, with the current month's run rate "
        "(DESIGN §4)."
    ),
)
