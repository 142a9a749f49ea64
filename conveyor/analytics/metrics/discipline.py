"""`discipline`: the head of sales' daily check, five lists that link to the records.

- **Stalled deals** — open, with no open task: nobody planned the next step
  (`touches.selectors.stalled_deals`, DESIGN §4 "Stalled deal").
- **Rotting deals** — open and longer in their stage than its rot days
  (`touches.selectors.rotting_deals`, DESIGN §4 "Rotting deal").
- **Leads waiting** — intake records still in the inbox, received more than
  `INBOX_WAIT_HOURS` hours ago (no setting exists for this yet).
- **Managers below their rhythm** — touches in the `RHYTHM_RECENT_DAYS` days before the anchor
  against their weekly average over the `RHYTHM_BASELINE_WEEKS` weeks before that; flagged
  when below `RHYTHM_THRESHOLD_PERCENT` % of it (someone with no touches in those weeks has no
  rhythm to fall below).
- **Overdue tasks** — open tasks (neither done nor cancelled) due before now.

The lists are about **now**; the window is used only by the rhythm comparison, whose anchor is
the window's end, or now if the window ends later (so a past window asks "who had slowed down
then"). Each list shows its first `LIST_LIMIT` records (the longest waiting, or the furthest
below their rhythm, first) and counts them all.

Visibility and filters: deals as everywhere (`deal_q`); tasks by their assignee (manager, team,
viewer) and, for the pipeline / segment / source filters, their deal; touches by their user and,
likewise, their deal and person (as in the `touches` report); inbox leads are shared by every
user (as the inbox page shows them), so the manager and team filters select the leads routed to
them and the pipeline / segment / source filters the routed pipeline, the segment and the source.

Ten queries whatever the data size: a count and a page for each list, the stages with rot days,
and the touches grouped by user.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from conveyor.accounts.models import Role, User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import Report, Table
from conveyor.intake.models import Lead
from conveyor.intake.selectors import inbox
from conveyor.pipelines.models import Deal
from conveyor.touches.models import Task, Touch
from conveyor.touches.selectors import open_tasks, rotting_deals, stalled_deals

# Rows shown per list (the count covers them all).
LIST_LIMIT = 100
# A lead waiting in the inbox longer than this is late (hours; there is no setting for it yet).
INBOX_WAIT_HOURS = 24
# Touches in the last RHYTHM_RECENT_DAYS days vs the weekly average of the RHYTHM_BASELINE_WEEKS
# weeks before them; below RHYTHM_THRESHOLD_PERCENT % of that average is below one's rhythm.
RHYTHM_RECENT_DAYS = 7
RHYTHM_BASELINE_WEEKS = 8
RHYTHM_THRESHOLD_PERCENT = 70


def _reader(f: ReportFilter) -> User:
    """Whom the selectors read for: the viewer, or (the command line, which sees everything) an
    unsaved active owner, for whom the access rule selects every record."""
    return f.viewer or User(role=Role.OWNER, is_active=True)


def _listed(queryset: QuerySet[Any]) -> tuple[int, list[Any]]:
    """(how many, the first LIST_LIMIT of them): two queries."""
    return queryset.count(), list(queryset[:LIST_LIMIT])


def _days(since: dt.datetime, now: dt.datetime) -> float:
    return round((now - since).total_seconds() / 86400, 1)


def _hours(since: dt.datetime, now: dt.datetime) -> float:
    return round((now - since).total_seconds() / 3600, 1)


def _deal_row(deal: Deal, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": deal.pk,
        "deal": deal.title or deal.person.name,
        "person": deal.person.name,
        "pipeline": deal.pipeline.name,
        "stage": deal.stage.name,
        "owner": deal.owner.email if deal.owner else None,
        "in_stage_since": deal.stage_entered_at.isoformat(),
        "days_in_stage": _days(deal.stage_entered_at, now),
        "url": reverse("web:deal", args=[deal.pk]),
    }


def _deal_filter_only(f: ReportFilter, prefix: str) -> Q:
    """The pipeline / segment / source part of the filter, for rows reaching a deal through
    `prefix` (a task's assignee, not its deal's owner, stands for the manager and the viewer)."""
    return dataclasses.replace(f, viewer=None, team=None, manager=None).deal_q(prefix)


def _lead_q(f: ReportFilter) -> Q:
    q = Q()
    if f.manager is not None:
        q &= Q(routed_owner=f.manager)
    if f.team is not None:
        q &= Q(routed_owner__team=f.team)
    if f.pipeline is not None:
        q &= Q(routed_pipeline=f.pipeline)
    if f.segment is not None:
        q &= Q(segment=f.segment)
    if f.source:
        q &= Q(source=f.source)
    return q


def rhythm_anchor(f: ReportFilter, now: dt.datetime) -> dt.datetime:
    """Where the rhythm comparison ends: the window's end, or now if that comes first."""
    return min(f.window.end, now)


