"""Reads that join deals with their touches and tasks: the board, a deal's timeline, next steps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from conveyor.accounts.models import User
from conveyor.accounts.permissions import scope, visible_q
from conveyor.core.timewindow import start_of_day
from conveyor.people.models import Person
from conveyor.people.selectors import person_search_q
from conveyor.pipelines.models import (
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Stage,
    StageChange,
)
from conveyor.pipelines.selectors import deal_history, deals_for
from conveyor.touches.models import Cadence, CadenceRun, CadenceStep, Task, Touch, TouchKind

# Cards per board column on the page, and per "Show more" of one column.
CARDS_PER_COLUMN = 20


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


# --- The board: a column per stage, its cards paged by (stage_entered_at, pk) ------------------

# Where a column's next page starts: the last card shown's (stage_entered_at, pk).
Cursor = tuple[dt.datetime, int]


@dataclass(frozen=True)
class BoardFilter:
    """What the board is narrowed to, on top of what the viewer may see: the deal's owner, the
    person's source and temperature, and a search over the person's name, e-mail and phone."""

    owner: User | None = None
    source: str = ""
    temperature: str = ""
    search: str = ""

    @property
    def narrows(self) -> bool:
        return self.owner is not None or bool(
            self.source or self.temperature or self.search.strip()
        )

    def q(self) -> Q:
        q = Q()
        if self.owner is not None:
            q &= Q(owner=self.owner)
        if self.source:
            q &= Q(person__source=self.source)
        if self.temperature:
            q &= Q(person__temperature=self.temperature)
        if self.search.strip():
            q &= person_search_q(self.search.strip(), prefix="person__")
        return q


@dataclass
class Column:
    stage: Stage
    count: int = 0
    total: Decimal = Decimal(0)
    cards: list[Deal] = field(default_factory=list)

    @property
    def next_cursor(self) -> Cursor | None:
        """Where "Show more" starts: after the last card shown, when the column holds more."""
        if self.count > len(self.cards) and self.cards:
            return cursor_of(self.cards[-1])
        return None


@dataclass
class CardPage:
    """One page of a column's cards and where the next one starts (None: this was the last)."""

    cards: list[Deal]
    next_cursor: Cursor | None


def cursor_of(deal: Deal) -> Cursor:
    return (deal.stage_entered_at, deal.pk)


def board_deals(*, pipeline: Pipeline, user: User, filters: BoardFilter) -> QuerySet[Deal]:
    """The open deals of `pipeline` that `user` may see and `filters` select."""
    return deals_for(user).filter(pipeline=pipeline, status=DealStatus.OPEN).filter(filters.q())


def board_totals(
    *, pipeline: Pipeline, user: User, filters: BoardFilter, stage_ids: list[int] | None = None
) -> dict[int, tuple[int, Decimal]]:
    """Count and sum of the board's deals per stage (`stage_ids` only, when given); one query."""
    deals = board_deals(pipeline=pipeline, user=user, filters=filters)
    if stage_ids is not None:
        deals = deals.filter(stage_id__in=stage_ids)
    return {
        row["stage"]: (row["n"], row["total"] or Decimal(0))
        for row in deals.values("stage").annotate(n=Count("pk"), total=Sum("amount")).order_by()
    }


def _after(cursor: Cursor | None) -> Q:
    if cursor is None:
        return Q()
    at, pk = cursor
    return Q(stage_entered_at__gt=at) | Q(stage_entered_at=at, pk__gt=pk)


