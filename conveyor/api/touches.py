"""`/api/v1/touches` (log one, list) and `/api/v1/tasks` (plan, list, complete, reschedule)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from conveyor.accounts.models import User
from conveyor.api.auth import api_user
from conveyor.api.errors import ApiError, chosen, fields_as_sent
from conveyor.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, filtered, page
from conveyor.api.types import BodyIn, Id, IsoDatetime, Text
from conveyor.people.models import Person
from conveyor.people.selectors import people_for
from conveyor.pipelines.models import Deal
from conveyor.touches.models import Channel, ClosingStep, Direction, Outcome, Task, Touch, TouchKind
from conveyor.touches.selectors import OPEN_TASK, tasks_for, touches_for, visible_deal
from conveyor.touches.services import (
    preset_due,
    task_complete,
    task_reschedule,
    task_schedule,
    touch_log,
)

TouchOrdering = Literal["id", "-id", "at", "-at"]
TaskOrdering = Literal["id", "-id", "due_at", "-due_at"]
# The agenda's "+1 hour", "Tomorrow", "Next week" (`preset_due`).
ReschedulePreset = Literal["hour", "tomorrow", "week"]


router = Router()
tasks_router = Router()


class TouchOut(Schema):
    id: int
    deal_id: Id | None
    person_id: Id
    user_id: Id | None
    at: IsoDatetime
    kind: str
    channel: str
    direction: str
    step: str
    step_note: str
    outcome: str
    note: str


class TouchPage(Schema):
    items: list[TouchOut]
    next_cursor: str | None


class TouchFilters(Schema):
    deal_id: Id | None = None
    person_id: Id | None = None
    user_id: Id | None = None
    kind: TouchKind | None = None


class TouchIn(BodyIn):
    deal_id: Id | None = Field(None, description="The deal, or…")
    person_id: Id | None = Field(None, description="…a person without a deal.")
    kind: TouchKind
    channel: Channel = Channel.CALL
    direction: Direction = Direction.OUTGOING
    step: ClosingStep | None = Field(None, description="Closing touches: the step asked for.")
    step_note: Text = Field("", max_length=120)
    outcome: Outcome | None = Field(None, description="Closing touches: what came of it.")
    note: Text = Field("", max_length=5000)
    at: IsoDatetime | None = None


class TaskOut(Schema):
    id: int
    deal_id: Id | None
    person_id: Id | None
    assignee_id: Id
    title: str
    due_at: IsoDatetime
    kind: str
    channel: str
    created_at: IsoDatetime
    done_at: dt.datetime | None
    cancelled_at: dt.datetime | None


class TaskPage(Schema):
    items: list[TaskOut]
    next_cursor: str | None


class TaskFilters(Schema):
    deal_id: Id | None = None
    person_id: Id | None = None
    assignee_id: Id | None = None


class TaskIn(BodyIn):
    deal_id: Id | None = None
    person_id: Id | None = None
    assignee_id: Id | None = Field(None, description="Default: the caller.")
    title: Text = Field(..., min_length=1, max_length=200)
    due_at: IsoDatetime
    kind: TouchKind = TouchKind.WARMING
    channel: Channel = Channel.CALL


class TaskDoneIn(BodyIn):
    note: Text = Field("", max_length=5000)
    step: ClosingStep | None = None
    step_note: Text = Field("", max_length=120)
    outcome: Outcome | None = None


class TaskRescheduleIn(BodyIn):
    preset: ReschedulePreset | None = Field(
        None,
        description=(
            "As the agenda moves a task: `hour` is an hour after the later of now and its due "
            "time; `tomorrow` and `week` are 1 and 7 days from today at its time of day."
        ),
    )
    due_at: IsoDatetime | None = Field(None, description="…or an exact time (with its offset).")


def _subject(
    user: User, deal_id: Id | None, person_id: Id | None
) -> tuple[Deal | None, Person | None]:
    if (deal_id is None) == (person_id is None):
        raise ApiError(
            422,
            _("Give either deal_id or person_id."),
            fields={"deal_id": [_("Give either deal_id or person_id.")]},
        )
    if deal_id is not None:
        return visible_deal(user, deal_id), None
    assert person_id is not None
    return None, people_for(user).select_related("owner").get(pk=person_id)


@router.get("", response=TouchPage, summary="List touches")
def touch_list(
    request: HttpRequest,
    filters: Query[TouchFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: TouchOrdering = "-at",
) -> dict[str, Any]:
    queryset = filtered(touches_for(api_user(request)), filters)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


# A service's refusal names the deal or person by model; the request sends their ids.
SUBJECT_AS_SENT = {"deal": "deal_id", "person": "person_id"}


@router.post("", response={201: TouchOut}, summary="Log a touch")
def touch_add(request: HttpRequest, payload: TouchIn) -> Status[Touch]:
    user = api_user(request)
    deal, person = _subject(user, payload.deal_id, payload.person_id)
    with fields_as_sent(SUBJECT_AS_SENT):
        touch = touch_log(
            by=user,
            kind=payload.kind,
            deal=deal,
            person=person,
            channel=payload.channel,
            direction=payload.direction,
            step=payload.step or "",
            step_note=payload.step_note,
            outcome=payload.outcome or "",
            note=payload.note,
            at=payload.at,
        )
    return Status(201, touch)


@tasks_router.get("", response=TaskPage, summary="List tasks")
def task_list(
    request: HttpRequest,
    filters: Query[TaskFilters],
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ordering: TaskOrdering = "due_at",
    open: bool | None = None,
) -> dict[str, Any]:
    queryset = filtered(tasks_for(api_user(request)), filters)
    if open is not None:
        queryset = queryset.filter(OPEN_TASK if open else ~OPEN_TASK)
    items, next_cursor = page(queryset, cursor=cursor, limit=limit, ordering=ordering)
    return {"items": items, "next_cursor": next_cursor}


@tasks_router.post("", response={201: TaskOut}, summary="Plan a task")
def task_add(request: HttpRequest, payload: TaskIn) -> Status[Task]:
    user = api_user(request)
    deal, person = _subject(user, payload.deal_id, payload.person_id)
    assignee = chosen(User, payload.assignee_id, "assignee_id", _("No such user.")) or user
    with fields_as_sent({**SUBJECT_AS_SENT, "assignee": "assignee_id"}):
        task = task_schedule(
            by=user,
            assignee=assignee,
            title=payload.title,
            due_at=payload.due_at,
            deal=deal,
            person=person,
            kind=payload.kind,
            channel=payload.channel,
        )
    return Status(201, task)


@tasks_router.post("/{task_id}/complete", response=TaskOut, summary="Complete a task")
def task_done(request: HttpRequest, task_id: Id, payload: TaskDoneIn) -> Task:
    user = api_user(request)
    task = tasks_for(user).get(pk=task_id)
    return task_complete(
        task_id=task.pk,
        by=user,
        note=payload.note,
        step=payload.step or "",
        step_note=payload.step_note,
        outcome=payload.outcome or "",
    )


@tasks_router.post(
    "/{task_id}/reschedule",
    response=TaskOut,
    summary="Move an open task to another time",
    description="Give either `preset` (as the agenda's buttons) or `due_at`.",
)
def task_move(request: HttpRequest, task_id: Id, payload: TaskRescheduleIn) -> Task:
    user = api_user(request)
    task = tasks_for(user).get(pk=task_id)
    if (payload.preset is None) == (payload.due_at is None):
        message = _("Give either preset or due_at.")
        raise ApiError(422, message, fields={"preset": [message]})
    due_at = payload.due_at
    if payload.preset is not None:
        due_at = preset_due(payload.preset, due_at=task.due_at, now=timezone.now())
    assert due_at is not None
    return task_reschedule(task_id=task.pk, by=user, due_at=due_at)