def _below_rhythm(f: ReportFilter, now: dt.datetime) -> tuple[int, list[dict[str, Any]]]:
    """Users whose touches in the recent days fell below RHYTHM_THRESHOLD_PERCENT % of their
    weekly average over the weeks before (one query: touches grouped by user)."""
    anchor = rhythm_anchor(f, now)
    recent_start = anchor - dt.timedelta(days=RHYTHM_RECENT_DAYS)
    baseline_start = recent_start - dt.timedelta(weeks=RHYTHM_BASELINE_WEEKS)
    per_user = (
        Touch.objects.filter(
            f.touch_q(),
            user__isnull=False,
            user__is_active=True,
            at__gte=baseline_start,
            at__lt=anchor,
        )
        .order_by()
        .values("user", "user__email", "user__name")
        .annotate(
            # Counting `at`, not ids: the (user, at) index alone answers it (index-only on
            # PostgreSQL).
            recent=Count("at", filter=Q(at__gte=recent_start)),
            before=Count("at", filter=Q(at__lt=recent_start)),
        )
    )
    rows = []
    for row in per_user:
        # Both per week, compared in integers (70% of 10 is 7, not 7.000000000000001):
        # recent * 7 / RECENT_DAYS < PERCENT / 100 * before / BASELINE_WEEKS.
        recent_scaled = 100 * row["recent"] * 7 * RHYTHM_BASELINE_WEEKS
        usual_scaled = RHYTHM_THRESHOLD_PERCENT * row["before"] * RHYTHM_RECENT_DAYS
        if row["before"] and recent_scaled < usual_scaled:
            weekly = row["before"] / RHYTHM_BASELINE_WEEKS
            recent_weekly = row["recent"] * 7 / RHYTHM_RECENT_DAYS
            params = {**f.as_params(), "manager_id": str(row["user"])}
            rows.append(
                {
                    "id": row["user"],
                    "manager": row["user__email"],
                    "name": row["user__name"],
                    "recent_touches": row["recent"],
                    "weekly_average": round(weekly, 2),
                    "ratio": round(recent_weekly / weekly, 4),
                    "url": reverse("web:report", args=["discipline"]) + "?" + urlencode(params),
                }
            )
    rows.sort(key=lambda row: (row["ratio"], row["manager"]))
    return len(rows), rows[:LIST_LIMIT]


