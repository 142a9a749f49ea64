"""The agenda: the user's own open tasks (overdue, today, the next days) with one-click "done"
and "later", a prompt to plan the next task when a deal is left without one, and the iCalendar
feed of the same tasks for calendar apps (`/calendar/<key>.ics`, no login: the key is the
credential). Services do the work; this module parses the request and picks the answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST, require_safe
from icalendar import Calendar, Event

from conveyor.accounts.models import User
from conveyor.core.errors import ServiceError
from conveyor.core.timewindow import account_tz
from conveyor.pipelines.models import DealStatus
from conveyor.touches.models import ClosingStep, Outcome, Task, TouchKind
from conveyor.touches.selectors import (
    agenda,
    calendar_feed_url,
    calendar_owner,
    calendar_tasks,
    deal_is_stalled,
    tasks_for,
)
from conveyor.touches.services import (
    calendar_key_reset,
    preset_due,
    task_complete,
    task_reschedule,
    task_schedule,
)
from conveyor.web.forms import add_service_error
from conveyor.web.views.deals import outcome_offer

# How long a task lasts in the calendar feed (tasks have a due time, not a length).
EVENT_LENGTH = dt.timedelta(minutes=15)
UPCOMING_DAYS = 7

# --- Forms (input parsing only) ------------------------------------------------------------------


class CompleteTaskForm(forms.Form):
    """ "Done" on a closing task says which step the client was asked for and what came of it;
    on a warming task it has no fields at all (one click)."""

    step = forms.ChoiceField(
        label=gettext_lazy("Step asked for"),
        choices=[("", "—"), *ClosingStep.choices],
        required=False,
    )
    step_note = forms.CharField(
        label=gettext_lazy("Custom step (for “Other step”)"), max_length=120, required=False
    )
    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"), choices=[("", "—"), *Outcome.choices], required=False
    )
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, task: Task, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"done-{task.pk}-%s")
        super().__init__(*args, **kwargs)
        if task.kind != TouchKind.CLOSING:
            self.fields.clear()


PRESETS = [
    ("hour", gettext_lazy("+1 hour")),
    ("tomorrow", gettext_lazy("Tomorrow")),
    ("week", gettext_lazy("Next week")),
]


class RescheduleForm(forms.Form):
    preset = forms.ChoiceField(label=gettext_lazy("Move to"), choices=PRESETS)


class PlanNextForm(forms.Form):
    """The next task of a deal left without one (warming, by call: the deal page plans others)."""

    title = forms.CharField(label=gettext_lazy("Next task"), max_length=200)
    due_at = forms.DateTimeField(
        label=gettext_lazy("Due"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "plan-%s")
        super().__init__(*args, **kwargs)


def _next_task_initial(now: dt.datetime) -> dict[str, Any]:
    """Tomorrow at the account's usual task hour."""
    day = timezone.localdate(now) + dt.timedelta(days=1)
    due = dt.datetime.combine(day, dt.time(settings.CONVEYOR_TASK_HOUR), tzinfo=account_tz())
    return {"due_at": due}


# --- The page ------------------------------------------------------------------------------------


@dataclass
class Row:
    task: Task
    done_form: CompleteTaskForm
    alerts: list[str] = field(default_factory=list)  # why the last action on it was refused


@dataclass
class Failed:
    """An action on one task the services refused: its bound form and the messages to show."""

    task_id: int
    form: forms.Form

    def alerts(self, *, shown_with_fields: bool) -> list[str]:
        """The messages to show above the task: errors on the done form's fields show at the
        fields when the form is on the page, so they are left out then."""
        at_fields = (
            set(self.form.fields)
            if shown_with_fields and isinstance(self.form, CompleteTaskForm)
            else set()
        )
        return [
            str(message)
            for name, errors in self.form.errors.items()
            if name not in at_fields
            for message in errors
        ]


