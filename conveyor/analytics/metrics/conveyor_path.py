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

Four aggregate queries whatever the data size: leads; the window's won deals (the average
check's conditional sums); its new customers with their second purchase and referred customer;
customers at `to` and the referrers among them. "Bought again" and "referred a customer (by
when)" are kept on the person (`first_won_at`, `repeat_won_at`, `referral_won_at`, in the
transaction of every change to their purchases or referrals), so no query reads every won deal
of the account to find them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
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


def first_buyers(f: ReportFilter) -> QuerySet[Person]:
    """People whose first purchase falls in the window, from what each person keeps
    (`Person.first_won_at`): the window's new customers when the filter selects every deal
    (no filter on deals), read from the `person_customer_source` index."""
    window = f.window
    return Person.objects.filter(
        first_won_at__gte=window.start, first_won_at__lt=window.end
    ).order_by()


def leads(f: ReportFilter) -> QuerySet[Person]:
    """People first recorded in the window that the filter selects (may repeat a person when
    the filter joins their deals: count distinct)."""
    window = f.window
    return Person.objects.filter(
        f.person_q(), created_at__gte=window.start, created_at__lt=window.end
    ).order_by()


def _customers(f: ReportFilter) -> dict[str, int]:
    """The window's new customers (people whose first won deal, purchase number 1, falls in
    the window, DESIGN §4 "Repeat purchase rate", selected by that deal) and how far along the
    conveyor they have come up to now: bought again, referred a customer. Both are kept on
    the person (`Person.PURCHASE_FACTS`)."""
    if not f.deal_q():
        # Every first purchase counts: each person keeps theirs, and the index answers the
        # count alone (hence counting a column of it, not the id).
        counts = first_buyers(f).aggregate(
            customers=Count("first_won_at"),
            repeat_customers=Count("first_won_at", filter=Q(repeat_won_at__isnull=False)),
            advocates=Count("first_won_at", filter=Q(referral_won_at__isnull=False)),
        )
    else:
        # A person has one first purchase (purchase numbers are 1..n per person), so counting
        # first purchases counts people, without a DISTINCT that sorts them all.
        counts = new_customer_deals(f).aggregate(
            customers=Count("pk"),
            repeat_customers=Count("pk", filter=Q(person__repeat_won_at__isnull=False)),
            advocates=Count("pk", filter=Q(person__referral_won_at__isnull=False)),
        )
    return {key: int(value or 0) for key, value in counts.items()}


def _won_in_window(f: ReportFilter) -> dict[str, Any]:
    """One pass over the deals won in the window that the filter selects: the revenue and won
    deals in the account currency, all, first purchases and repeat ones."""
    window = f.window
    currency = str(settings.CONVEYOR_CURRENCY)
    ours = Q(currency=currency)
    first = Q(purchase_number=1)
    repeat = Q(purchase_number__gte=2)
    return Deal.objects.filter(
        f.deal_q(),
        status=DealStatus.WON,
        closed_at__gte=window.start,
        closed_at__lt=window.end,
    ).aggregate(
        all_deals=Count("pk", filter=ours),
        first_deals=Count("pk", filter=ours & first),
        repeat_deals=Count("pk", filter=ours & repeat),
        other_currency=Count("pk", filter=~ours),
        all_revenue=Sum("amount", filter=ours),
        first_revenue=Sum("amount", filter=ours & first),
        repeat_revenue=Sum("amount", filter=ours & repeat),
    )


def _referral(f: ReportFilter) -> dict[str, int]:
    """People who are customers at `to` (a won deal the filter selects, won before `to`) and
    those of them who referred someone who was a customer by `to` too."""
    end = f.window.end
    selected = f.deal_q()
    if not selected:
        # Every won deal counts: a person won before `to` exactly when their first purchase
        # did, which each person keeps (the `person_customer` index answers it alone).
        counts = Person.objects.filter(first_won_at__lt=end).aggregate(
            customers=Count("first_won_at"),
            referrers=Count("first_won_at", filter=Q(referral_won_at__lt=end)),
        )
    else:
        counts = Deal.objects.filter(selected, status=DealStatus.WON, closed_at__lt=end).aggregate(
            customers=Count("person", distinct=True),
            referrers=Count("person", distinct=True, filter=Q(person__referral_won_at__lt=end)),
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
    return _rates(_customers(f), _referral(f))


def run(f: ReportFilter) -> dict[str, Any]:
    lead_rows = leads(f)
    lead_count = lead_rows.aggregate(n=Count("pk", distinct=joins_many(lead_rows)))["n"]
    checks = {**_won_in_window(f), **_customers(f)}
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