def discipline(f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    """The five lists as of `now`."""
    reader = _reader(f)
    scope = f.deal_q()

    stalled_count, stalled = _listed(stalled_deals(reader).filter(scope))

    rotting_count, rotting = _listed(rotting_deals(reader, now).filter(scope))

    wait_cutoff = now - dt.timedelta(hours=INBOX_WAIT_HOURS)
    leads_count, leads = _listed(
        inbox(reader).filter(_lead_q(f), received_at__lt=wait_cutoff).order_by("received_at", "pk")
    )

    tasks_count, tasks = _listed(
        open_tasks()
        .filter(f.user_q("assignee__"), _deal_filter_only(f, "deal__"), due_at__lt=now)
        .select_related("assignee", "deal__person", "person")
        .order_by("due_at", "pk")
    )

    rhythm_count, rhythm = _below_rhythm(f, now)
    anchor = rhythm_anchor(f, now)

    return {
        "filter": f.describe(),
        "now": now.isoformat(),
        "stalled_deals": {
            "count": stalled_count,
            "rows": [_deal_row(deal, now) for deal in stalled],
        },
        "rotting_deals": {
            "count": rotting_count,
            "rows": [{**_deal_row(deal, now), "rot_days": deal.stage.rot_days} for deal in rotting],
        },
        "waiting_leads": {
            "count": leads_count,
            "threshold_hours": INBOX_WAIT_HOURS,
            "rows": [_lead_row(lead, now) for lead in leads],
        },
        "managers_below_rhythm": {
            "count": rhythm_count,
            "anchor": anchor.isoformat(),
            "recent_days": RHYTHM_RECENT_DAYS,
            "baseline_weeks": RHYTHM_BASELINE_WEEKS,
            "threshold": RHYTHM_THRESHOLD_PERCENT / 100,
            "rows": rhythm,
        },
        "overdue_tasks": {
            "count": tasks_count,
            "rows": [_task_row(task, now) for task in tasks],
        },
    }


def _lead_row(lead: Lead, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "lead": str(lead),
        "source": lead.source,
        "channel": lead.channel,
        "received_at": lead.received_at.isoformat(),
        "hours_waiting": _hours(lead.received_at, now),
        "routed_to": lead.routed_owner.email if lead.routed_owner else None,
        "url": reverse("web:inbox") + f"#lead-{lead.pk}",
    }


def _task_row(task: Task, now: dt.datetime) -> dict[str, Any]:
    """An overdue task, linked to its deal (or, without one, its person)."""
    person = task.deal.person if task.deal else task.person
    if task.deal_id is not None:
        url = reverse("web:deal", args=[task.deal_id])
    else:
        url = reverse("web:person-erase", args=[task.person_id])
    return {
        "id": task.pk,
        "task": task.title,
        "assignee": task.assignee.email,
        "deal_id": task.deal_id,
        "person": person.name if person else None,
        "due_at": task.due_at.isoformat(),
        "hours_overdue": _hours(task.due_at, now),
        "url": url,
    }


def run(f: ReportFilter) -> dict[str, Any]:
    return discipline(f, timezone.now())


DEAL_COLUMNS = (
    ("deal", _("Deal")),
    ("pipeline", _("Pipeline")),
    ("stage", _("Stage")),
    ("owner", pgettext_lazy("person responsible for a deal", "Owner")),
    ("days_in_stage", _("Days in stage")),
)


def _note(part: dict[str, Any], text: Any = "") -> str:
    """The table's note, with "the first N of M" when the list is cut."""
    shown = len(part["rows"])
    more = (
        _("Showing the first %(shown)s of %(count)s.") % {"shown": shown, "count": part["count"]}
        if part["count"] > shown
        else ""
    )
    return " ".join(str(piece) for piece in (text, more) if piece)


def tables(data: dict[str, Any]) -> list[Table]:
    rhythm = data["managers_below_rhythm"]
    return [
        Table(
            title=_("Deals with no next step"),
            columns=DEAL_COLUMNS,
            rows=data["stalled_deals"]["rows"],
            link="deal",
            note=_note(data["stalled_deals"], _("Open deals without an open task.")),
        ),
        Table(
            title=_("Rotting deals"),
            columns=(*DEAL_COLUMNS, ("rot_days", _("Rot after days"))),
            rows=data["rotting_deals"]["rows"],
            link="deal",
            bar="days_in_stage",
            note=_note(
                data["rotting_deals"], _("Open deals longer in their stage than its rot days.")
            ),
        ),
        Table(
            title=_("Leads waiting in the inbox"),
            columns=(
                ("lead", _("Lead")),
                ("source", _("Source")),
                ("routed_to", _("Routed to")),
                ("hours_waiting", _("Hours waiting")),
            ),
            rows=data["waiting_leads"]["rows"],
            link="lead",
            bar="hours_waiting",
            note=_note(
                data["waiting_leads"],
                _("Waiting more than %(hours)s hours.")
                % {"hours": data["waiting_leads"]["threshold_hours"]},
            ),
        ),
        Table(
            title=_("Managers below their rhythm"),
            columns=(
                ("manager", _("Manager")),
                ("recent_touches", _("Touches, last 7 days")),
                ("weekly_average", _("Usual touches per week")),
                ("ratio", _("Share of usual")),
            ),
            rows=rhythm["rows"],
            link="manager",
            percent=("ratio",),
            note=_note(
                rhythm,
                _(
                    "Touches in the %(days)s days before %(anchor)s against the weekly average "
                    "of the %(weeks)s weeks before them; listed below %(threshold)s%%."
                )
                % {
                    "days": rhythm["recent_days"],
                    "anchor": rhythm["anchor"][:10],
                    "weeks": rhythm["baseline_weeks"],
                    "threshold": round(rhythm["threshold"] * 100),
                },
            ),
        ),
        Table(
            title=_("Overdue tasks"),
            columns=(
                ("task", _("Task")),
                ("person", _("Client")),
                ("assignee", _("Assignee")),
                ("hours_overdue", _("Hours overdue")),
            ),
            rows=data["overdue_tasks"]["rows"],
            link="task",
            bar="hours_overdue",
            note=_note(data["overdue_tasks"]),
        ),
    ]


REPORT = Report(
    name="discipline",
    title=_("Daily check"),
    run=run,
    tables=tables,
    help=(
        "The head's daily check: deals with no next step, rotting deals, leads waiting in the "
        "inbox, managers below their rhythm and overdue tasks, each linked to the records."
    ),
)