def _first_ids(
    deals: QuerySet[Deal], stage_ids: list[int], limit: int, after: Cursor | None
) -> RawSQL:
    """The ids of the first `limit` deals of each stage (after `after`), as one subquery.

    Each stage's page is its own `ORDER BY ... LIMIT` over that stage's rows (an index range,
    a top-N sort), glued with UNION ALL; each sits in a derived table because SQLite allows no
    LIMIT directly in a compound's parts. Ranking the whole pipeline with a window function
    instead sorts every open deal of it on each request.
    """
    parts: list[str] = []
    params: list[object] = []
    for n, stage_id in enumerate(stage_ids):
        page = (
            deals.filter(stage_id=stage_id)
            .filter(_after(after))
            .order_by("stage_entered_at", "pk")
            .values("pk")[:limit]
        )
        sql, page_params = page.query.sql_with_params()
        # Django's own SQL for the queryset, values kept as parameters.
        parts.append(f"SELECT * FROM ({sql}) AS page_{n}")  # noqa: S608
        params.extend(page_params)
    return RawSQL(" UNION ALL ".join(parts), params)  # noqa: S611


def _ranked_ids(deals: QuerySet[Deal], limit: int, after: Cursor | None) -> QuerySet[Any, Any]:
    """The same ids as `_first_ids`, ranked per stage by a window function over `deals`.

    For a filtered board: the few deals the filter leaves are read once and ranked, where one
    page per stage would look the filter up again in every stage.
    """
    ranked = deals.filter(_after(after)).annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("stage_id")],
            order_by=[F("stage_entered_at").asc(), F("pk").asc()],
        )
    )
    return ranked.filter(rank__lte=limit).values("pk")


def _cards(ids: RawSQL | QuerySet[Any, Any], stages: list[Stage]) -> list[Deal]:
    """The deals `ids` selects, as cards: person, owner, next task and rot flag, in one query
    (the next-task subqueries run for these cards only)."""
    cards = list(
        with_next_task(Deal.objects.filter(pk__in=ids))
        .select_related("person", "owner")
        .order_by("stage_entered_at", "pk")
    )
    _flag_rotting(cards, stages)
    return cards


def _flag_rotting(cards: list[Deal], stages: list[Stage]) -> None:
    cutoffs = rot_cutoffs(stages, timezone.now())
    for deal in cards:
        cutoff = cutoffs.get(deal.stage_id)
        deal.is_rotting = cutoff is not None and deal.stage_entered_at < cutoff  # type: ignore[attr-defined]


def board(
    *,
    pipeline: Pipeline,
    user: User,
    filters: BoardFilter | None = None,
    stages: list[Stage] | None = None,
    per_column: int = CARDS_PER_COLUMN,
) -> list[Column]:
    """The open deals `user` may see in `pipeline` (narrowed by `filters`), a column per stage
    with count, sum and the first `per_column` cards.

    Three queries whatever the size (two when `stages`, the pipeline's open stages in order,
    are given): stages, per-stage aggregates, and the first cards of every column (a page per
    stage; ranked with a window function when a filter leaves few deals to rank).
    """
    filters = filters or BoardFilter()
    if stages is None:
        stages = list(pipeline.stages.filter(is_archived=False).order_by("position"))
    columns = {stage.pk: Column(stage=stage) for stage in stages}
    if not columns:
        return []
    for stage_id, (count, total) in board_totals(
        pipeline=pipeline, user=user, filters=filters
    ).items():
        if stage_id in columns:
            columns[stage_id].count, columns[stage_id].total = count, total
    deals = board_deals(pipeline=pipeline, user=user, filters=filters)
    ids = (
        _ranked_ids(deals, per_column, None)
        if filters.narrows
        else _first_ids(deals, list(columns), per_column, None)
    )
    for deal in _cards(ids, stages):
        columns[deal.stage_id].cards.append(deal)
    return list(columns.values())


def board_page(
    *,
    pipeline: Pipeline,
    stage: Stage,
    user: User,
    filters: BoardFilter | None = None,
    after: Cursor | None = None,
    per_page: int = CARDS_PER_COLUMN,
) -> CardPage:
    """The next `per_page` cards of one column after `after` (keyset pagination: the page
    stays right when cards before it move away meanwhile); one query."""
    deals = board_deals(pipeline=pipeline, user=user, filters=filters or BoardFilter())
    cards = _cards(_first_ids(deals, [stage.pk], per_page + 1, after), [stage])
    more = len(cards) > per_page
    cards = cards[:per_page]
    return CardPage(cards=cards, next_cursor=cursor_of(cards[-1]) if more else None)


