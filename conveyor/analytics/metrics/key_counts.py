"""`key-counts`: leads, requests, key meetings, deals won and revenue in the window, in total and
per day, week or month (DESIGN §4 "Key counts", §5).

Four aggregate queries whatever the data size, each grouped by its bucket in SQL (Trunc* in the
account time zone; on SQLite by UTC quarter hour, summed into local buckets here): people first
recorded, intake records received, entries into a key-meeting stage, and won deals with their
revenue. Buckets with nothing in them are filled in here, so the series has a row for every day,
week (from Monday) or month of the window; the first and last buckets are clipped to the window.
`totals` answers the window's totals alone (the dashboard's tiles) with the same four queries
ungrouped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import CharField, Count, Func, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.db.models.functions.datetime import TruncBase
from django.utils.translation import gettext_lazy as _

from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import count_rows, joins_many, money, on_postgresql
from conveyor.analytics.reports import Option, Report, Table
from conveyor.core.timewindow import account_tz
from conveyor.intake.models import Lead
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, StageChange

PERIODS = ("day", "week", "month")
TRUNC: dict[str, type[TruncBase]] = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
COUNTS = ("leads", "requests", "key_meetings", "deals_won")


def bucket_start(day: dt.date, period: str) -> dt.date:
    """The first day of the day / week (Monday) / month holding `day`."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=1)


def buckets(date_from: dt.date, date_to: dt.date, period: str) -> Iterator[dt.date]:
    """The (unclipped) first day of every bucket meeting [date_from, date_to)."""
    start = bucket_start(date_from, period)
    while start < date_to:
        yield start
        start = next_bucket(start, period)


class QuarterHourUtc(Func):
    """SQLite: the UTC quarter hour of a stored date-time, as text 'YYYY-MM-DD HH:q' (q = 0..3),
    from the stored text itself. Django's Trunc* on SQLite call a Python function per row
    (four to six seconds for 800k people); this stays inside SQLite."""

    output_field = CharField()
    template = "substr(%(expressions)s, 1, 13) || ':' || (CAST(substr(%(expressions)s, 15, 2) AS INTEGER) / 15)"  # noqa: E501


def _quarter_start(key: str) -> dt.datetime:
    hour, quarter = key.rsplit(":", 1)
    start = dt.datetime.fromisoformat(f"{hour}:00:00+00:00")
    return start + dt.timedelta(minutes=15 * int(quarter))


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for name, value in row.items():
        if value is not None:
            into[name] = value if into.get(name) is None else into[name] + value


def _by_bucket(
    queryset: QuerySet[Any], field: str, period: str, **aggregates: Any
) -> dict[dt.date, dict[str, Any]]:
    """`queryset` grouped by the local bucket of `field`: {bucket's first day: aggregates}.

    On SQLite the rows are grouped by UTC quarter hour in SQL and the quarters summed into
    local buckets here: every time zone's offset is a whole number of quarter hours, so a
    quarter hour never straddles a local midnight. The aggregates must add up across quarters
    (counts, sums, and distinct counts of the row itself, which sits in one quarter only)."""
    tz = account_tz()
    if not on_postgresql(queryset):
        rows = (
            queryset.order_by()
            .annotate(quarter=QuarterHourUtc(field))
            .values("quarter")
            .annotate(**aggregates)
        )
        summed: dict[dt.date, dict[str, Any]] = defaultdict(dict)
        for row in rows:
            local = _quarter_start(row.pop("quarter")).astimezone(tz).date()
            _add(summed[bucket_start(local, period)], row)
        return dict(summed)
    rows = (
        queryset.order_by()
        .annotate(bucket=TRUNC[period](field, tzinfo=tz))
        .values("bucket")
        .annotate(**aggregates)
    )
    found: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        bucket = row.pop("bucket")
        day = bucket.astimezone(tz).date() if isinstance(bucket, dt.datetime) else bucket
        found[day] = row
    return found


def lead_q(f: ReportFilter) -> Q:
    """Intake records the filter selects: those of the people it selects, except that the
    source is the record's own (a request not yet accepted has no person)."""
    q = dataclasses.replace(f, source="").person_q("person__")
    if f.source:
        q &= Q(source=f.source)
    return q


