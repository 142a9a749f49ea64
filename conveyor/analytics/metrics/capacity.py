"""`capacity`: each manager's open deals and touches per working day against their capacity
(the glossary's "capacity": how many deals a manager can carry; `User.capacity`, "How many open
deals this person can carry").

Per active user the filter selects (managers always; heads and the owner when they carry deals
or touched clients in the window):
- `open_deals`: deals they own that are open **now** (whatever the window);
- `touches`: touches they made in the window; `touches_per_day` = touches / working days of the
  window, working days from `WorkCalendar` (CONVEYOR_WORKDAYS minus holidays) and counted only up
  to today (no touch can be made on a day still to come); None when there is none;
- `load` = open deals / capacity (a fraction, 4 places), None when the capacity is 0 (not set);
  `over_capacity`: more open deals than the capacity.

The pipeline, segment and source filters narrow both the open deals and the touches (touches
through their deal's pipeline and their person's source, as in the `touches` report).

Four queries whatever the data size: the users, open deals grouped by owner, the window's
touches grouped by user, and the window's holidays.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.calendar import WorkCalendar
from conveyor.accounts.models import Role, User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.queries import rate
from conveyor.analytics.reports import Report, Table
from conveyor.core.timewindow import account_tz
from conveyor.pipelines.models import Deal, DealStatus
from conveyor.touches.models import Touch


def working_days(date_from: dt.date, date_to: dt.date) -> int:
    """Working days in [date_from, date_to) (one query for the holidays)."""
    if date_to <= date_from:
        return 0
    span = (date_to - date_from).days
    work = WorkCalendar(date_from, days=span)
    return sum(1 for n in range(span) if work.is_workday(date_from + dt.timedelta(days=n)))


def capacity(f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    """The report as of `now` (open deals are today's; days after today are not counted)."""
    window = f.window
    tomorrow = timezone.localtime(now, account_tz()).date() + dt.timedelta(days=1)
    days = working_days(f.date_from, min(f.date_to, tomorrow))
    users = list(
        User.objects.filter(f.user_q(), is_active=True)
        .order_by("email")
        .values("pk", "email", "name", "role", "capacity", "team__name")
    )
    open_deals = dict(
        Deal.objects.filter(f.deal_q(), status=DealStatus.OPEN, owner__isnull=False)
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values_list("owner", "n")
    )
    touches = dict(
        Touch.objects.filter(
            f.touch_q(), user__isnull=False, at__gte=window.start, at__lt=window.end
        )
        .order_by()
        .values("user")
        .annotate(n=Count("pk"))
        .values_list("user", "n")
    )
    rows = []
    for user in users:
        deals = open_deals.get(user["pk"], 0)
        made = touches.get(user["pk"], 0)
        if user["role"] != Role.MANAGER and not deals and not made:
            continue
        rows.append(
            {
                "user_id": user["pk"],
                "manager": user["email"],
                "name": user["name"],
                "team": user["team__name"],
                "open_deals": deals,
                "touches": made,
                "touches_per_day": round(made / days, 2) if days else None,
                "capacity": user["capacity"],
                "load": rate(deals, user["capacity"]),
                "over_capacity": bool(user["capacity"]) and deals > user["capacity"],
            }
        )
    return {
        "filter": f.describe(),
        "working_days": days,
        "managers": rows,
        "totals": {
            "open_deals": sum(row["open_deals"] for row in rows),
            "touches": sum(row["touches"] for row in rows),
            "capacity": sum(row["capacity"] for row in rows),
            "over_capacity": sum(1 for row in rows if row["over_capacity"]),
        },
    }


def run(f: ReportFilter) -> dict[str, Any]:
    return capacity(f, timezone.now())


def tables(data: dict[str, Any]) -> list[Table]:
    return [
        Table(
            title=_("Load by manager"),
            columns=(
                ("manager", _("Manager")),
                ("team", _("Team")),
                ("open_deals", _("Open deals now")),
                ("capacity", _("Capacity")),
                ("load", _("Load")),
                ("over_capacity", _("Over capacity")),
                ("touches", _("Touches")),
                ("touches_per_day", _("Touches per working day")),
            ),
            rows=data["managers"],
            bar="load",
            percent=("load",),
            note=_(
                "Load = open deals now / capacity. Touches per working day over the %(days)s "
                "working days of the window up to today."
            )
            % {"days": data["working_days"]},
        )
    ]


REPORT = Report(
    name="capacity",
    title=_("Capacity"),
    run=run,
    tables=tables,
    help="Open deals and touches per working day per manager against their capacity.",
)
