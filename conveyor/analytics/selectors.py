"""Turning a report request (ids from a form or a query string) into a `ReportFilter`.

The web page and the API share this, so an id the reader may not see is refused the same way
everywhere: as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import Role, Team, User
from conveyor.analytics.filters import ReportFilter, visible_users_q
from conveyor.analytics.models import Expense
from conveyor.analytics.reports import Report
from conveyor.core.errors import ServiceError
from conveyor.core.timewindow import add_months
from conveyor.pipelines.models import Pipeline, Segment

DEFAULT_DAYS = 90


def default_window() -> tuple[dt.date, dt.date]:
    """The last 90 days up to and including today, as a half-open window."""
    date_to = timezone.localdate() + dt.timedelta(days=1)
    return date_to - dt.timedelta(days=DEFAULT_DAYS), date_to


def month_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """This month, [its first day, the next month's first day): the dashboard's default."""
    first = today.replace(day=1)
    return first, add_months(first, 1)


def teams_for(viewer: User) -> QuerySet[Team]:
    """Teams whose numbers `viewer` may filter by: all for the owner, a head's own teams, a
    manager's own team."""
    teams = Team.objects.order_by("name")
    if viewer.role == Role.OWNER:
        return teams
    if viewer.role == Role.HEAD:
        return teams.filter(head=viewer)
    return teams.filter(pk=viewer.team_id) if viewer.team_id else teams.none()


def managers_for(viewer: User) -> QuerySet[User]:
    return User.objects.filter(visible_users_q(viewer), is_active=True).order_by("name", "email")


def report_filter(
    viewer: User,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    segment_id: int | None = None,
    pipeline_id: int | None = None,
    team_id: int | None = None,
    manager_id: int | None = None,
    source: str = "",
    report: Report | None = None,
) -> ReportFilter:
    """The filter for `viewer`; ServiceError (with the field) for a bad window or an id that
    does not exist or is not visible."""
    default_to = default_window()[1]
    date_to = date_to or (
        date_from + dt.timedelta(days=DEFAULT_DAYS) if date_from is not None else default_to
    )
    date_from = date_from or date_to - dt.timedelta(days=DEFAULT_DAYS)
    if date_from >= date_to:
        raise ServiceError(_("The start of the window must be before its end."), field="date_to")

    def pick(queryset: QuerySet[Any], pk: int | None, field: str) -> Any:
        if pk is None:
            return None
        found = queryset.filter(pk=pk).first()
        if found is None:
            raise ServiceError(_("No such record."), field=field)
        return found

    pipeline = pick(Pipeline.objects.all(), pipeline_id, "pipeline_id")
    if report is not None and report.needs_pipeline and pipeline is None:
        raise ServiceError(_("This report needs a pipeline."), field="pipeline_id")
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        viewer=viewer,
        segment=pick(Segment.objects.all(), segment_id, "segment_id"),
        pipeline=pipeline,
        team=pick(teams_for(viewer), team_id, "team_id"),
        manager=pick(managers_for(viewer), manager_id, "manager_id"),
        source=source.strip()[:64],
    )


def settings_expenses() -> QuerySet[Expense]:
    """Every expense, the latest period first."""
    return Expense.objects.order_by("-period_start", "channel", "pk")
