"""`conveyor`: the whole client path LG → LC → AM (DESIGN §1, §4, §5).

Leads (people first recorded in the window) → customers (people whose first won deal, purchase
number 1, falls in the window) → repeat customers (of those, the ones with a second won deal at
any time up to now) → advocates (of those customers, the ones who referred a person who has
become a customer, up to now); beside it the repeat purchase rate against the seeds' 50% mark,
the referral rate at `to` and the average check, first purchase vs repeat.

How the filters apply (the same `ReportFilter` helpers as every report):
- leads are people selected by `person_q` (owner, team, manager, source, a deal in the pipeline
  or segment, and the viewer's visibility);
- customers are selected by the won deal that makes them one (`deal_q`: the deal's owner,
  pipeline, segment, the person's source, the viewer's visibility);
- what happens to those people next (their second purchase, a referred person's purchase) is a
  fact about the person and is not narrowed: a repeat purchase made in the account-management
  pipeline, or handled by another manager, still makes a conversion customer a repeat one.

Money is in the account currency: deals won in another currency are left out of the average
check (and counted in `won_deals.other_currency`), never added at face value.

Three aggregate queries whatever the data size: leads; the window's won deals (new customers
and their second purchase and referred customer, and the average check's conditional sums);
customers at `to` and the referrers among them. "Has a second purchase" and "referred a
customer" are sets computed once per query and tested with `IN`, not an `EXISTS` per customer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import joins_many, money, rate
from conveyor.analytics.reports import Report, Table
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus

TARGET_REPEAT_RATE = 0.5  # seed 001: repeat-sale conversion of 50%+ marks a healthy business


def average(total: Decimal | None, count: int) -> float | None:
    """total / count in money, or None when nothing was counted."""
    if not count:
        return None
    return money(Decimal(total or 0) / count)


def new_customer_deals(f: ReportFilter) -> QuerySet[Deal]:
    """The first won deals (purchase number 1) won in the window that the filter selects: one
    per person whose first purchase falls in the window (DESIGN §4 "Repeat purchase rate")."""
    window = f.window
    return Deal.objects.filter(
        f.deal_q(),
        status=DealStatus.WON,
        purchase_number=1,
        closed_at__gte=window.start,
        closed_at__lt=window.end,
    ).order_by()


def leads(f: ReportFilter) -> QuerySet[Person]:
    """People first recorded in the window that the filter selects (may repeat a person when
    the filter joins their deals: count distinct)."""
    window = f.window
    return Person.objects.filter(
        f.person_q(), created_at__gte=window.start, created_at__lt=window.end
    ).order_by()


def _referrers(before: dt.datetime | None = None) -> QuerySet[Person, Any]:
    """The people who referred someone who is a customer (has a won deal, won before `before`
    when given), as one column for `person__in`: a set computed once (PostgreSQL hashes it,
    SQLite materialises it) rather than an `EXISTS` run again for every customer (148k nested
    subplans at 1M deals, seconds per query)."""
    won = Deal.objects.filter(person=OuterRef("pk"), status=DealStatus.WON)
    if before is not None:
        won = won.filter(closed_at__lt=before)
    return (
        Person.objects.filter(Exists(won), referred_by__isnull=False)
        .order_by()
        .values("referred_by")
    )


def _won_in_window(f: ReportFilter) -> dict[str, Any]:
    """One pass over the deals won in the window that the filter selects: the new customers
    (purchase number 1, one per person whose first purchase falls in the window, DESIGN §4
    "Repeat purchase rate") and how far along the conveyor they have come up to now, and the
    revenue and won deals in the account currency: all, first, repeat."""
    window = f.window
    currency = str(settings.CONVEYOR_CURRENCY)
    ours = Q(currency=currency)
    first = Q(purchase_number=1)
    repeat = Q(purchase_number__gte=2)
    repeat_buyers = (
        Deal.objects.filter(status=DealStatus.WON, purchase_number__gte=2)
        .order_by()
        .values("person")
    )
    counts = Deal.objects.filter(
        f.deal_q(),
        status=DealStatus.WON,
        closed_at__gte=window.start,
        closed_at__lt=window.end,
    ).aggregate(
        # A person has one first purchase (purchase numbers are 1..n per person), so counting
        # first purchases counts people, without a DISTINCT that sorts them all.
        customers=Count("pk", filter=first),
        repeat_customers=Count("pk", filter=first & Q(person__in=repeat_buyers)),
        advocates=Count("pk", filter=first & Q(person__in=_referrers())),
        all_deals=Count("pk", filter=ours),
        first_deals=Count("pk", filter=ours & first),
        repeat_deals=Count("pk", filter=ours & repeat),
        other_currency=Count("pk", filter=~ours),
        all_revenue=Sum("amount", filter=ours),
        first_revenue=Sum("amount", filter=ours & first),
        repeat_revenue=Sum("amount", filter=ours & repeat),
    )
    for key in ("customers", "repeat_customers", "advocates"):
        counts[key] = int(counts[key] or 0)
    return counts


def _referral(f: ReportFilter) -> dict[str, int]:
    """People who are customers at `to` (a won deal the filter selects, won before `to`) and
    those of them who referred someone who was a customer by `to` too."""
    end = f.window.end
    selected = f.deal_q()
    won = Deal.objects.filter(selected, status=DealStatus.WON, closed_at__lt=end)
    referrers = Q(person__in=_referrers(before=end))
    if not selected:
        # Every won deal counts: a person won before `to` exactly when their first purchase
        # (the earliest win) was, so their first purchases count them without a DISTINCT.
        counts = won.filter(purchase_number=1).aggregate(
            customers=Count("pk"), referrers=Count("pk", filter=referrers)
        )
    else:
        counts = won.aggregate(
            customers=Count("person", distinct=True),
            referrers=Count("person", distinct=True, filter=referrers),
        )
    return {key: int(value or 0) for key, value in counts.items()}


def _rates(checks: dict[str, Any], referral: dict[str, int]) -> dict[str, Any]:
    return {
        "repeat_purchase_rate": {
            "customers": checks["customers"],
            "repeat": checks["repeat_customers"],
            "rate": rate(checks["repeat_customers"], checks["customers"]),
        },
        "target_repeat_rate": TARGET_REPEAT_RATE,
        "referral_rate": {
            "customers": referral["customers"],
            "referrers": referral["referrers"],
            "rate": rate(referral["referrers"], referral["customers"]),
        },
    }


def rates(f: ReportFilter) -> dict[str, Any]:
    """The repeat purchase rate (with the seeds' mark) and the referral rate alone, as `run`
    gives them (the dashboard shows these, not the leads it would count)."""
    return _rates(_won_in_window(f), _referral(f))


def run(f: ReportFilter) -> dict[str, Any]:
    lead_rows = leads(f)
    lead_count = lead_rows.aggregate(n=Count("pk", distinct=joins_many(lead_rows)))["n"]
    checks = _won_in_window(f)
    referral = _referral(f)
    kinds = ("all", "first", "repeat")
    return {
        "filter": f.describe(),
        "currency": str(settings.CONVEYOR_CURRENCY),
        "path": {
            "leads": lead_count,
            "customers": checks["customers"],
            "repeat_customers": checks["repeat_customers"],
            "advocates": checks["advocates"],
        },
        **_rates(checks, referral),
        "average_check": {
            kind: average(checks[f"{kind}_revenue"], checks[f"{kind}_deals"]) for kind in kinds
        },
        "won_deals": {
            **{kind: checks[f"{kind}_deals"] for kind in kinds},
            "other_currency": checks["other_currency"],
        },
        "revenue": {kind: money(checks[f"{kind}_revenue"] or 0) for kind in kinds},
    }


def _target_note(data: dict[str, Any]) -> str:
    """Where the repeat purchase rate stands against the seeds' 50% mark, in words."""
    value = data["repeat_purchase_rate"]["rate"]
    target = f"{data['target_repeat_rate']:.0%}"
    if value is None:
        return str(
            _("No first purchases in this window: nothing to compare with the %(target)s mark.")
            % {"target": target}
        )
    if value >= data["target_repeat_rate"]:
        message = _(
            "The repeat purchase rate (%(rate)s) is at or above the %(target)s mark of a "
            "healthy business."
        )
    else:
        message = _(
            "The repeat purchase rate (%(rate)s) is below the %(target)s mark of a healthy "
            "business: make customers regulars."
        )
    return str(message % {"rate": f"{value:.1%}", "target": target})


def tables(data: dict[str, Any]) -> list[Table]:
    path = data["path"]
    repeat = data["repeat_purchase_rate"]
    referral = data["referral_rate"]
    checks = data["average_check"]
    won = data["won_deals"]
    revenue = data["revenue"]
    return [
        Table(
            title=_("Conveyor path"),
            columns=(("process", _("Process")), ("stage", _("Stage")), ("people", _("People"))),
            rows=[
                {"process": _("Lead generation"), "stage": _("Leads"), "people": path["leads"]},
                {
                    "process": _("Lead conversion"),
                    "stage": _("Customers (first purchase in the window)"),
                    "people": path["customers"],
                },
                {
                    "process": _("Account management"),
                    "stage": _("Repeat customers"),
                    "people": path["repeat_customers"],
                },
                {
                    "process": _("Account management"),
                    "stage": _("Advocates (referred a customer)"),
                    "people": path["advocates"],
                },
            ],
            bar="people",
            note=_(
                "Customers, repeat customers and advocates are the people whose first purchase "
                "falls in the window, followed up to now."
            ),
        ),
        Table(
            title=_("Rates"),
            columns=(
                ("rate_name", _("Rate")),
                ("people", _("Of people")),
                ("count", _("Count")),
                ("rate", _("Rate")),
                ("target", _("Mark")),
            ),
            rows=[
                {
                    "rate_name": _("Repeat purchase rate"),
                    "people": repeat["customers"],
                    "count": repeat["repeat"],
                    "rate": repeat["rate"],
                    "target": data["target_repeat_rate"],
                },
                {
                    "rate_name": _("Referral rate (customers at the end of the window)"),
                    "people": referral["customers"],
                    "count": referral["referrers"],
                    "rate": referral["rate"],
                    "target": None,
                },
            ],
            bar="rate",
            percent=("rate", "target"),
            note=_target_note(data),
        ),
        Table(
            title=_("Average check"),
            columns=(
                ("purchase", _("Purchase")),
                ("deals", _("Won deals")),
                ("revenue", _("Revenue")),
                ("average_check", _("Average check")),
            ),
            rows=[
                {
                    "purchase": label,
                    "deals": won[kind],
                    "revenue": revenue[kind],
                    "average_check": checks[kind],
                }
                for kind, label in (
                    ("all", _("All")),
                    ("first", _("First purchase")),
                    ("repeat", _("Repeat purchase")),
                )
            ],
            bar="average_check",
            note=(
                _("In %(currency)s; %(count)s deals won in other currencies are left out.")
                % {"currency": data["currency"], "count": won["other_currency"]}
                if won["other_currency"]
                else _("In %(currency)s.") % {"currency": data["currency"]}
            ),
        ),
    ]


REPORT = Report(
    name="conveyor",
    title=_("Conveyor"),
    run=run,
    tables=tables,
    help=(
        "The whole client path LG -> LC -> AM: leads, customers, repeat customers, advocates; "
        "repeat purchase rate against the seeds' 50 percent mark, referral rate, average "
        "check first vs repeat (DESIGN §4)."
    ),
)