def _about(task: Task) -> str:
    """Who a task is about: the deal's client and title, or the person."""
    if task.deal is not None:
        name, title = task.deal.person.name, task.deal.title
        return f"{name} — {title}" if title else name
    return task.person.name if task.person is not None else ""


def _plan_task(user: User, raw_pk: str | None) -> Task | None:
    """The task (`?next_for=<pk>`, just done) whose open deal wants a next one, if visible."""
    if not raw_pk or not raw_pk.isdigit():
        return None
    return (
        tasks_for(user)
        .select_related("deal__person")
        .filter(pk=int(raw_pk), deal__status=DealStatus.OPEN)
        .first()
    )


def _rows(tasks: list[Task], failed: Failed | None) -> list[Row]:
    """Each task with its "done" form; the one whose action was refused keeps its bound form."""
    rows = []
    for task in tasks:
        row = Row(task=task, done_form=CompleteTaskForm(task=task))
        if failed is not None and failed.task_id == task.pk:
            if isinstance(failed.form, CompleteTaskForm):
                row.done_form = failed.form
            row.alerts = failed.alerts(shown_with_fields=True)
        rows.append(row)
    return rows


def _render(
    request: HttpRequest,
    *,
    failed: Failed | None = None,
    plan_task: Task | None = None,
    plan_form: PlanNextForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    now = timezone.now()
    today = agenda(user=user, now=now, upcoming_days=UPCOMING_DAYS)
    upcoming = ngettext("Next %(days)s day", "Next %(days)s days", UPCOMING_DAYS) % {
        "days": UPCOMING_DAYS
    }
    groups = [
        ("overdue", _("Overdue"), _rows(today.overdue, failed)),
        ("today", _("Today"), _rows(today.today, failed)),
        ("upcoming", upcoming, _rows(today.upcoming, failed)),
    ]
    shown = {row.task.pk for _key, _heading, rows in groups for row in rows}
    # A refusal about a task no longer on the agenda (done meanwhile, moved further) shows on top.
    page_alerts = (
        failed.alerts(shown_with_fields=False) if failed and failed.task_id not in shown else []
    )
    if plan_task is None:
        plan_task = _plan_task(user, request.GET.get("next_for"))
    if plan_task is not None and plan_form is None:
        plan_form = PlanNextForm(initial=_next_task_initial(now))
    feed_url = calendar_feed_url(request, user) or ""
    context = {
        "groups": groups,
        "page_alerts": page_alerts,
        "presets": PRESETS,
        "plan_task": plan_task,
        "plan_form": plan_form,
        "plan_about": _about(plan_task) if plan_task is not None else "",
        "feed_url": feed_url,
    }
    response = render(request, "web/agenda/agenda.html", context, status=status)
    # The page shows the secret calendar address: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def agenda_view(request: HttpRequest) -> HttpResponse:
    return _render(request)


def _done(request: HttpRequest, user: User, task: Task) -> HttpResponse:
    form = CompleteTaskForm(request.POST, task=task)
    if form.is_valid():
        try:
            task_complete(task_id=task.pk, by=user, **form.cleaned_data)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Done: %(title)s.") % {"title": task.title})
            outcome = form.cleaned_data.get("outcome", "")
            offer = outcome_offer(request, task.deal, outcome) if task.deal else None
            if offer is not None:  # the client's answer comes before planning the next task
                return offer
            if deal_is_stalled(task.deal):
                messages.info(
                    request,
                    _("%(about)s has no next task now: plan one so the deal does not stall.")
                    % {"about": _about(task)},
                )
                query = urlencode({"next_for": task.pk})
                return redirect(f"{reverse('web:agenda')}?{query}#plan")
            return redirect("web:agenda")
    return _render(request, failed=Failed(task.pk, form), status=400)


def _reschedule(request: HttpRequest, user: User, task: Task) -> HttpResponse:
    form = RescheduleForm(request.POST)
    if form.is_valid():
        due_at = preset_due(form.cleaned_data["preset"], due_at=task.due_at, now=timezone.now())
        try:
            task_reschedule(task_id=task.pk, by=user, due_at=due_at)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            when = formats.date_format(timezone.localtime(due_at), "SHORT_DATETIME_FORMAT")
            messages.success(
                request, _("%(title)s moved to %(when)s.") % {"title": task.title, "when": when}
            )
            return redirect("web:agenda")
    return _render(request, failed=Failed(task.pk, form), status=400)


def _plan(request: HttpRequest, user: User, task: Task) -> HttpResponse:
    """Plan the task that follows `task` on its deal, for the deal's owner (as the deal page
    does)."""
    deal = task.deal
    if deal is None:
        raise Http404
    form = PlanNextForm(request.POST)
    if form.is_valid():
        try:
            task_schedule(
                by=user,
                assignee=deal.owner or user,
                deal=deal,
                title=form.cleaned_data["title"],
                due_at=form.cleaned_data["due_at"],
            )
        except ServiceError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Next task planned."))
            return redirect("web:agenda")
    plan_task = _plan_task(user, str(task.pk))
    if plan_task is None:  # the deal was closed meanwhile: say why above the agenda
        return _render(request, failed=Failed(task.pk, form), status=400)
    return _render(request, plan_task=plan_task, plan_form=form, status=400)


ACTIONS: dict[str, Callable[[HttpRequest, User, Task], HttpResponse]] = {
    "done": _done,
    "reschedule": _reschedule,
    "plan": _plan,
}


@login_required
@require_POST
def agenda_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One endpoint per task action; a task the user may not see looks missing (404)."""
    if action not in ACTIONS:
        raise Http404
    user: User = request.user  # type: ignore[assignment]
    try:
        task = tasks_for(user).select_related("deal__person", "person").get(pk=pk)
    except Task.DoesNotExist as exc:
        raise Http404 from exc
    return ACTIONS[action](request, user, task)


@login_required
@require_POST
def calendar_key_view(request: HttpRequest) -> HttpResponse:
    """Create the calendar feed address, or replace it (the old one stops working)."""
    user: User = request.user  # type: ignore[assignment]
    had_key = bool(user.calendar_key)
    try:
        calendar_key_reset(user=user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("New calendar address made; the old one no longer works.")
            if had_key
            else _("Calendar address made: add it to your calendar app."),
        )
    return redirect(f"{reverse('web:agenda')}#calendar")


# --- The iCalendar feed --------------------------------------------------------------------------


def _task_url(request: HttpRequest, task: Task) -> str:
    if task.deal_id is not None:
        return request.build_absolute_uri(reverse("web:deal", args=[task.deal_id]))
    return request.build_absolute_uri(reverse("web:person-erase", args=[task.person_id]))


@require_safe
def calendar_feed(request: HttpRequest, key: str) -> HttpResponse:
    """The key holder's open tasks from a month ago to three months ahead, as iCalendar.

    No login (calendar apps cannot): the address is the credential. An unknown key and the key
    of a deactivated user get the same plain 404.
    """
    user = calendar_owner(key)
    if user is None:
        raise Http404
    now = timezone.now()
    calendar = Calendar.new(
        name=_("Conveyor: tasks of %(name)s") % {"name": user.get_full_name()},
        prodid="-//Conveyor//Agenda//EN",
        uid=f"calendar-{user.pk}@conveyor",
    )
    for task in calendar_tasks(user=user, now=now):
        link = _task_url(request, task)
        details = f"{task.get_kind_display()} · {task.get_channel_display()}"
        event = Event.new(
            uid=f"task-{task.pk}@conveyor",
            start=task.due_at.astimezone(dt.UTC),
            summary=task.title,
            description="\n".join([_about(task), details, link]),
            url=link,
            stamp=now.astimezone(dt.UTC),
        )
        event.add("duration", EVENT_LENGTH)
        calendar.add_component(event)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response