def _selections(f: ReportFilter) -> dict[str, tuple[QuerySet[Any], str, dict[str, Any]]]:
    """Each count's rows in the window, the time field that places them, and its aggregates."""
    window = f.window
    currency = str(settings.CONVEYOR_CURRENCY)
    # person_q / lead_q join a person's deals for the pipeline and segment filters: then a row
    # may come back once per deal and is counted once; otherwise a plain count (DISTINCT sorts
    # or hashes every row: most of this query's time on PostgreSQL at 1M deals).
    people = Person.objects.filter(
        f.person_q(), created_at__gte=window.start, created_at__lt=window.end
    )
    received = Lead.objects.filter(
        lead_q(f), received_at__gte=window.start, received_at__lt=window.end
    )
    # Every entry into a key-meeting stage: opened there, moved or moved back there, reopened.
    meetings = StageChange.objects.filter(
        f.deal_q("deal__"),
        to_stage__is_key_meeting=True,
        at__gte=window.start,
        at__lt=window.end,
    )
    wins = Deal.objects.filter(
        f.deal_q(),
        status=DealStatus.WON,
        closed_at__gte=window.start,
        closed_at__lt=window.end,
    )
    return {
        "leads": (people, "created_at", {"n": count_rows(people, "created_at")}),
        "requests": (received, "received_at", {"n": Count("pk", distinct=joins_many(received))}),
        # `at` rather than the id: PostgreSQL then counts from the (to_stage, at) index alone.
        "key_meetings": (meetings, "at", {"n": Count("at")}),
        "wins": (
            wins,
            "closed_at",
            {
                "n": Count("pk"),
                "revenue": Sum("amount", filter=Q(currency=currency)),
                "other_currency": Count("pk", filter=~Q(currency=currency)),
            },
        ),
    }


def totals(f: ReportFilter) -> dict[str, Any]:
    """The window's totals alone, equal to `run(f)["totals"]` (the dashboard shows these): one
    plain aggregate per count, without grouping every row by its day, week or month."""
    found = {
        name: queryset.order_by().aggregate(**aggregates)
        for name, (queryset, _field, aggregates) in _selections(f).items()
    }
    wins = found["wins"]
    return {
        **{key: found[key]["n"] for key in ("leads", "requests", "key_meetings")},
        "deals_won": wins["n"],
        "revenue": money(wins["revenue"] or Decimal(0)),
        "deals_won_other_currency": wins["other_currency"],
    }


def run(f: ReportFilter, period: str = "week") -> dict[str, Any]:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    currency = str(settings.CONVEYOR_CURRENCY)
    grouped = {
        name: _by_bucket(queryset, field, period, **aggregates)
        for name, (queryset, field, aggregates) in _selections(f).items()
    }
    leads, requests, meetings, wins = (
        grouped[name] for name in ("leads", "requests", "key_meetings", "wins")
    )

    series: list[dict[str, Any]] = []
    totals: dict[str, Any] = defaultdict(int)
    revenue_total = Decimal(0)
    for start in buckets(f.date_from, f.date_to, period):
        won = wins.get(start, {})
        revenue = won.get("revenue") or Decimal(0)
        row: dict[str, Any] = {
            "start": max(start, f.date_from).isoformat(),
            "end": min(next_bucket(start, period), f.date_to).isoformat(),
            "leads": leads.get(start, {}).get("n", 0),
            "requests": requests.get(start, {}).get("n", 0),
            "key_meetings": meetings.get(start, {}).get("n", 0),
            "deals_won": won.get("n", 0),
            "revenue": money(revenue),
        }
        series.append(row)
        for key in COUNTS:
            totals[key] += row[key]
        revenue_total += revenue
        totals["deals_won_other_currency"] += won.get("other_currency", 0)
    return {
        "filter": f.describe(),
        "period": period,
        "currency": currency,
        "totals": {
            **{key: totals[key] for key in COUNTS},
            "revenue": money(revenue_total),
            # Won deals in another currency count as won but not in the revenue.
            "deals_won_other_currency": totals["deals_won_other_currency"],
        },
        "series": series,
    }


def tables(data: dict[str, Any]) -> list[Table]:
    columns = (
        ("leads", _("Leads")),
        ("requests", _("Requests")),
        ("key_meetings", _("Key meetings")),
        ("deals_won", _("Deals won")),
        ("revenue", _("Revenue")),
    )
    other = data["totals"]["deals_won_other_currency"]
    note = _("Revenue in %(currency)s.") % {"currency": data["currency"]}
    if other:
        note += " " + _(
            "%(count)s won deals in another currency are counted as won but not in the revenue."
        ) % {"count": other}
    return [
        Table(
            title=_("Key counts by period"),
            columns=(("start", _("From")), ("end", _("To (not included)")), *columns),
            rows=data["series"],
            bar="revenue",
            note=note,
        ),
        Table(title=_("Key counts: totals"), columns=columns, rows=[data["totals"]], note=note),
    ]


REPORT = Report(
    name="key-counts",
    title=_("Key counts"),
    run=run,
    tables=tables,
    help=(
        "Leads, requests, key meetings, deals won and revenue in the window, in total and per "
        "day, week or month (DESIGN §4)."
    ),
    options={
        "period": Option(
            default="week",
            help=_("Period"),
            choices=PERIODS,
            labels={"day": _("day"), "week": _("week"), "month": _("month")},
        ),
    },
)
