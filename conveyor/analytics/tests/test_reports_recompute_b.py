"""Six reports (costs, plan-fact, capacity, forecast, hypotheses, discipline) against a plain
recomputation from the raw history, over random histories (hypothesis).

Each example writes a random history through the real services (deal_open / move / win / lose /
reopen / transfer, touch_log, task_schedule / task_complete, lead_receive / lead_reject_spam,
person_create) at explicit times, in a random account time zone, and rolls it back afterwards.
The references below read only raw rows: each deal's ordered StageChange rows and the fields set
when it was opened (or lost: reason, refusal), touches, tasks, leads, expenses, plans,
hypotheses — never the derived fields the services maintain (status, closed_at, pipeline,
max_position, lost_stage, purchase_number, stage, stage_entered_at, left_at). Definitions:
DESIGN §4, and the docstrings of `conveyor/analytics/metrics/<report>.py` where it is silent.

"Now" is pinned through each report's own `now` parameter (freezegun breaks the services). The
registry's `execute` runs costs (which has no "now"), and plan-fact, capacity, forecast and
hypotheses on the real clock, where it cannot change the answer (the history is long past);
discipline's lists show hours to the tenth against now, so it runs only with a pinned now.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.vendor.pretty import pretty

from conveyor.accounts.models import Holiday, Role, SalesPlan, Team, User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics.capacity import capacity
from conveyor.analytics.metrics.discipline import discipline
from conveyor.analytics.metrics.forecast import forecast
from conveyor.analytics.metrics.hypotheses import VERDICTS, hypotheses
from conveyor.analytics.metrics.plan_fact import plan_fact
from conveyor.analytics.models import Expense, Hypothesis
from conveyor.analytics.reports import REPORTS
from conveyor.analytics.tests.random_history import describe
from conveyor.core.errors import ServiceError
from conveyor.intake.models import Lead, LeadChannel, LeadStatus, OwnerStrategy, RoutingRule
from conveyor.intake.services import lead_receive, lead_reject_spam
from conveyor.people.models import Person
from conveyor.people.services import person_create
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Process,
    Segment,
    Stage,
    StageChange,
)
from conveyor.pipelines.services import (
    deal_lose,
    deal_move,
    deal_open,
    deal_reopen,
    deal_transfer,
    deal_win,
)
from conveyor.touches.models import ClosingStep, Outcome, Task, Touch, TouchKind
from conveyor.touches.services import task_complete, task_schedule, touch_log

pytestmark = pytest.mark.django_db

# --- The random history ----------------------------------------------------------------------

# Day 0 of every history: long past, so touch_log's "no future" holds. Day SPAN (the earliest
# "now") is 29 April: deals opened late are expected to close in the months after now.
BASE = dt.date(2025, 1, 19)
SPAN = 100  # history days; "now" comes after them
ZONES = ("UTC", "Europe/Sofia", "America/New_York", "Asia/Kathmandu")
SOURCES = ("web", "ads", "expo", "")
CHANNELS = ("web", "ads", "expo", "tv")
CURRENCY = "EUR"
# (email, name, role, team index or None); indexes below refer to this order.
CAST = (
    ("owner@example.com", "Olga Owner", Role.OWNER, None),
    ("head1@example.com", "Hristo Head", Role.HEAD, 0),
    ("head2@example.com", "Boris Head", Role.HEAD, 1),
    ("m1@example.com", "Maria One", Role.MANAGER, 0),
    ("m2@example.com", "Mila Two", Role.MANAGER, 0),
    ("m3@example.com", "Oleg Three", Role.MANAGER, 1),
    ("m4@example.com", "", Role.MANAGER, None),
)
TEAMS = (("Team A", 1), ("Team B", 2))  # (name, head's cast index)
# (name, segment index, process, number of live stages)
PIPELINES = (
    ("Alpha", 0, Process.CONVERSION, 4),
    ("Beta", 1, Process.CONVERSION, 3),
    ("Gamma", 0, Process.ACCOUNT_MANAGEMENT, 2),
)
PROBABILITIES = ("0", "0.1", "0.25", "0.3333", "0.5", "0.9", "1")
AMOUNTS = ("0", "100", "250.50", "1000", "33.33")

users_ix = st.integers(0, len(CAST) - 1)
maybe_user = st.sampled_from((None, None, 0, 1, 2, 3, 3, 4, 5, 6))  # managers own the most


@dataclass(frozen=True)
class At:
    """A moment of the history: `day` after BASE, `minute` of the local day, then `ms`
    milliseconds (whole ones: SQLite keeps times to the millisecond, see ElapsedMs)."""

    day: int
    minute: int
    ms: int = 0

    def aware(self, tz: ZoneInfo) -> dt.datetime:
        day = BASE + dt.timedelta(days=self.day)
        start = dt.datetime.combine(day, dt.time(self.minute // 60, self.minute % 60), tzinfo=tz)
        return start + dt.timedelta(milliseconds=self.ms)

    @property
    def key(self) -> tuple[int, int, int]:
        return self.day, self.minute, self.ms


# The days of the history that are the 1st of a month (plan-fact counts by local month).
MONTH_STARTS = tuple(day for day in range(SPAN) if (BASE + dt.timedelta(days=day)).day == 1)
# Local midnight is drawn often, so window boundaries land exactly on events.
moments = st.builds(
    At,
    st.integers(0, SPAN - 1) | st.sampled_from(MONTH_STARTS),
    st.just(0) | st.integers(0, 1439),
    st.just(0) | st.integers(0, 59_999),
)


@dataclass(frozen=True)
class StagePlan:
    probability: str
    rot_days: int | None
    key_meeting: bool


@dataclass(frozen=True)
class Step:
    action: str  # move, win, lose, reopen, transfer
    position: int  # move / reopen / transfer target (reopen: 0 = where it closed)
    reason: int
    refused: bool
    pipeline: int  # transfer: 0 the next pipeline, 1 the one after


@dataclass(frozen=True)
class DealPlan:
    person: int
    pipeline: int
    owner: int | None
    amount: str
    currency: str
    title: str
    entry: int  # entry position
    times: tuple[At, ...]  # sorted: the opening, then one per step
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class PersonPlan:
    source: str
    owner: int | None
    created: At


@dataclass(frozen=True)
class TouchPlan:
    deal: int | None  # None: about the person alone
    person: int
    actor: str  # the deal's owner, the account owner, or the system
    kind: str
    at: At
    # On a deal, mostly during its life: this many minutes after one of its planned moments.
    near: tuple[int, int] | None


@dataclass(frozen=True)
class TaskPlan:
    deal: int | None
    person: int
    assignee: int
    scheduled: At
    done: At | None
    due_hours: int  # due = now + these hours


@dataclass(frozen=True)
class LeadPlan:
    source: str
    segment: int | None
    minutes_ago: int
    spam: bool


@dataclass(frozen=True)
class HypothesisPlan:
    """Started `day` days after BASE on the stage at `position` of Alpha or Beta (`which`), or,
    `near_change`, on the stage of the `which`-th stage change, within 3 days of it (so that
    deals entered the stage around the start)."""

    near_change: bool
    which: int
    position: int
    day: int
    window_days: int


@dataclass(frozen=True)
class Plan:
    zone: str
    now: At
    stages: tuple[tuple[StagePlan, ...], ...]
    capacities: tuple[int, ...]
    people: tuple[PersonPlan, ...]
    deals: tuple[DealPlan, ...]
    touches: tuple[TouchPlan, ...]
    tasks: tuple[TaskPlan, ...]
    leads: tuple[LeadPlan, ...]
    expenses: tuple[tuple[str, int, int, str], ...]  # channel, first day, days - 1, amount
    plans: tuple[tuple[int | None, int | None, int, str, int], ...]  # user, team, month, rev, n
    hypotheses: tuple[HypothesisPlan, ...]
    holidays: tuple[int, ...]
    archive_last_alpha: bool  # archive Alpha's stage 4 after the history
    close_beta: bool  # Beta stops taking deals after the history
    deactivate_m2: bool


stage_plans = st.builds(
    StagePlan,
    st.sampled_from(PROBABILITIES),
    st.none() | st.integers(1, 40),
    st.booleans(),
)


def step_of(action: str) -> st.SearchStrategy[Step]:
    return st.builds(
        Step,
        st.just(action),
        st.integers(0, 4),
        st.integers(0, 1),
        st.booleans(),
        st.integers(0, 1),
    )


@st.composite
def deal_plans(draw: st.DrawFn) -> DealPlan:
    """A deal's path: moves (forward, back, skipping), maybe a transfer to another pipeline, maybe
    a close and reopen on the way, and an outcome (open, won or lost) drawn evenly, so each kind
    of deal is common."""
    pipeline = draw(st.sampled_from((0, 0, 0, 1, 2)))  # mostly one pipeline: more to compare
    path = draw(st.lists(step_of("move"), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        path.insert(draw(st.integers(0, len(path))), draw(step_of("transfer")))
    if draw(st.booleans()):
        detour = [draw(step_of("win") | step_of("lose")), draw(step_of("reopen"))]
        at = draw(st.integers(0, len(path)))
        path[at:at] = detour
    outcome = draw(st.sampled_from(("open", "win", "lose")))
    if outcome != "open":
        path.append(draw(step_of(outcome)))
    times = sorted(
        draw(st.lists(moments, min_size=len(path) + 1, max_size=len(path) + 1)),
        key=lambda m: m.key,
    )
    # Same-time steps happen (ties are ordered by row id); make some on purpose.
    if len(times) > 1 and draw(st.booleans()):
        times[1] = times[0]
    return DealPlan(
        person=draw(st.integers(0, 7)),
        pipeline=pipeline,
        owner=draw(maybe_user),
        amount=draw(st.sampled_from(AMOUNTS)),
        currency=draw(st.sampled_from((CURRENCY, CURRENCY, "USD"))),
        title=draw(st.sampled_from(("", "Big deal"))),
        entry=draw(st.integers(1, PIPELINES[pipeline][3])),
        times=tuple(times),
        steps=tuple(path),
    )


@st.composite
def task_plans(draw: st.DrawFn) -> TaskPlan:
    scheduled = draw(moments)
    done = draw(st.none() | moments)
    if done is not None and done.key < scheduled.key:
        scheduled, done = done, scheduled
    return TaskPlan(
        deal=draw(st.none() | st.integers(0, 9)),
        person=draw(st.integers(0, 7)),
        assignee=draw(users_ix),
        scheduled=scheduled,
        done=done,
        due_hours=draw(st.just(0) | st.integers(-400, 200)),
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """A random history (sizes kept small: every example writes it through the services)."""

    def lists(elements: st.SearchStrategy[Any], n: int) -> st.SearchStrategy[list[Any]]:
        return st.lists(elements, min_size=1, max_size=n)

    expenses = draw(
        lists(
            st.tuples(
                st.sampled_from(CHANNELS),
                st.integers(-30, SPAN + 30),
                st.integers(0, 60),
                st.sampled_from(("0", "100", "999.99", "31", "1234.56")),
            ),
            4,
        )
    )
    sales_plans = draw(
        lists(
            st.tuples(
                st.sampled_from((None, 1, 3, 3, 4, 5)),
                st.none() | st.integers(0, 1),
                st.integers(0, 4),
                st.sampled_from(("0", "500", "1000", "333.33")),
                st.integers(0, 4),
            ),
            6,
        )
    )
    return Plan(
        zone=draw(st.sampled_from(ZONES)),
        now=draw(
            st.builds(
                At,
                st.integers(SPAN, SPAN + 5) | st.integers(SPAN, SPAN + 45),
                st.just(0) | st.integers(0, 1439),
            )
        ),
        stages=tuple(
            tuple(draw(st.lists(stage_plans, min_size=n, max_size=n)))
            for _name, _segment, _process, n in PIPELINES
        ),
        capacities=tuple(draw(st.lists(st.sampled_from((0, 1, 1, 2, 60)), min_size=7, max_size=7))),
        people=tuple(
            draw(
                st.lists(
                    st.builds(PersonPlan, st.sampled_from(SOURCES), maybe_user, moments),
                    min_size=3,
                    max_size=8,
                )
            )
        ),
        deals=tuple(draw(st.lists(deal_plans(), min_size=5, max_size=10))),
        touches=tuple(
            draw(
                st.lists(
                    st.builds(
                        TouchPlan,
                        st.none() | st.integers(0, 9),
                        st.integers(0, 7),
                        st.sampled_from(("owner", "boss", "system")),
                        st.sampled_from((TouchKind.WARMING, TouchKind.CLOSING)),
                        moments,
                        st.none() | st.tuples(st.integers(0, 4), st.just(0) | st.integers(0, 3000)),
                    ),
                    min_size=2,
                    max_size=15,
                )
            )
        ),
        tasks=tuple(draw(st.lists(task_plans(), min_size=2, max_size=6))),
        leads=tuple(
            draw(
                lists(
                    st.builds(
                        LeadPlan,
                        st.sampled_from(SOURCES),
                        st.none() | st.integers(0, 1),
                        # Around the 24 hours after which a lead waits too long.
                        st.sampled_from((1439, 1440, 1441)) | st.integers(0, 96 * 60),
                        st.sampled_from((False, False, True)),
                    ),
                    5,
                )
            )
        ),
        # One expense per channel and period (a database constraint).
        expenses=tuple({e[:3]: e for e in expenses}.values()),
        plans=tuple(sales_plans),
        hypotheses=tuple(
            draw(
                lists(
                    st.builds(
                        HypothesisPlan,
                        st.booleans(),
                        st.integers(0, 40),
                        st.integers(1, 5),
                        st.integers(-3, SPAN + 10),
                        st.sampled_from((30, 45, 60)) | st.integers(1, 60),
                    ),
                    3,
                )
            )
        ),
        holidays=tuple(draw(lists(st.integers(0, SPAN + 45), 3))),
        archive_last_alpha=draw(st.booleans()),
        close_beta=draw(st.booleans()),
        deactivate_m2=draw(st.booleans()),
    )


@dataclass(frozen=True)
class Query:
    """One report request: a window (day offsets) and the filter, by index into the cast."""

    start: int
    days: int
    viewer: int | None
    segment: int | None
    pipeline: int | None
    team: int | None
    manager: int | None
    source: str


# The viewers: none (the command line), the owner, a head, a manager, and a manager who may
# have been deactivated (who sees nothing then).
queries = st.builds(
    Query,
    st.integers(-10, SPAN) | st.sampled_from(MONTH_STARTS),
    st.sampled_from((1, 7, 31, 60)) | st.integers(1, 150),
    st.sampled_from((None, None, 0, 1, 3, 3, 4)),
    # Each filter is mostly off, so that the reports have something to count.
    st.sampled_from((None,) * 8 + (0, 1)),
    st.sampled_from((None,) * 8 + (0, 1, 2)),
    st.sampled_from((None,) * 8 + (0, 1)),
    st.sampled_from((None,) * 8 + (1, 3, 5)),
    st.sampled_from(("",) * 8 + ("web", "ads")),
)


@dataclass
class Built:
    """What an example wrote: the objects a filter names, and "now"."""

    tz: ZoneInfo
    now: dt.datetime
    users: list[User]
    teams: list[Team]
    segments: list[Segment]
    pipelines: list[Pipeline]
    stages: list[list[Stage]]  # per pipeline, by position (Alpha's archived 5th last)
    reasons: list[LossReason]
    people: list[Person] = field(default_factory=list)
    deal_ids: dict[int, int] = field(default_factory=dict)  # plan index -> deal id
    task_ids: dict[int, int] = field(default_factory=dict)

    def report_filter(self, q: Query) -> ReportFilter:
        start = BASE + dt.timedelta(days=q.start)
        return ReportFilter(
            date_from=start,
            date_to=start + dt.timedelta(days=q.days),
            viewer=None if q.viewer is None else self.users[q.viewer],
            segment=None if q.segment is None else self.segments[q.segment],
            pipeline=None if q.pipeline is None else self.pipelines[q.pipeline],
            team=None if q.team is None else self.teams[q.team],
            manager=None if q.manager is None else self.users[q.manager],
            source=q.source,
        )


def build_setup(plan: Plan) -> Built:
    """The cast, teams, segments, pipelines and stages, loss reasons, routing and holidays."""
    tz = ZoneInfo(plan.zone)
    teams = [Team.objects.create(name=name) for name, _head in TEAMS]
    users = [
        User.objects.create(
            email=email,
            name=name,
            role=role,
            team=None if team_index is None else teams[team_index],
            capacity=plan.capacities[index],
        )
        for index, (email, name, role, team_index) in enumerate(CAST)
    ]
    for team, (_name, head) in zip(teams, TEAMS, strict=True):
        team.head = users[head]
        team.save()
    segments = [Segment.objects.create(name=name) for name in ("Retail", "Wholesale")]
    pipelines: list[Pipeline] = []
    stages: list[list[Stage]] = []
    for (name, segment, process, _n), stage_plans_ in zip(PIPELINES, plan.stages, strict=True):
        pipeline = Pipeline.objects.create(name=name, segment=segments[segment], process=process)
        pipelines.append(pipeline)
        stages.append(
            [
                Stage.objects.create(
                    pipeline=pipeline,
                    position=position,
                    name=f"{name} {position}",
                    probability=Decimal(s.probability),
                    rot_days=s.rot_days,
                    is_key_meeting=s.key_meeting,
                )
                for position, s in enumerate(stage_plans_, start=1)
            ]
        )
    # An archived stage nobody can enter: listed only where a report says archived ones are.
    stages[0].append(
        Stage.objects.create(
            pipeline=pipelines[0], position=5, name="Alpha old", is_archived=True, rot_days=1
        )
    )
    reasons = [
        LossReason.objects.create(name="No answer"),
        LossReason.objects.create(name="No budget", pipeline=pipelines[0]),
    ]
    # Routing proposes an owner and pipeline for inbox leads (discipline filters by them).
    RoutingRule.objects.create(
        name="Web",
        position=1,
        source="web",
        pipeline=pipelines[0],
        owner_strategy=OwnerStrategy.FIXED,
        fixed_owner=users[3],
    )
    RoutingRule.objects.create(
        name="Wholesale", position=2, segment=segments[1], pipeline=pipelines[1], team=teams[1]
    )
    for day in set(plan.holidays):
        Holiday.objects.create(date=BASE + dt.timedelta(days=day))
    return Built(
        tz=tz,
        now=plan.now.aware(tz),
        users=users,
        teams=teams,
        segments=segments,
        pipelines=pipelines,
        stages=stages,
        reasons=reasons,
    )


def open_deal(b: Built, index: int, d: DealPlan) -> None:
    deal = deal_open(
        person=b.people[d.person % len(b.people)],
        pipeline=b.pipelines[d.pipeline],
        owner=None if d.owner is None else b.users[d.owner],
        by=None,
        stage=b.stages[d.pipeline][d.entry - 1],
        title=d.title,
        amount=Decimal(d.amount),
        currency=d.currency,
        at=d.times[0].aware(b.tz),
    )
    b.deal_ids[index] = deal.pk


def deal_step(b: Built, index: int, s: Step, at: dt.datetime) -> None:
    """One step of a deal's path, read against its state (a move of a closed deal reopens it,
    a move to where it is goes on to the next stage; a closed deal is not transferred)."""
    deal = Deal.objects.get(pk=b.deal_ids[index])
    pipeline = next(i for i, p in enumerate(b.pipelines) if p.pk == deal.pipeline_id)
    live = b.stages[pipeline][: PIPELINES[pipeline][3]]
    target = live[s.position % len(live)]
    if deal.status == DealStatus.OPEN:
        if s.action == "transfer":
            other = (pipeline + 1 + s.pipeline) % len(PIPELINES)
            stage = b.stages[other][s.position % PIPELINES[other][3]]
            deal_transfer(
                deal_id=deal.pk,
                pipeline=b.pipelines[other],
                version=deal.version,
                by=None,
                stage=stage,
                at=at,
            )
        elif s.action in ("move", "reopen"):
            if target.pk == deal.stage_id:
                target = live[(s.position + 1) % len(live)]
            deal_move(deal_id=deal.pk, stage=target, version=deal.version, by=None, at=at)
        elif s.action == "win":
            deal_win(deal_id=deal.pk, version=deal.version, by=None, at=at)
        elif s.action == "lose":
            deal_lose(
                deal_id=deal.pk,
                version=deal.version,
                by=None,
                reason=b.reasons[s.reason if pipeline == 0 else 0],
                refused_by_us=s.refused,
                unmet_criteria="No budget" if s.refused else "",
                at=at,
            )
    elif s.action in ("reopen", "move"):
        at_stage = None if s.action == "reopen" and s.position == 0 else target
        deal_reopen(deal_id=deal.pk, version=deal.version, by=None, stage=at_stage, at=at)


def schedule_task(b: Built, plan: Plan, index: int, t: TaskPlan) -> None:
    deal = None
    if t.deal is not None:
        deal_id = b.deal_ids.get(t.deal % len(plan.deals))
        deal = None if deal_id is None else Deal.objects.get(pk=deal_id)
        if deal is None or deal.status != DealStatus.OPEN:
            return  # tasks are planned on open deals only
    task = task_schedule(
        by=None,
        assignee=b.users[t.assignee],
        title=f"Task {index}",
        due_at=b.now + dt.timedelta(hours=t.due_hours),
        deal=deal,
        person=None if deal is not None else b.people[t.person % len(b.people)],
    )
    b.task_ids[index] = task.pk


def complete_task(b: Built, index: int, t: TaskPlan, at: dt.datetime) -> None:
    task_id = b.task_ids.get(index)
    if task_id is None:
        return
    # Refused when cancelled with its deal, or when the assignee may not touch that client.
    with suppress(ServiceError):
        task_complete(task_id=task_id, by=b.users[t.assignee], at=at)


def log_touch(b: Built, plan: Plan, t: TouchPlan) -> None:
    deal, person = None, b.people[t.person % len(b.people)]
    at = t.at.aware(b.tz)
    if t.deal is not None:
        d = plan.deals[t.deal % len(plan.deals)]
        deal = Deal.objects.get(pk=b.deal_ids[t.deal % len(plan.deals)])
        person = deal.person
        if t.near is not None:
            at = d.times[t.near[0] % len(d.times)].aware(b.tz) + dt.timedelta(minutes=t.near[1])
    owner = deal.owner if deal is not None else person.owner
    closing = t.kind == TouchKind.CLOSING
    touch_log(
        by={"owner": owner, "boss": b.users[0], "system": None}[t.actor],
        kind=t.kind,
        deal=deal,
        person=None if deal is not None else person,
        step=ClosingStep.MEETING if closing else "",
        outcome=Outcome.ADVANCED if closing else "",
        at=at,
    )


def build(plan: Plan) -> Built:
    """Write the plan through the services, in time order (see the module docstring)."""
    b = build_setup(plan)
    tz = b.tz
    for index, p in enumerate(plan.people):
        person = person_create(
            name=f"Person {index}",
            by=None,
            owner=None if p.owner is None else b.users[p.owner],
            email=f"person{index}@example.org",
            source=p.source,
        )
        # person_create stamps the real clock; "first recorded" is part of the history.
        Person.objects.filter(pk=person.pk).update(created_at=p.created.aware(tz))
        b.people.append(person)

    # Deal steps and tasks in time order (ties in the order planned): a task is planned on a
    # deal only while it is open, and closing a deal cancels its open tasks.
    events: list[tuple[dt.datetime, int, Callable[[], None]]] = []
    for index, d in enumerate(plan.deals):
        events.append((d.times[0].aware(tz), len(events), partial(open_deal, b, index, d)))
        for s, moment in zip(d.steps, d.times[1:], strict=True):
            at = moment.aware(tz)
            events.append((at, len(events), partial(deal_step, b, index, s, at)))
    for index, t in enumerate(plan.tasks):
        events.append(
            (t.scheduled.aware(tz), len(events), partial(schedule_task, b, plan, index, t))
        )
        if t.done is not None:
            at = t.done.aware(tz)
            events.append((at, len(events), partial(complete_task, b, index, t, at)))
    for _at, _order, action in sorted(events, key=lambda e: (e[0], e[1])):
        action()
    # Touches change no deal, so they go after it: a touch may predate its deal's opening.
    for touch in plan.touches:
        log_touch(b, plan, touch)

    for index, lp in enumerate(plan.leads):
        lead = lead_receive(
            channel=(LeadChannel.WEB_FORM, LeadChannel.CALL)[index % 2],
            name=f"Lead {index}",
            email=f"lead{index}@example.net",
            source=lp.source,
            segment=None if lp.segment is None else b.segments[lp.segment],
            received_at=b.now - dt.timedelta(minutes=lp.minutes_ago),
        )
        if lp.spam:
            lead_reject_spam(lead_id=lead.pk, by=None)

    for channel, first, extra, amount in plan.expenses:
        Expense.objects.create(
            channel=channel,
            period_start=BASE + dt.timedelta(days=first),
            period_end=BASE + dt.timedelta(days=first + extra),
            amount=Decimal(amount),
        )
    planned: set[tuple[str, int, int]] = set()
    for user, team, month, revenue, deals in plan.plans:
        key = ("user", user, month) if user is not None else ("team", team or 0, month)
        if key in planned:
            continue
        planned.add(key)
        SalesPlan.objects.create(
            user=None if user is None else b.users[user],
            team=None if user is not None else b.teams[team or 0],
            month=dt.date(2025, 1 + month, 1),
            revenue=Decimal(revenue),
            deals=deals,
        )
    entries = list(
        StageChange.objects.filter(to_stage__isnull=False)
        .order_by("pk")
        .values_list("to_stage", "at")
    )
    for index, h in enumerate(plan.hypotheses):
        if h.near_change:
            stage_id, entered = entries[h.which % len(entries)]
            stage = Stage.objects.get(pk=stage_id)
            started_on = timezone.localtime(entered, tz).date() + dt.timedelta(days=h.day % 7 - 3)
        else:
            in_pipeline = b.stages[h.which % 2]
            stage = in_pipeline[min(h.position, len(in_pipeline)) - 1]
            started_on = BASE + dt.timedelta(days=h.day)
        Hypothesis.objects.create(
            title=f"Hypothesis {index}",
            stage=stage,
            started_on=started_on,
            window_days=h.window_days,
        )

    # After the history: settings a head changes later.
    if plan.archive_last_alpha:
        Stage.objects.filter(pk=b.stages[0][3].pk).update(is_archived=True)
    if plan.close_beta:
        Pipeline.objects.filter(pk=b.pipelines[1].pk).update(is_active=False)
    if plan.deactivate_m2:
        User.objects.filter(pk=b.users[4].pk).update(is_active=False)
    for obj in (*b.users, *b.pipelines):
        obj.refresh_from_db()
    return b


@contextmanager
def history(plan: Plan) -> Iterator[Built]:
    """The plan written in the plan's time zone, rolled back afterwards (examples start clean)."""
    with override_settings(TIME_ZONE=plan.zone), transaction.atomic():
        yield build(plan)
        transaction.set_rollback(True)