def board_card(*, user: User, pk: int) -> Deal:
    """One deal as a board card (DoesNotExist when missing or not visible); one query."""
    deal = with_next_task(deals_for(user).filter(pk=pk)).get()
    _flag_rotting([deal], [deal.stage])
    return deal


def board_sources() -> list[str]:
    """The lead sources people were recorded with, for the board's filter (one query).

    A handful of distinct values among every person: rather than reading all the people
    (`SELECT DISTINCT` scans the table on PostgreSQL), the query steps from one value to the
    next through the index on `source` (a "loose index scan"), a few index probes in all.
    """
    quote = connection.ops.quote_name
    table, column = quote(Person._meta.db_table), quote(Person._meta.get_field("source").column)
    # Only the model's own table and column names are put into the SQL.
    sql = (
        f"WITH RECURSIVE sources(value) AS ("  # noqa: S608
        f" SELECT MIN({column}) FROM {table} WHERE {column} > %s"
        f" UNION ALL"
        f" SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > sources.value)"
        f" FROM sources WHERE sources.value IS NOT NULL"
        f") SELECT value FROM sources WHERE value IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [""])
        return [row[0] for row in cursor.fetchall()]


def board_loss_reasons(pipeline: Pipeline) -> list[LossReason]:
    """The active loss reasons of the pipeline's catalogue (and the shared ones), each with the
    stages it is limited to prefetched (two queries): the board's loss dialog."""
    return list(
        LossReason.objects.filter(Q(pipeline__isnull=True) | Q(pipeline=pipeline), is_active=True)
        .prefetch_related("stages")
        .order_by("name")
    )


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


def rot_cutoffs(stages: list[Stage], now: dt.datetime) -> dict[int, dt.datetime]:
    """For each stage with rot days: deals that entered it before this time are rotting."""
    return {
        stage.pk: now - dt.timedelta(days=stage.rot_days)
        for stage in stages
        if stage.rot_days is not None
    }


def deal_is_stalled(deal: Deal | None) -> bool:
    """An open deal with nothing planned (the definition `stalled_deals` lists by)."""
    return (
        deal is not None
        and deal.status == DealStatus.OPEN
        and not open_tasks().filter(deal=deal).exists()
    )


def stalled_deals(user: User) -> QuerySet[Deal]:
    """Open deals the user may see with no open task: nobody has planned the next step."""
    return (
        deals_for(user)
        .filter(status=DealStatus.OPEN)
        .exclude(Exists(open_tasks().filter(deal=OuterRef("pk"))))
        .order_by("stage_entered_at", "pk")
    )


def rotting_q(stages: QuerySet[Stage], now: dt.datetime) -> Q:
    """Deals sitting in one of `stages` longer than its rot days (one query for the stages)."""
    rotting = Q(pk__in=[])
    for stage_id, cutoff in rot_cutoffs(list(stages.filter(rot_days__isnull=False)), now).items():
        rotting |= Q(stage_id=stage_id, stage_entered_at__lt=cutoff)
    return rotting


def rotting_deals(user: User, now: dt.datetime) -> QuerySet[Deal]:
    """Open deals longer in their stage than its rot days (two queries: stages, then deals)."""
    rotting = rotting_q(Stage.objects.all(), now)
    return with_next_task(deals_for(user).filter(status=DealStatus.OPEN).filter(rotting)).order_by(
        "stage_entered_at", "pk"
    )


@dataclass(frozen=True)
class Rhythm:
    """The deal's touches so far against the 5:1 warming-to-closing rhythm of the seeds."""

    warming: int
    closing: int
    per_closing: int
    # Warming touches before the latest closing touch (since the closing touch before it).
    warming_before_last_closing: int | None
    first_sale: bool
    is_open: bool

    @property
    def total(self) -> int:
        return self.warming + self.closing

    @property
    def closing_too_early(self) -> bool:
        """The latest touch pushed for a step after too little warming."""
        return (
            self.warming_before_last_closing is not None
            and self.warming_before_last_closing < self.per_closing
        )

    @property
    def too_many_touches(self) -> bool:
        """A first sale past 12 touches with no result: rethink it rather than touch again."""
        return self.first_sale and self.is_open and self.total > FIRST_SALE_MAX_TOUCHES


# The seeds: a first sale takes 5 to 12 touches.
FIRST_SALE_MAX_TOUCHES = 12
DEFAULT_WARMING_PER_CLOSING = 5


def rhythm(deal: Deal) -> Rhythm:
    """Count the deal's touches by kind (three queries: touches, cadence, first-sale check)."""
    kinds = list(
        Touch.objects.filter(deal=deal).order_by("at", "pk").values_list("kind", flat=True)
    )
    warming = kinds.count(TouchKind.WARMING)
    before_last: int | None = None
    if kinds and kinds[-1] == TouchKind.CLOSING:
        before_last = 0
        for kind in reversed(kinds[:-1]):
            if kind == TouchKind.CLOSING:
                break
            before_last += 1
    cadence = (
        Cadence.objects.filter(
            Q(runs__deal=deal, runs__stopped_at__isnull=True) | Q(is_default=True)
        )
        .order_by("is_default", "pk")
        .values_list("warming_per_closing", flat=True)
        .first()
    )
    first_sale = (
        not Deal.objects.filter(person_id=deal.person_id, status=DealStatus.WON)
        .exclude(pk=deal.pk)
        .exists()
    )
    return Rhythm(
        warming=warming,
        closing=len(kinds) - warming,
        per_closing=cadence or DEFAULT_WARMING_PER_CLOSING,
        warming_before_last_closing=before_last,
        first_sale=first_sale,
        is_open=deal.status == DealStatus.OPEN,
    )


@dataclass(frozen=True)
class CadenceProgress:
    """Where a deal is in one running cadence."""

    run: CadenceRun
    done: int
    total: int
    next_task: Task | None


def cadence_progress(deal: Deal) -> list[CadenceProgress]:
    """The deal's running cadences with their step counts and next step (two queries)."""
    runs = (
        CadenceRun.objects.filter(deal=deal, stopped_at__isnull=True)
        .select_related("cadence")
        .prefetch_related(
            Prefetch(
                "tasks",
                queryset=Task.objects.select_related("cadence_step").order_by("due_at", "pk"),
            )
        )
    )
    progress = []
    for run in runs:
        tasks = list(run.tasks.all())
        waiting = [task for task in tasks if task.is_open]
        progress.append(
            CadenceProgress(
                run=run,
                done=sum(1 for task in tasks if task.done_at is not None),
                total=len(tasks),
                next_task=waiting[0] if waiting else None,
            )
        )
    return progress


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


# --- The agenda: one user's own open tasks by day, and the calendar feed of them -----------------

# What the calendar feed (`/calendar/<key>.ics`) carries around now: a month back, a quarter ahead.
CALENDAR_PAST = dt.timedelta(days=30)
CALENDAR_AHEAD = dt.timedelta(days=90)


@dataclass(frozen=True)
class Agenda:
    """Open tasks of one user: due before today, due today, due in the next days (each by time)."""

    overdue: list[Task]
    today: list[Task]
    upcoming: list[Task]
    today_start: dt.datetime

    @property
    def count(self) -> int:
        """What needs doing now: overdue and today's tasks (the header badge)."""
        return len(self.overdue) + len(self.today)


def _own_open_tasks(user: User) -> QuerySet[Task]:
    return open_tasks().filter(assignee=user)


def agenda(*, user: User, now: dt.datetime, upcoming_days: int = 7) -> Agenda:
    """`user`'s own open tasks up to `upcoming_days` days after today, in one query.

    Days are the current time zone's: a task due at 23:30 local time yesterday is overdue even
    where it is still yesterday in UTC.
    """
    today = timezone.localdate(now)
    today_start = start_of_day(today)
    tomorrow_start = start_of_day(today + dt.timedelta(days=1))
    upcoming_end = start_of_day(today + dt.timedelta(days=1 + upcoming_days))
    tasks = (
        _own_open_tasks(user)
        .filter(due_at__lt=upcoming_end)
        .select_related("deal__stage", "deal__pipeline", "deal__person", "person")
        .order_by("due_at", "pk")
    )
    overdue: list[Task] = []
    due_today: list[Task] = []
    upcoming: list[Task] = []
    for task in tasks:
        if task.due_at < today_start:
            overdue.append(task)
        elif task.due_at < tomorrow_start:
            due_today.append(task)
        else:
            upcoming.append(task)
    return Agenda(
        overdue=overdue,
        today=due_today,
        upcoming=upcoming,
        today_start=today_start,
    )


def agenda_count(user: User, now: dt.datetime) -> int:
    """How many of `user`'s own open tasks are overdue or due today (one COUNT query)."""
    tomorrow_start = start_of_day(timezone.localdate(now) + dt.timedelta(days=1))
    return _own_open_tasks(user).filter(due_at__lt=tomorrow_start).count()


def calendar_owner(key: str) -> User | None:
    """The active user whose calendar feed key is `key`, or None (unknown, or deactivated)."""
    if not key:
        return None
    return User.objects.filter(calendar_key=key, is_active=True).first()


def calendar_tasks(*, user: User, now: dt.datetime) -> QuerySet[Task]:
    """`user`'s own open tasks due from CALENDAR_PAST before `now` to CALENDAR_AHEAD after it."""
    return (
        _own_open_tasks(user)
        .filter(due_at__gte=now - CALENDAR_PAST, due_at__lte=now + CALENDAR_AHEAD)
        .select_related("deal__person", "person")
        .order_by("due_at", "pk")
    )


def person_timeline(person: Person, user: User) -> list[TimelineEntry]:
    """One timeline across all of `person`'s deals that `user` may see (stage changes, touches,
    tasks), with the touches and tasks about the person alone, newest first. Three queries
    however many deals; each entry's item has its deal (and the deal's pipeline) joined."""
    deals = deals_for(user).filter(person=person).values("pk")
    changes = (
        TimelineEntry(c.at, "stage", c)
        for c in StageChange.objects.filter(deal__in=deals).select_related(
            "from_stage", "to_stage", "user", "deal__pipeline"
        )
    )
    touches = (
        TimelineEntry(t.at, "touch", t)
        for t in touches_for(user).filter(person=person).select_related("user", "deal__pipeline")
    )
    tasks = (
        TimelineEntry(t.done_at or t.due_at, "task", t)
        for t in Task.objects.filter(
            Q(deal__in=deals) | Q(deal__isnull=True, person=person)
        ).select_related("assignee", "deal__pipeline")
    )
    return sorted(chain(changes, touches, tasks), key=lambda e: e.at, reverse=True)


def settings_cadences() -> QuerySet[Cadence]:
    """Every cadence with its steps counted and its stages (with their pipelines), by name."""
    return (
        Cadence.objects.annotate(step_count=Count("steps", distinct=True))
        .prefetch_related(
            Prefetch(
                "stages",
                queryset=Stage.objects.select_related("pipeline").order_by(
                    "pipeline__name", "position"
                ),
            )
        )
        .order_by("name")
    )


def cadence_steps(cadence: Cadence) -> QuerySet[CadenceStep]:
    """The cadence's steps in order, each with how many tasks were planned from it."""
    return (
        CadenceStep.objects.filter(cadence=cadence)
        .annotate(task_count=Count("tasks"))
        .order_by("position", "pk")
    )


def calendar_feed_url(request: HttpRequest, user: User) -> str | None:
    """The address of `user`'s task feed for calendar apps (`/calendar/<key>.ics`; whoever
    has it can read the feed), or None before one is made."""
    if not user.calendar_key:
        return None
    return request.build_absolute_uri(reverse("web:calendar-feed", args=[user.calendar_key]))
