"""Reads that join deals with their touches and tasks: the board, a deal's timeline, next steps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain

from django.db.models import (
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber

from conveyor.accounts.models import User
from conveyor.accounts.permissions import scope, visible_q
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Stage, StageChange
from conveyor.pipelines.selectors import deal_history, deals_for
from conveyor.touches.models import Task, Touch

# Cards rendered per column; the full board with lazy loading comes with the web-app issue.
CARDS_PER_COLUMN = 50


# A task still to do: neither done nor cancelled.
OPEN_TASK = Q(done_at__isnull=True, cancelled_at__isnull=True)


def open_tasks() -> QuerySet[Task]:
    return Task.objects.filter(OPEN_TASK)


def with_next_task(deals: QuerySet[Deal]) -> QuerySet[Deal]:
    """Annotate each deal with its earliest open task (title and due time), in the same query."""
    next_task = open_tasks().filter(deal=OuterRef("pk")).order_by("due_at", "pk")
    return deals.annotate(
        next_task_title=Subquery(next_task.values("title")[:1]),
        next_task_due=Subquery(next_task.values("due_at")[:1]),
    )


@dataclass
class Column:
    stage: Stage
    count: int = 0
    total: Decimal = Decimal(0)
    cards: list[Deal] = field(default_factory=list)


def board(*, pipeline: Pipeline, user: User) -> list[Column]:
    """The open deals `user` may see in `pipeline`, a column per stage with count and sum.

    Three queries whatever the size: stages, per-stage aggregates, and the first cards of
    every column (ranked per stage with a window function).
    """
    stages = list(pipeline.stages.filter(is_archived=False).order_by("position"))
    columns = {stage.pk: Column(stage=stage) for stage in stages}
    visible = deals_for(user).filter(pipeline=pipeline, status=DealStatus.OPEN)
    for row in visible.values("stage").annotate(n=Count("pk"), total=Sum("amount")).order_by():
        if row["stage"] in columns:
            columns[row["stage"]].count = row["n"]
            columns[row["stage"]].total = row["total"] or Decimal(0)
    ranked = with_next_task(visible).annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("stage_id")],
            order_by=[F("stage_entered_at").asc(), F("pk").asc()],
        )
    )
    for deal in ranked.filter(rank__lte=CARDS_PER_COLUMN).order_by("stage_entered_at", "pk"):
        if deal.stage_id in columns:
            columns[deal.stage_id].cards.append(deal)
    return list(columns.values())


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # "stage", "touch" or "task"
    item: StageChange | Touch | Task


def deal_timeline(deal: Deal) -> list[TimelineEntry]:
    """Stage changes, touches and tasks of one deal, newest first, in three queries."""
    changes = (TimelineEntry(c.at, "stage", c) for c in deal_history(deal))
    touches = (
        TimelineEntry(t.at, "touch", t)
        for t in Touch.objects.filter(deal=deal).select_related("user")
    )
    tasks = (
        TimelineEntry(t.done_at or t.due_at, "task", t)
        for t in Task.objects.filter(deal=deal).select_related("assignee")
    )
    return sorted(chain(changes, touches, tasks), key=lambda e: e.at, reverse=True)


def deal_open_tasks(deal: Deal) -> QuerySet[Task]:
    return open_tasks().filter(deal=deal).select_related("assignee").order_by("due_at")


def visible_deal(user: User, pk: int) -> Deal:
    """One deal through the access rule (DoesNotExist when missing or not visible)."""
    return deals_for(user).get(pk=pk)


def touches_for(user: User) -> QuerySet[Touch]:
    """Touches on deals the user may see, and on people without a deal the user may see."""
    on_deals = visible_q(user, owner_field="deal__owner")
    if not on_deals:  # everything (an empty Q would vanish from the OR below)
        return Touch.objects.all()
    on_people = visible_q(user, owner_field="person__owner")
    return Touch.objects.filter(
        (Q(deal__isnull=False) & on_deals) | (Q(deal__isnull=True) & on_people)
    )


def tasks_for(user: User) -> QuerySet[Task]:
    """Tasks of the assignees the user may see."""
    return scope(Task.objects.all(), user, owner_field="assignee")