# --- The raw rows, and what a plain replay of them says ---------------------------------------

Row = dict[str, Any]


def rows(values: Iterable[Any]) -> list[Row]:
    return list(values)


def by_id(values: Iterable[Any]) -> dict[int, Row]:
    return {row["id"]: row for row in values}


@dataclass
class Stay:
    stage_id: int
    start: dt.datetime
    end: dt.datetime | None  # None: still there


@dataclass
class DealFacts:
    """A deal: its fields set at opening (and at its loss), and the replay of its history."""

    id: int
    person_id: int
    pipeline_id: int
    owner_id: int | None
    title: str
    amount: Decimal
    currency: str
    opened_at: dt.datetime
    lost_reason: str | None
    refused_by_us: bool
    changes: list[Row] = field(default_factory=list)
    # Replayed:
    status: str = DealStatus.OPEN
    closed_at: dt.datetime | None = None
    stage_id: int = 0
    entered_at: dt.datetime | None = None
    max_position: int = 0
    lost_stage_id: int | None = None
    stays: list[Stay] = field(default_factory=list)
    first_purchase: bool = False


class Raw:
    """Every raw row of the history, read with plain queries, and the replay of each deal."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.users = by_id(User.objects.values())
        self.teams = by_id(Team.objects.values())
        self.pipelines = by_id(Pipeline.objects.values())
        self.stages = by_id(Stage.objects.values())
        self.people = by_id(Person.objects.values())
        self.touches = rows(Touch.objects.values())
        self.tasks = rows(Task.objects.values())
        self.leads = rows(Lead.objects.values())
        self.expenses = rows(Expense.objects.values())
        self.plans = rows(SalesPlan.objects.values())
        self.hypotheses = rows(Hypothesis.objects.values())
        self.holidays = set(Holiday.objects.values_list("date", flat=True))
        self.deals: dict[int, DealFacts] = {}
        for r in Deal.objects.values(
            "id", "person_id", "owner_id", "title", "amount", "currency", "opened_at",
            "lost_reason__name", "refused_by_us",
        ):  # fmt: skip
            self.deals[r["id"]] = DealFacts(
                id=r["id"],
                person_id=r["person_id"],
                pipeline_id=0,  # replayed: the pipeline of the last stage held
                owner_id=r["owner_id"],
                title=r["title"],
                amount=r["amount"],
                currency=r["currency"],
                opened_at=r["opened_at"],
                lost_reason=r["lost_reason__name"],
                refused_by_us=r["refused_by_us"],
            )
        changes = rows(StageChange.objects.values("id", "deal_id", "kind", "to_stage_id", "at"))
        for c in sorted(changes, key=lambda c: (c["at"], c["id"])):
            self.deals[c["deal_id"]].changes.append(c)
        for deal in self.deals.values():
            self._replay(deal)
        # Purchase 1 = the person's earliest win (by time, then id) among deals won now.
        firsts: dict[int, DealFacts] = {}
        for deal in sorted(self.won(), key=lambda d: (d.closed_at, d.id)):
            firsts.setdefault(deal.person_id, deal)
        for deal in firsts.values():
            deal.first_purchase = True

    def _replay(self, deal: DealFacts) -> None:
        for index, c in enumerate(deal.changes):
            following = deal.changes[index + 1]["at"] if index + 1 < len(deal.changes) else None
            if c["to_stage_id"] is not None:
                stage = self.stages[c["to_stage_id"]]
                if stage["pipeline_id"] != deal.pipeline_id:
                    # Opened, or transferred: positions of two pipelines do not compare, so the
                    # highest position held counts from here (pipelines/services.py).
                    deal.pipeline_id, deal.max_position = stage["pipeline_id"], 0
                deal.status, deal.closed_at = DealStatus.OPEN, None
                deal.stage_id, deal.entered_at = c["to_stage_id"], c["at"]
                deal.lost_stage_id = None
                deal.max_position = max(deal.max_position, stage["position"])
                deal.stays.append(Stay(c["to_stage_id"], c["at"], following))
            elif c["kind"] == ChangeKind.WON:
                deal.status, deal.closed_at = DealStatus.WON, c["at"]
            else:
                deal.status, deal.closed_at = DealStatus.LOST, c["at"]
                deal.lost_stage_id = deal.stage_id
        assert deal.changes[0]["kind"] == ChangeKind.ENTER

    def won(self) -> list[DealFacts]:
        return [d for d in self.deals.values() if d.status == DealStatus.WON]

    # --- The filter, applied in Python ---

    def team_of(self, user_id: int | None) -> int | None:
        return None if user_id is None else self.users[user_id]["team_id"]

    def visible(self, f: ReportFilter, owner_id: int | None, *, nobody: bool = True) -> bool:
        """The access rule: the owner sees all, a head their teams', themselves and (unless
        `nobody` is False) records of nobody, a manager their own."""
        if f.viewer is None:
            return True
        viewer = self.users[f.viewer.pk]
        if not viewer["is_active"]:
            return False
        if viewer["role"] == Role.OWNER:
            return True
        if viewer["role"] == Role.HEAD:
            if owner_id is None:
                return nobody
            team = self.team_of(owner_id)
            return owner_id == viewer["id"] or (
                team is not None and self.teams[team]["head_id"] == viewer["id"]
            )
        return owner_id == viewer["id"]

    def deal_ok(self, f: ReportFilter, deal: DealFacts) -> bool:
        pipeline = self.pipelines[deal.pipeline_id]
        return (
            self.visible(f, deal.owner_id)
            and (f.pipeline is None or deal.pipeline_id == f.pipeline.pk)
            and (f.segment is None or pipeline["segment_id"] == f.segment.pk)
            and (f.team is None or self.team_of(deal.owner_id) == f.team.pk)
            and (f.manager is None or deal.owner_id == f.manager.pk)
            and (not f.source or self.people[deal.person_id]["source"] == f.source)
        )

    def person_ok(self, f: ReportFilter, person: Row) -> bool:
        """A person the filter selects: by owner and source, and for the pipeline and segment
        filters, having a deal in that pipeline and segment (one deal meeting both)."""
        return (
            self.visible(f, person["owner_id"])
            and (f.team is None or self.team_of(person["owner_id"]) == f.team.pk)
            and (f.manager is None or person["owner_id"] == f.manager.pk)
            and (not f.source or person["source"] == f.source)
            and (
                (f.pipeline is None and f.segment is None)
                or any(
                    d.person_id == person["id"]
                    and (f.pipeline is None or d.pipeline_id == f.pipeline.pk)
                    and (
                        f.segment is None
                        or self.pipelines[d.pipeline_id]["segment_id"] == f.segment.pk
                    )
                    for d in self.deals.values()
                )
            )
        )

    def user_ok(self, f: ReportFilter, user_id: int | None) -> bool:
        """A user the filter selects (manager, team, and whom the viewer may see)."""
        return (
            self.visible(f, user_id, nobody=False)
            and (f.team is None or self.team_of(user_id) == f.team.pk)
            and (f.manager is None or user_id == f.manager.pk)
        )

    def touch_ok(self, f: ReportFilter, touch: Row) -> bool:
        deal = self.deals.get(touch["deal_id"])
        return (
            self.user_ok(f, touch["user_id"])
            and (f.pipeline is None or (deal is not None and deal.pipeline_id == f.pipeline.pk))
            and (
                f.segment is None
                or (
                    deal is not None
                    and self.pipelines[deal.pipeline_id]["segment_id"] == f.segment.pk
                )
            )
            and (not f.source or self.people[touch["person_id"]]["source"] == f.source)
        )

    # --- Time ---

    def midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz)

    def window(self, f: ReportFilter) -> tuple[dt.datetime, dt.datetime]:
        return self.midnight(f.date_from), self.midnight(f.date_to)

    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def workday(self, day: dt.date) -> bool:
        return day.isoweekday() in django_settings.CONVEYOR_WORKDAYS and day not in self.holidays


# --- Numbers as the reports print them --------------------------------------------------------


def half_up(value: Fraction, places: int) -> float:
    """`value` rounded half away from zero to `places` decimals, exactly."""
    scale = 10**places
    magnitude = math.floor(abs(value) * scale + Fraction(1, 2))
    return math.copysign(magnitude, value) / scale if magnitude else 0.0


def money(value: Fraction | Decimal | int) -> float:
    return half_up(Fraction(value), 2)


def about(value: Fraction | float | None, places: int) -> Any:
    """A value the report rounds to `places` with float arithmetic: within half a unit."""
    if value is None:
        return None
    return pytest.approx(float(value), abs=0.5 * 10**-places + 1e-9)


def share(part: int, whole: int, places: int = 4) -> Any:
    return about(Fraction(part, whole), places) if whole else None


# --- costs -----------------------------------------------------------------------------------


def costs_expected(raw: Raw, f: ReportFilter) -> tuple[dict[str, Any], list[list[list[str]]]]:
    """The report's JSON without the warnings' texts, and for each pipeline's warnings the
    pieces each must name (the wording is the translator's)."""
    start, end = raw.window(f)
    spent: dict[str, Fraction] = {}
    for e in raw.expenses:
        if f.source and e["channel"] != f.source:
            continue
        period = [
            e["period_start"] + dt.timedelta(days=n)
            for n in range((e["period_end"] - e["period_start"]).days + 1)
        ]
        inside = sum(1 for day in period if f.date_from <= day < f.date_to)
        if inside:
            spent[e["channel"]] = spent.get(e["channel"], Fraction(0)) + Fraction(
                e["amount"]
            ) * Fraction(inside, len(period))
    leads: Counter[str] = Counter(
        p["source"]
        for p in raw.people.values()
        if p["source"] and start <= p["created_at"] < end and raw.person_ok(f, p)
    )
    customers: Counter[str] = Counter(
        raw.people[d.person_id]["source"]
        for d in raw.won()
        if d.first_purchase
        and raw.people[d.person_id]["source"]
        and start <= d.closed_at < end  # type: ignore[operator]
        and raw.deal_ok(f, d)
    )
    channels = []
    for channel in sorted(set(spent) | set(leads) | set(customers)):
        total = spent.get(channel, Fraction(0))
        channels.append(
            {
                "channel": channel,
                "expenses": money(total),
                "leads": leads[channel],
                "customers": customers[channel],
                "cost_per_lead": money(total / leads[channel]) if leads[channel] else None,
                "cost_per_customer": (
                    money(total / customers[channel]) if customers[channel] else None
                ),
            }
        )

    if f.pipeline is not None:
        checked = [raw.pipelines[f.pipeline.pk]]
    else:
        checked = [
            p
            for p in raw.pipelines.values()
            if p["process"] == Process.CONVERSION
            and p["is_active"]
            and (f.segment is None or p["segment_id"] == f.segment.pk)
        ]
    checks, needles = [], []
    for p in sorted(checked, key=lambda p: (p["name"], p["id"])):
        check, pieces = _funnel_check(raw, f, p, start, end)
        checks.append(check)
        needles.append(pieces)
    return {
        "filter": describe(f),
        "currency": CURRENCY,
        "cost_per_lead": {row["channel"]: row["cost_per_lead"] for row in channels},
        "cost_per_customer": {row["channel"]: row["cost_per_customer"] for row in channels},
        "channels": channels,
        "funnel_check": checks,
    }, needles


def _funnel_check(
    raw: Raw, f: ReportFilter, p: Row, start: dt.datetime, end: dt.datetime
) -> tuple[dict[str, Any], list[list[str]]]:
    stages = sorted(
        (s for s in raw.stages.values() if s["pipeline_id"] == p["id"]),
        key=lambda s: (s["position"], s["id"]),
    )
    cohort = [
        d
        for d in raw.deals.values()
        if d.pipeline_id == p["id"] and raw.deal_ok(f, d) and start <= d.opened_at < end
    ]
    lost: Counter[int | None] = Counter(
        d.lost_stage_id for d in cohort if d.status == DealStatus.LOST
    )
    touches: Counter[int] = Counter()
    ms: Counter[int] = Counter()
    for d in cohort:
        on_deal = [t["at"] for t in raw.touches if t["deal_id"] == d.id]
        for stay in d.stays:
            touches[stay.stage_id] += sum(
                1 for at in on_deal if stay.start <= at and (stay.end is None or at < stay.end)
            )
            if stay.end is not None:
                ms[stay.stage_id] += (stay.end - stay.start) // dt.timedelta(milliseconds=1)
    listed = [
        s
        for s in stages
        if not s["is_archived"] or lost[s["id"]] or touches[s["id"]] or ms[s["id"]]
    ]
    all_lost = sum(lost[s["id"]] for s in listed)
    all_touches = sum(touches[s["id"]] for s in listed)
    all_ms = sum(ms[s["id"]] for s in listed)
    rows = []
    effort: dict[int, Fraction | None] = {}
    for s in listed:
        known = [Fraction(touches[s["id"]], all_touches)] if all_touches else []
        if all_ms:
            known.append(Fraction(ms[s["id"]], all_ms))
        effort[s["id"]] = sum(known, Fraction(0)) / len(known) if known else None
        rows.append(
            {
                "position": s["position"],
                "stage": s["name"],
                "key_meeting": s["is_key_meeting"],
                "lost": lost[s["id"]],
                "loss_share": share(lost[s["id"]], all_lost),
                "touches": touches[s["id"]],
                "touch_share": share(touches[s["id"]], all_touches),
                "hours": about(Fraction(ms[s["id"]], 3_600_000), 2),
                "time_share": share(ms[s["id"]], all_ms),
                "effort_share": about(effort[s["id"]], 4),
            }
        )
    pieces: list[list[str]] = []
    if all_lost and listed:
        # The stage with the biggest loss share, the first of equals.
        biggest = listed[0]
        for s in listed:
            if lost[s["id"]] > lost[biggest["id"]]:
                biggest = s
        average = Fraction(1, len(listed))
        for s in listed:
            if s["position"] >= biggest["position"]:
                break
            stage_effort = effort[s["id"]]
            if stage_effort is not None and stage_effort > average:
                pieces.append(
                    [
                        f"“{s['name']}”",
                        f"{float(stage_effort):.0%}",
                        f"{float(average):.0%}",
                        f"“{biggest['name']}”",
                        f"{lost[biggest['id']] / all_lost:.0%}",
                    ]
                )
    live = [s for s in stages if not s["is_archived"]]
    key = next((s for s in live if s["is_key_meeting"]), None)
    if key is not None:
        place = live.index(key) + 1
        if place > math.ceil(len(live) / 2):
            pieces.append([f"“{key['name']}”", f"step {place} of {len(live)}"])
    return {
        "pipeline": p["name"],
        "cohort": len(cohort),
        "lost": all_lost,
        "touches": all_touches,
        "hours": about(Fraction(all_ms, 3_600_000), 2),
        "stages": rows,
    }, pieces


# --- plan-fact -------------------------------------------------------------------------------


def plan_fact_expected(raw: Raw, f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    months = []
    month = f.date_from.replace(day=1)
    while month < f.date_to:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    today = raw.local_date(now)
    current = today.replace(day=1) if today.replace(day=1) in months else None

    # Teams shown whole: none for a manager (viewer or filter); a head's own; the team filtered.
    viewer = None if f.viewer is None else raw.users[f.viewer.pk]
    teams = {
        t["id"]: t["name"]
        for t in raw.teams.values()
        if f.manager is None
        and (viewer is None or (viewer["is_active"] and viewer["role"] != Role.MANAGER))
        and (viewer is None or viewer["role"] != Role.HEAD or t["head_id"] == viewer["id"])
        and (f.team is None or t["id"] == f.team.pk)
    }
    user_plans: dict[tuple[dt.date, int], tuple[Decimal, int]] = {}
    team_plans: dict[tuple[dt.date, int], tuple[Decimal, int]] = {}
    for plan in raw.plans:
        if plan["month"] not in months:
            continue
        figures = (plan["revenue"], plan["deals"])
        if plan["user_id"] is not None and raw.user_ok(f, plan["user_id"]):
            user_plans[plan["month"], plan["user_id"]] = figures
        elif plan["team_id"] in teams:
            team_plans[plan["month"], plan["team_id"]] = figures
    members: dict[tuple[dt.date, int], tuple[Decimal, int]] = {}
    for (month, user_id), (revenue, deals) in user_plans.items():
        team = raw.team_of(user_id)
        if team is not None and team in teams:
            before = members.get((month, team), (Decimal(0), 0))
            members[month, team] = (before[0] + revenue, before[1] + deals)

    first, last = (
        raw.midnight(months[0]),
        raw.midnight((months[-1] + dt.timedelta(days=32)).replace(day=1)),
    )
    user_facts: dict[tuple[dt.date, int], tuple[Decimal, int]] = defaultdict(
        lambda: (Decimal(0), 0)
    )
    other_currency = 0
    for d in raw.won():
        assert d.closed_at is not None
        if d.owner_id is None or not (first <= d.closed_at < last) or not raw.deal_ok(f, d):
            continue
        key = (raw.local_date(d.closed_at).replace(day=1), d.owner_id)
        revenue, deals = user_facts[key]
        ours = d.currency == CURRENCY
        user_facts[key] = (revenue + (d.amount if ours else 0), deals + 1)
        other_currency += not ours
    team_facts: dict[tuple[dt.date, int], tuple[Decimal, int]] = defaultdict(
        lambda: (Decimal(0), 0)
    )
    for (month, user_id), (revenue, deals) in user_facts.items():
        team = raw.team_of(user_id)
        if team in teams:
            before = team_facts[month, team]  # type: ignore[index]
            team_facts[month, team] = (before[0] + revenue, before[1] + deals)  # type: ignore[index]

    days = None
    if current is not None:
        in_month = [
            current + dt.timedelta(days=n)
            for n in range(calendar.monthrange(current.year, current.month)[1])
        ]
        days = (
            sum(1 for day in in_month if day <= today and raw.workday(day)),
            sum(1 for day in in_month if raw.workday(day)),
        )

    def numbers(
        plan: tuple[Decimal, int] | None, fact: tuple[Decimal, int], month: dt.date
    ) -> dict[str, Any]:
        run_revenue = run_deals = None
        if month == current and days is not None and days[0]:
            run_revenue = money(Fraction(fact[0]) * days[1] / days[0])
            run_deals = about(Fraction(fact[1] * days[1], days[0]), 2)
        return {
            "plan_revenue": money(plan[0]) if plan else None,
            "fact_revenue": money(fact[0]),
            "revenue_pct": (
                about(Fraction(fact[0]) / Fraction(plan[0]), 4) if plan and plan[0] else None
            ),
            "plan_deals": plan[1] if plan else None,
            "fact_deals": fact[1],
            "deals_pct": share(fact[1], plan[1]) if plan else None,
            "run_rate_revenue": run_revenue,
            "run_rate_deals": run_deals,
        }

    managers = [
        {
            "month": f"{month:%Y-%m}",
            "user_id": user_id,
            "manager": raw.users[user_id]["email"],
            "name": raw.users[user_id]["name"],
            "team": raw.teams[t]["name"] if (t := raw.team_of(user_id)) else None,
            **numbers(
                user_plans.get((month, user_id)),
                user_facts.get((month, user_id), (Decimal(0), 0)),
                month,
            ),
        }
        for month, user_id in sorted(
            set(user_plans) | set(user_facts),
            key=lambda k: (k[0], raw.users[k[1]]["email"]),
        )
    ]
    team_rows = [
        {
            "month": f"{month:%Y-%m}",
            "team_id": team,
            "team": teams[team],
            "plan_from": (
                "team"
                if (month, team) in team_plans
                else "members"
                if (month, team) in members
                else None
            ),
            **numbers(
                team_plans.get((month, team), members.get((month, team))),
                team_facts.get((month, team), (Decimal(0), 0)),
                month,
            ),
        }
        for month, team in sorted(
            set(team_plans) | set(members) | set(team_facts), key=lambda k: (k[0], teams[k[1]])
        )
    ]
    return {
        "filter": describe(f),
        "currency": CURRENCY,
        "today": today.isoformat(),
        "months": [f"{month:%Y-%m}" for month in months],
        "current_month": f"{current:%Y-%m}" if current else None,
        "working_days": {"elapsed": days[0], "in_month": days[1]} if days else None,
        "deals_won_other_currency": other_currency,
        "managers": managers,
        "teams": team_rows,
    }


# --- capacity --------------------------------------------------------------------------------


def capacity_expected(raw: Raw, f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    start, end = raw.window(f)
    last = min(f.date_to, raw.local_date(now) + dt.timedelta(days=1))
    days = sum(
        1
        for n in range(max((last - f.date_from).days, 0))
        if raw.workday(f.date_from + dt.timedelta(days=n))
    )
    open_deals: Counter[int] = Counter(
        d.owner_id
        for d in raw.deals.values()
        if d.status == DealStatus.OPEN and d.owner_id is not None and raw.deal_ok(f, d)
    )
    touches: Counter[int] = Counter(
        t["user_id"]
        for t in raw.touches
        if t["user_id"] is not None and start <= t["at"] < end and raw.touch_ok(f, t)
    )
    rows = []
    for user in sorted(raw.users.values(), key=lambda u: u["email"]):
        if not user["is_active"] or not raw.user_ok(f, user["id"]):
            continue
        deals, made = open_deals[user["id"]], touches[user["id"]]
        if user["role"] != Role.MANAGER and not deals and not made:
            continue
        rows.append(
            {
                "user_id": user["id"],
                "manager": user["email"],
                "name": user["name"],
                "team": raw.teams[user["team_id"]]["name"] if user["team_id"] else None,
                "open_deals": deals,
                "touches": made,
                "touches_per_day": about(Fraction(made, days), 2) if days else None,
                "capacity": user["capacity"],
                "load": share(deals, user["capacity"]),
                "over_capacity": user["capacity"] > 0 and deals > user["capacity"],
            }
        )
    return {
        "filter": describe(f),
        "working_days": days,
        "managers": rows,
        "totals": {
            "open_deals": sum(r["open_deals"] for r in rows),
            "touches": sum(r["touches"] for r in rows),
            "capacity": sum(r["capacity"] for r in rows),
            "over_capacity": sum(1 for r in rows if r["over_capacity"]),
        },
    }


# --- forecast --------------------------------------------------------------------------------


def forecast_expected(raw: Raw, f: ReportFilter, months: int, now: dt.datetime) -> dict[str, Any]:
    local_now = now.astimezone(raw.tz)
    # `months` calendar months back on the wall clock, the day clamped to the month's end.
    year, index = divmod(local_now.year * 12 + local_now.month - 1 - months, 12)
    day = min(local_now.day, calendar.monthrange(year, index + 1)[1])
    history_from = dt.datetime.combine(
        dt.date(year, index + 1, day), local_now.time(), tzinfo=raw.tz
    )
    history = [
        d
        for d in raw.deals.values()
        if d.status != DealStatus.OPEN
        and history_from <= d.closed_at < now  # type: ignore[operator]
        and raw.deal_ok(f, d)
    ]

    def reached(pipeline_id: int, position: int) -> int:
        return sum(
            1
            for d in history
            if d.pipeline_id == pipeline_id
            and (d.status == DealStatus.WON or d.max_position >= position)
        )

    def wins(pipeline_id: int) -> int:
        return sum(1 for d in history if d.pipeline_id == pipeline_id and d.status == "won")

    durations: dict[int, list[int]] = defaultdict(list)
    for d in history:
        if d.status == DealStatus.WON:
            durations[d.pipeline_id].append(
                (d.closed_at - d.opened_at) // dt.timedelta(milliseconds=1)  # type: ignore[operator]
            )
    median_ms: dict[int, Fraction] = {}
    for pipeline_id, values in durations.items():
        values.sort()
        middle = len(values) // 2
        median_ms[pipeline_id] = (
            Fraction(values[middle])
            if len(values) % 2
            else Fraction(values[middle - 1] + values[middle], 2)
        )

    open_deals = [
        d for d in raw.deals.values() if d.status == DealStatus.OPEN and raw.deal_ok(f, d)
    ]
    pipelines = {d.pipeline_id for d in history} | {d.pipeline_id for d in open_deals}
    if f.pipeline is not None:
        pipelines.add(f.pipeline.pk)
    holding = {d.stage_id for d in open_deals}
    stages = sorted(
        (
            s
            for s in raw.stages.values()
            if (s["pipeline_id"] in pipelines and not s["is_archived"]) or s["id"] in holding
        ),
        key=lambda s: (raw.pipelines[s["pipeline_id"]]["name"], s["position"], s["id"]),
    )

    def odds(stage: Row) -> tuple[Fraction, Fraction | None]:
        n = reached(stage["pipeline_id"], stage["position"])
        return Fraction(stage["probability"]), (
            Fraction(wins(stage["pipeline_id"]), n) if n else None
        )

    current = (local_now.year, local_now.month)
    sums: dict[Any, list[Any]] = defaultdict(lambda: [0, Fraction(0), Fraction(0), Fraction(0)])
    for d in open_deals:
        set_p, measured = odds(raw.stages[d.stage_id])
        measured_p = set_p if measured is None else measured
        close_month = current
        if d.pipeline_id in median_ms:
            close = d.opened_at + dt.timedelta(milliseconds=float(median_ms[d.pipeline_id]))
            local_close = close.astimezone(raw.tz)
            close_month = max(current, (local_close.year, local_close.month))
        for key in (("stage", d.stage_id), ("month", close_month), ("total",)):
            row = sums[key]
            row[0] += 1
            row[1] += Fraction(d.amount)
            row[2] += Fraction(d.amount) * set_p
            row[3] += Fraction(d.amount) * measured_p

    def as_row(key: Any) -> dict[str, Any]:
        deals, value, weighted_set, weighted_measured = sums.get(key, [0, 0, 0, 0])
        set_cents = half_up(Fraction(weighted_set), 2)
        measured_cents = half_up(Fraction(weighted_measured), 2)
        return {
            "open_deals": deals,
            "open_value": money(value),
            "weighted_set": set_cents,
            "weighted_measured": measured_cents,
            "gap": pytest.approx(measured_cents - set_cents, abs=1e-9),
        }

    month_rows = []
    month_keys = [key[1] for key in sums if key[0] == "month"]
    if month_keys:
        month, last = current, max(month_keys)
        while month <= last:
            month_rows.append(
                {"month": f"{month[0]:04d}-{month[1]:02d}", **as_row(("month", month))}
            )
            month = (month[0] + month[1] // 12, month[1] % 12 + 1)
    stage_rows = []
    for s in stages:
        set_p, measured = odds(s)
        stage_rows.append(
            {
                "pipeline": raw.pipelines[s["pipeline_id"]]["name"],
                "position": s["position"],
                "stage": s["name"],
                "set_probability": half_up(set_p, 4),
                "measured_probability": None if measured is None else half_up(measured, 4),
                "probability_gap": None if measured is None else half_up(measured - set_p, 4),
                "history_reached": reached(s["pipeline_id"], s["position"]),
                "history_won": wins(s["pipeline_id"]),
                **as_row(("stage", s["id"])),
            }
        )
    return {
        "filter": describe(f),
        "as_of": local_now.date().isoformat(),
        "months": months,
        "history_from": history_from.date().isoformat(),
        "currency": CURRENCY,
        "days_to_win": {
            raw.pipelines[p]["name"]: about(ms / 86_400_000, 2)
            for p, ms in sorted(median_ms.items(), key=lambda item: raw.pipelines[item[0]]["name"])
        },
        "totals": as_row(("total",)),
        "by_month": month_rows,
        "by_stage": stage_rows,
    }


# --- hypotheses ------------------------------------------------------------------------------


def hypotheses_expected(raw: Raw, f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    rows = []
    for h in sorted(raw.hypotheses, key=lambda h: (h["started_on"], h["id"])):
        stage = raw.stages[h["stage_id"]]
        pipeline = raw.pipelines[stage["pipeline_id"]]
        if not (f.date_from <= h["started_on"] < f.date_to):
            continue
        if f.pipeline is not None and pipeline["id"] != f.pipeline.pk:
            continue
        if f.segment is not None and pipeline["segment_id"] != f.segment.pk:
            continue
        n = dt.timedelta(days=h["window_days"])
        sides = {
            "before": (h["started_on"] - n, h["started_on"]),
            "after": (h["started_on"], h["started_on"] + n),
        }
        counted: dict[str, tuple[int, int]] = {}
        side_rows: dict[str, dict[str, Any]] = {}
        for side, (first, last) in sides.items():
            start, end = raw.midnight(first), raw.midnight(last)
            entered = converted = 0
            for d in raw.deals.values():
                if not raw.deal_ok(f, d):
                    continue
                entries = [
                    i
                    for i, c in enumerate(d.changes)
                    if c["to_stage_id"] == stage["id"] and start <= c["at"] < end
                ]
                if not entries:
                    continue
                entered += 1
                # Converted: any later change (in history order) to a higher stage of the same
                # pipeline, or a win.
                converted += any(
                    c["kind"] == ChangeKind.WON
                    or (
                        c["to_stage_id"] is not None
                        and raw.stages[c["to_stage_id"]]["pipeline_id"] == pipeline["id"]
                        and raw.stages[c["to_stage_id"]]["position"] > stage["position"]
                    )
                    for c in d.changes[entries[0] + 1 :]
                )
            counted[side] = (entered, converted)
            side_rows[side] = {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "entered": entered,
                "converted": converted,
                "rate": share(converted, entered),
            }
        (nb, cb), (na, ca) = counted["before"], counted["after"]
        z: float | None = None
        p: float | None = None
        if nb and na:
            pooled = Fraction(cb + ca, nb + na)
            if 0 < pooled < 1:
                spread = math.sqrt(pooled * (1 - pooled) * (Fraction(1, nb) + Fraction(1, na)))
                z = float(Fraction(ca, na) - Fraction(cb, nb)) / spread
                p = math.erfc(abs(z) / math.sqrt(2))
            else:
                z, p = 0.0, 1.0
        code = (
            "not_enough_data"
            if z is None or p is None
            else "no_change"
            if p >= 0.05
            else "better"
            if z > 0
            else "worse"
        )
        rows.append(
            {
                "id": h["id"],
                "title": h["title"],
                "pipeline": pipeline["name"],
                "stage": stage["name"],
                "started_on": h["started_on"].isoformat(),
                "window_days": h["window_days"],
                "finished": raw.midnight(sides["after"][1]) <= now,
                "before": side_rows["before"],
                "after": side_rows["after"],
                "z": about(z, 4),
                "p_value": about(p, 4),
                "verdict": str(VERDICTS[code]),
                "verdict_code": code,
            }
        )
    return {"filter": describe(f), "alpha": 0.05, "hypotheses": rows}


# --- discipline ------------------------------------------------------------------------------


def discipline_expected(raw: Raw, f: ReportFilter, now: dt.datetime) -> dict[str, Any]:
    reader_active = f.viewer is None or raw.users[f.viewer.pk]["is_active"]
    open_deals = sorted(
        (d for d in raw.deals.values() if d.status == DealStatus.OPEN and raw.deal_ok(f, d)),
        key=lambda d: (d.entered_at, d.id),
    )
    open_task = [t for t in raw.tasks if t["done_at"] is None and t["cancelled_at"] is None]

    def deal_row(d: DealFacts) -> dict[str, Any]:
        person = raw.people[d.person_id]["name"]
        assert d.entered_at is not None
        return {
            "id": d.id,
            "deal": d.title or person,
            "person": person,
            "pipeline": raw.pipelines[d.pipeline_id]["name"],
            "stage": raw.stages[d.stage_id]["name"],
            "owner": raw.users[d.owner_id]["email"] if d.owner_id else None,
            "in_stage_since": d.entered_at.isoformat(),
            "days_in_stage": about((now - d.entered_at) / dt.timedelta(days=1), 1),
            "url": reverse("web:deal", args=[d.id]),
        }

    stalled = [d for d in open_deals if not any(t["deal_id"] == d.id for t in open_task)]
    rotting = [
        d
        for d in open_deals
        if (rot := raw.stages[d.stage_id]["rot_days"]) is not None
        and d.entered_at < now - dt.timedelta(days=rot)  # type: ignore[operator]
    ]

    def lead_ok(lead: Row) -> bool:
        owner = lead["routed_owner_id"]
        return (
            lead["status"] == LeadStatus.INBOX
            and lead["received_at"] < now - dt.timedelta(hours=24)
            and (f.manager is None or owner == f.manager.pk)
            and (f.team is None or (owner is not None and raw.team_of(owner) == f.team.pk))
            and (f.pipeline is None or lead["routed_pipeline_id"] == f.pipeline.pk)
            and (f.segment is None or lead["segment_id"] == f.segment.pk)
            and (not f.source or lead["source"] == f.source)
        )

    leads = sorted(
        (lead for lead in raw.leads if reader_active and lead_ok(lead)),
        key=lambda lead: (lead["received_at"], lead["id"]),
    )

    def task_ok(t: Row) -> bool:
        deal = raw.deals.get(t["deal_id"])
        pipeline = None if deal is None else raw.pipelines[deal.pipeline_id]
        return (
            t["due_at"] < now
            and raw.user_ok(f, t["assignee_id"])
            and (f.pipeline is None or (deal is not None and deal.pipeline_id == f.pipeline.pk))
            and (
                f.segment is None
                or (pipeline is not None and pipeline["segment_id"] == f.segment.pk)
            )
            and (
                not f.source
                or (deal is not None and raw.people[deal.person_id]["source"] == f.source)
            )
        )

    tasks = sorted((t for t in open_task if task_ok(t)), key=lambda t: (t["due_at"], t["id"]))

    # Rhythm: touches in the 7 days before the anchor vs the weekly average of 8 weeks before.
    anchor = raw.midnight(f.date_to) if raw.midnight(f.date_to) <= now else now
    recent_start = anchor - dt.timedelta(days=7)
    baseline_start = recent_start - dt.timedelta(weeks=8)
    recent: Counter[int] = Counter()
    before: Counter[int] = Counter()
    for t in raw.touches:
        user = raw.users.get(t["user_id"])
        if user is None or not user["is_active"] or not raw.touch_ok(f, t):
            continue
        if recent_start <= t["at"] < anchor:
            recent[user["id"]] += 1
        elif baseline_start <= t["at"] < recent_start:
            before[user["id"]] += 1
    params = {"date_from": f.date_from.isoformat(), "date_to": f.date_to.isoformat()}
    for name in ("segment", "pipeline", "team", "manager"):
        if getattr(f, name) is not None:
            params[f"{name}_id"] = str(getattr(f, name).pk)
    if f.source:
        params["source"] = f.source
    rhythm = []
    for user_id in before:
        usual = Fraction(before[user_id], 8)  # touches per week
        ratio = Fraction(recent[user_id]) / usual  # the 7 recent days are one week
        if ratio < Fraction(70, 100):
            rhythm.append(
                (
                    ratio,
                    raw.users[user_id]["email"],
                    {
                        "id": user_id,
                        "manager": raw.users[user_id]["email"],
                        "name": raw.users[user_id]["name"],
                        "recent_touches": recent[user_id],
                        "weekly_average": about(usual, 2),
                        "ratio": about(ratio, 4),
                        "url": reverse("web:report", args=["discipline"])
                        + "?"
                        + urlencode({**params, "manager_id": str(user_id)}),
                    },
                )
            )
    # Listed by the ratio as shown (4 places), then e-mail.
    rhythm.sort(key=lambda item: (round(float(item[0]), 4), item[1]))

    return {
        "filter": describe(f),
        "now": now.isoformat(),
        "stalled_deals": {"count": len(stalled), "rows": [deal_row(d) for d in stalled]},
        "rotting_deals": {
            "count": len(rotting),
            "rows": [
                {**deal_row(d), "rot_days": raw.stages[d.stage_id]["rot_days"]} for d in rotting
            ],
        },
        "waiting_leads": {
            "count": len(leads),
            "threshold_hours": 24,
            "rows": [
                {
                    "id": lead["id"],
                    "lead": lead["name"] or lead["email"] or lead["phone"] or f"#{lead['id']}",
                    "source": lead["source"],
                    "channel": lead["channel"],
                    "received_at": lead["received_at"].isoformat(),
                    "hours_waiting": about((now - lead["received_at"]) / dt.timedelta(hours=1), 1),
                    "routed_to": (
                        raw.users[lead["routed_owner_id"]]["email"]
                        if lead["routed_owner_id"]
                        else None
                    ),
                    "url": reverse("web:inbox") + f"#lead-{lead['id']}",
                }
                for lead in leads
            ],
        },
        "managers_below_rhythm": {
            "count": len(rhythm),
            "anchor": anchor.isoformat(),
            "recent_days": 7,
            "baseline_weeks": 8,
            "threshold": 0.7,
            "rows": [row for _ratio, _email, row in rhythm],
        },
        "overdue_tasks": {
            "count": len(tasks),
            "rows": [
                {
                    "id": t["id"],
                    "task": t["title"],
                    "assignee": raw.users[t["assignee_id"]]["email"],
                    "deal_id": t["deal_id"],
                    "person": raw.people[
                        raw.deals[t["deal_id"]].person_id if t["deal_id"] else t["person_id"]
                    ]["name"],
                    "due_at": t["due_at"].isoformat(),
                    "hours_overdue": about((now - t["due_at"]) / dt.timedelta(hours=1), 1),
                    "url": (
                        reverse("web:deal", args=[t["deal_id"]])
                        if t["deal_id"]
                        else reverse("web:person-erase", args=[t["person_id"]])
                    ),
                }
                for t in tasks
            ],
        },
    }


# --- The property --------------------------------------------------------------------------


def differences(actual: Any, expected: Any, path: str = "") -> Iterator[str]:
    """Where the report's JSON differs from the reference, one line per differing value."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in sorted(actual.keys() | expected.keys(), key=str):
            if key not in expected:
                yield f"{path}.{key}: only in the report: {actual[key]!r}"
            elif key not in actual:
                yield f"{path}.{key}: missing from the report (expected {expected[key]!r})"
            else:
                yield from differences(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(actual, list) and isinstance(expected, list):
        if len(actual) != len(expected):
            yield f"{path}: {len(actual)} rows, expected {len(expected)}: {actual!r}, {expected!r}"
        else:
            for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
                yield from differences(a, e, f"{path}[{index}]")
    elif actual != expected:
        yield f"{path}: report {actual!r}, expected {expected!r}"


def assert_same(report: str, f: ReportFilter, actual: Any, expected: Any) -> None:
    found = list(differences(actual, expected))
    assert not found, f"{report} differs for {f}:\n" + "\n".join(found[:30])


def with_real_clock(
    report: str, f: ReportFilter, run: Callable[[], Any], expect: Callable[[dt.datetime], Any]
) -> None:
    """`run` reads the real clock: it must equal the reference as of a moment around the run
    (the history lies long before it, so only a date turning over in between could matter)."""
    before = timezone.now()
    actual = run()
    if list(differences(actual, expect(before))):
        assert_same(report, f, actual, expect(timezone.now()))


def check_costs(raw: Raw, f: ReportFilter) -> None:
    actual = REPORTS["costs"].execute(f)
    expected, needles = costs_expected(raw, f)
    # The warnings' wording is the translator's: each must name what the rule found.
    texts = [check.pop("warnings") for check in actual["funnel_check"]]
    flat = actual.pop("warnings")
    assert_same("costs", f, actual, expected)
    assert [len(t) for t in texts] == [len(n) for n in needles], (texts, needles)
    for pipeline_texts, pipeline_needles in zip(texts, needles, strict=True):
        for text, pieces in zip(pipeline_texts, pipeline_needles, strict=True):
            assert all(piece in text for piece in pieces), (text, pieces)
    assert flat == [
        f"{check['pipeline']}: {text}"
        for check, pipeline_texts in zip(expected["funnel_check"], texts, strict=True)
        for text in pipeline_texts
    ]


def check_every_report(plan: Plan, asked: list[Query], whole: Query, months: int) -> None:
    """Write the history, then compare each report with its reference over the whole history
    and over the asked windows, each seen through its filter and viewer."""
    with history(plan) as built, translation.override("en"):
        raw = Raw(built.tz)
        now = built.now
        wide = dataclasses.replace(whole, start=-10, days=SPAN + 60)
        for f in [built.report_filter(q) for q in (wide, *asked)]:
            assert_same("plan-fact", f, plan_fact(f, now), plan_fact_expected(raw, f, now))
            assert_same("capacity", f, capacity(f, now), capacity_expected(raw, f, now))
            assert_same(
                "forecast",
                f,
                forecast(f, months=months, now=now),
                forecast_expected(raw, f, months, now),
            )
            assert_same("hypotheses", f, hypotheses(f, now=now), hypotheses_expected(raw, f, now))
            assert_same("discipline", f, discipline(f, now), discipline_expected(raw, f, now))
            check_costs(raw, f)

        # The registry runs the same functions on the real clock ("now" is not an option).
        f = built.report_filter(asked[0])
        with_real_clock(
            "plan-fact",
            f,
            lambda: REPORTS["plan-fact"].execute(f),
            lambda t: plan_fact_expected(raw, f, t),
        )
        with_real_clock(
            "capacity",
            f,
            lambda: REPORTS["capacity"].execute(f),
            lambda t: capacity_expected(raw, f, t),
        )
        with_real_clock(
            "forecast",
            f,
            lambda: REPORTS["forecast"].execute(f, months=months),
            lambda t: forecast_expected(raw, f, months, t),
        )
        with_real_clock(
            "hypotheses",
            f,
            lambda: REPORTS["hypotheses"].execute(f),
            lambda t: hypotheses_expected(raw, f, t),
        )


histories = {
    "plan": plans(),
    "asked": st.lists(queries, min_size=1, max_size=2),
    "whole": queries,
    "months": st.integers(1, 8),
}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(**histories)
def test_reports_equal_a_plain_recount_of_the_history(
    plan: Plan, asked: list[Query], whole: Query, months: int
) -> None:
    # This version of hypothesis leaves the values out of "Failing test case": print them.
    note(pretty((plan, asked, whole, months)))
    check_every_report(plan, asked, whole, months)
