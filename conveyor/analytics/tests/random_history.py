"""Random sales histories for property-based report tests, written through the real services.

Three steps, each usable on its own:

1. `world_create()` once per test: users in two teams (an owner, two heads, two managers and a
   deactivated one), two segments with one pipeline each (one key-meeting stage each, a stage
   name shared between them) and a loss-reason catalogue (global, per pipeline, one limited to
   first stages).
2. `steps()` is a hypothesis strategy of `Step`s; `history_build(world, steps, tz)` plays them
   in time order through the services (person_create, lead_receive, deal_open / move / win /
   lose / reopen / transfer, touch_log), so every maintained field (max_position, left_at,
   lost_stage, purchase_number, ...) is set as production sets it. Steps that do not apply
   (no open deal to win, ...) are skipped. Call it inside `transaction.atomic()` and roll back.
3. `raw_read()` reads the raw history back (stage changes, deals' own fields, people, touches,
   intake records) and `replay(raw)` recomputes what each deal's stage changes say (status,
   outcome time, stage, loss stage, highest position, finished stays, purchase number) without
   looking at any derived field: the base of a reference implementation.

Times start at local 09:00 of `START_DAY` in the account zone and move forward by each step's
gap (minutes, some with microseconds); a gap of `MIDNIGHT` jumps to exactly the next local
midnight, so window boundaries can land on events. Sixty-odd steps of under five days each end
within 2025, well before "now" (touches cannot be logged in the future).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from conveyor.accounts.models import Role, Team, User
from conveyor.analytics.filters import ReportFilter
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive
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
from conveyor.touches.models import Channel, ClosingStep, Outcome, Touch, TouchKind
from conveyor.touches.services import touch_log

START_DAY = dt.date(2025, 1, 6)
MIDNIGHT = -1  # a Step.gap: jump to the next local midnight
MAX_GAP_DAYS = 5  # a gap is under this many days
SOURCES = ("website", "referral", "ads", "")
OTHER_CURRENCY = "USD"
# Step kinds, drawn with these weights (a kind listed n times is n times as likely).
_WEIGHTED_KINDS = (
    ["touch"] * 6
    + ["move"] * 6
    + ["open"] * 6
    + ["person"] * 3
    + ["win"] * 4
    + ["lose"] * 3
    + ["request"] * 2
    + ["reopen"] * 2
    + ["transfer"]
    + ["archive"]
)


@dataclass
class World:
    """The fixed cast and configuration every history is played against."""

    boss: User  # role owner: sees everything
    head_a: User
    head_b: User
    manager_a: User
    manager_b: User
    former: User  # a deactivated manager of team A: sees nothing
    team_a: Team
    team_b: Team
    segments: list[Segment]
    pipelines: list[Pipeline]
    reasons: list[LossReason]

    @property
    def owners(self) -> list[User | None]:
        """Who may own a deal or a person (None: nobody)."""
        return [self.manager_a, self.manager_b, self.head_a, None]


def world_create() -> World:
    boss = User.objects.create(email="boss@example.com", name="Olga Owner", role=Role.OWNER)
    head_a = User.objects.create(email="head-a@example.com", name="Hristo Head", role=Role.HEAD)
    head_b = User.objects.create(email="head-b@example.com", name="Boris Head", role=Role.HEAD)
    team_a = Team.objects.create(name="Team A", head=head_a)
    team_b = Team.objects.create(name="Team B", head=head_b)
    User.objects.filter(pk=head_a.pk).update(team=team_a)
    User.objects.filter(pk=head_b.pk).update(team=team_b)
    head_a.refresh_from_db()
    head_b.refresh_from_db()
    manager_a = User.objects.create(
        email="maria@example.com", name="Maria Manager", role=Role.MANAGER, team=team_a
    )
    manager_b = User.objects.create(
        email="oleg@example.com", name="Oleg Outsider", role=Role.MANAGER, team=team_b
    )
    former = User.objects.create(
        email="gone@example.com",
        name="Gone Manager",
        role=Role.MANAGER,
        team=team_a,
        is_active=False,
    )
    small = Segment.objects.create(name="Small business")
    large = Segment.objects.create(name="Enterprise")
    direct = Pipeline.objects.create(name="Direct sales", segment=small, process=Process.CONVERSION)
    key = Pipeline.objects.create(
        name="Key accounts", segment=large, process=Process.ACCOUNT_MANAGEMENT
    )
    layouts = {
        direct: [
            ("Left a request", False),
            ("Told us the task", False),
            ("Came to the meeting", True),
            ("Received the offer", False),
            ("Agreed terms", False),
        ],
        key: [("Left a request", False), ("Saw the demo", True), ("Signed the order", False)],
    }
    for pipeline, layout in layouts.items():
        for position, (name, is_key_meeting) in enumerate(layout, start=1):
            Stage.objects.create(
                pipeline=pipeline,
                position=position,
                name=name,
                exit_criterion=name,
                is_key_meeting=is_key_meeting,
            )
    no_answer = LossReason.objects.create(name="No answer")
    no_answer.stages.set(Stage.objects.filter(position=1))
    reasons = [
        LossReason.objects.create(name="No budget"),
        no_answer,
        # One name in two catalogues: reports group reasons by name.
        LossReason.objects.create(name="Too expensive", pipeline=direct),
        LossReason.objects.create(name="Too expensive", pipeline=key),
        LossReason.objects.create(name="Chose a competitor", pipeline=key),
    ]
    return World(
        boss=boss,
        head_a=head_a,
        head_b=head_b,
        manager_a=manager_a,
        manager_b=manager_b,
        former=former,
        team_a=team_a,
        team_b=team_b,
        segments=[small, large],
        pipelines=[direct, key],
        reasons=reasons,
    )


@dataclass(frozen=True)
class Step:
    """One thing that happens, `gap` minutes (and `micro` microseconds) after the previous one,
    or at the next local midnight; recorded as of `back` minutes earlier (a win logged the day
    after; never before the deal's own last change). `a`, `b`, `c` pick the subject and options,
    modulo what exists at the time; `flag` is a yes/no option (see `history_build` for what
    each means per kind)."""

    kind: str
    gap: int
    back: int = 0
    micro: int = 0  # added to a gap in minutes: times as `timezone.now()` gives them
    a: int = 0
    b: int = 0
    c: int = 0
    flag: bool = False


# Whole days plus minutes, drawn uniformly (hypothesis favours small integers, which would
# squeeze most histories into a few days); sometimes no time at all, sometimes to midnight.
_minutes = st.tuples(st.sampled_from(range(MAX_GAP_DAYS)), st.sampled_from(range(1, 24 * 60)))
_gaps = st.one_of(
    st.just(0),
    st.just(MIDNIGHT),
    _minutes.map(lambda parts: parts[0] * 24 * 60 + parts[1]),
    _minutes.map(lambda parts: parts[0] * 24 * 60 + parts[1]),
)
# Mostly as it happens; sometimes hours or days late, so different deals' events (two wins of
# one person, say) are recorded out of time order.
_backs = st.one_of(st.just(0), st.just(0), st.sampled_from(range(60, 10 * 24 * 60, 60)))
_micros = st.one_of(st.just(0), st.integers(1, 60_000_000 - 1))
_step = st.builds(
    Step,
    kind=st.sampled_from(_WEIGHTED_KINDS),
    gap=_gaps,
    back=_backs,
    micro=_micros,
    a=st.integers(0, 15),
    b=st.integers(0, 15),
    c=st.integers(0, 15),
    flag=st.booleans(),
)


def steps(min_size: int = 25, max_size: int = 60) -> st.SearchStrategy[list[Step]]:
    """Histories: two people first, then any mix of steps."""
    people = st.lists(_step.map(lambda step: replace(step, kind="person")), min_size=2, max_size=2)
    return st.tuples(people, st.lists(_step, min_size=min_size, max_size=max_size)).map(
        lambda parts: parts[0] + parts[1]
    )


@dataclass
class Built:
    """What `history_build` did: one line per step played (or skipped), and every event time."""

    log: list[str] = field(default_factory=list)
    times: list[dt.datetime] = field(default_factory=list)


def _next_time(now: dt.datetime, gap: int, tz: ZoneInfo) -> dt.datetime:
    if gap == MIDNIGHT:
        day = now.astimezone(tz).date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return now + dt.timedelta(minutes=gap)


def _amount(seed: int, other: int) -> Decimal:
    return Decimal(100 + 37 * seed + 11 * other) + Decimal(seed * 7 % 100) / 100


def history_build(world: World, plan: list[Step], tz: ZoneInfo) -> Built:
    """Play `plan` through the services, in time order, in the account zone `tz`.

    What a step's options mean (indexes wrap around what exists at that moment):
    - person: owner a, source c, referred by person b when `flag`; created at the step's time;
    - open: person a, pipeline b, stage c (the first stage when c % 4 == 0), owner a + c,
      in `OTHER_CURRENCY` when c % 7 == 3;
    - move: open deal a to another open stage b; transfer: open deal a to the other pipeline
      (its first stage when `flag`, else stage b); reopen: closed deal a (where it closed when
      `flag`, else stage b);
    - win: open deal a (a new amount when `flag`); lose: open deal a for a reason b that applies
      there, refused by us when `flag`;
    - touch: the deal last changed (a even), deal a, or person a alone (`flag` and b % 3 == 0);
      closing when c % 3 == 0 (step a, outcome b), logged by `_toucher` option b;
    - request: an intake record from person a's e-mail (`flag`) or a stranger, source b;
    - archive (once): stage 2 + b % 2 of pipeline a.
    """
    built = Built()
    now = dt.datetime.combine(START_DAY, dt.time(9), tzinfo=tz)
    people: list[Person] = []
    deals: list[int] = []
    status: dict[int, str] = {}
    archived = False
    recent: int | None = None  # the deal last changed: touches at its very moment are likely
    steps_of = list(ClosingStep.values)
    outcomes = list(Outcome.values)
    channels = list(Channel.values)
    limits = {r.pk: set(r.stages.values_list("pk", flat=True)) for r in world.reasons}

    def stages_of(pipeline_id: int) -> list[Stage]:
        return list(
            Stage.objects.filter(pipeline_id=pipeline_id, is_archived=False).order_by("position")
        )

    def pick(ids: list[int], index: int) -> Deal | None:
        if not ids:
            return None
        return Deal.objects.select_related("stage", "owner__team").get(pk=ids[index % len(ids)])

    for number, step in enumerate(plan):
        now = _next_time(now, step.gap, tz)
        if step.gap != MIDNIGHT:
            now += dt.timedelta(microseconds=step.micro)
        at = now - dt.timedelta(minutes=step.back)
        line = ""
        open_ids = [pk for pk in deals if status[pk] == DealStatus.OPEN]
        closed_ids = [pk for pk in deals if status[pk] != DealStatus.OPEN]
        deal: Deal | None
        if step.kind == "person" or (not people and step.kind in ("open", "touch")):
            owner = world.owners[step.a % len(world.owners)]
            referrer = people[step.b % len(people)] if people and step.flag else None
            person = person_create(
                name=f"Person {len(people)}",
                by=None,
                owner=owner,
                email=f"person{len(people)}@example.org",
                source=SOURCES[step.c % len(SOURCES)],
                referred_by=referrer,
            )
            Person.objects.filter(pk=person.pk).update(created_at=at)
            people.append(person)
            line += (
                f" #{person.pk} owner={owner and owner.email} source={person.source!r}"
                f" referred_by={referrer and referrer.pk}"
            )
        elif step.kind == "open":
            person = people[step.a % len(people)]
            pipeline = world.pipelines[step.b % 2]
            choices = stages_of(pipeline.pk)
            stage = None if step.c % 4 == 0 else choices[step.c % len(choices)]
            owner = world.owners[(step.a + step.c) % len(world.owners)]
            currency = OTHER_CURRENCY if step.c % 7 == 3 else ""
            deal = deal_open(
                person=person,
                pipeline=pipeline,
                owner=owner,
                by=None,
                stage=stage,
                amount=_amount(step.a, step.b),
                currency=currency,
                at=at,
            )
            deals.append(deal.pk)
            status[deal.pk] = deal.status
            line += (
                f" deal #{deal.pk} person #{person.pk} {pipeline.name} at {deal.stage.position}"
                f" owner={owner and owner.email} {deal.amount} {deal.currency}"
            )
        elif step.kind == "move" and (deal := pick(open_ids, step.a)) is not None:
            at = max(at, _last_change(deal))
            choices = [s for s in stages_of(deal.pipeline_id) if s.pk != deal.stage_id]
            if choices:
                target = choices[step.b % len(choices)]
                deal_move(deal_id=deal.pk, stage=target, version=deal.version, by=None, at=at)
                line += f" deal #{deal.pk} {deal.stage.position} -> {target.position}"
            else:
                line += " (skipped)"
        elif step.kind == "win" and (deal := pick(open_ids, step.a)) is not None:
            at = max(at, _last_change(deal))
            amount = _amount(step.b, step.c) if step.flag else None
            deal = deal_win(deal_id=deal.pk, version=deal.version, by=None, amount=amount, at=at)
            status[deal.pk] = deal.status
            line += f" deal #{deal.pk} {deal.amount} {deal.currency}"
        elif step.kind == "lose" and (deal := pick(open_ids, step.a)) is not None:
            at = max(at, _last_change(deal))
            usable = [
                r
                for r in world.reasons
                if r.pipeline_id in (None, deal.pipeline_id)
                and (not limits[r.pk] or deal.stage_id in limits[r.pk])
            ]
            reason = usable[step.b % len(usable)]
            deal = deal_lose(
                deal_id=deal.pk,
                version=deal.version,
                by=None,
                reason=reason,
                refused_by_us=step.flag,
                unmet_criteria="No budget this year" if step.flag else "",
                at=at,
            )
            status[deal.pk] = deal.status
            line += f" deal #{deal.pk} reason={reason.name!r} refused={step.flag}"
        elif step.kind == "reopen" and (deal := pick(closed_ids, step.a)) is not None:
            at = max(at, _last_change(deal))
            choices = stages_of(deal.pipeline_id)
            keep = step.flag and not deal.stage.is_archived
            back_at = None if keep else choices[step.b % len(choices)]
            deal = deal_reopen(deal_id=deal.pk, version=deal.version, by=None, stage=back_at, at=at)
            status[deal.pk] = deal.status
            line += f" deal #{deal.pk} at {deal.stage.position}"
        elif step.kind == "transfer" and (deal := pick(open_ids, step.a)) is not None:
            at = max(at, _last_change(deal))
            pipeline = next(p for p in world.pipelines if p.pk != deal.pipeline_id)
            choices = stages_of(pipeline.pk)
            entry = None if step.flag else choices[step.b % len(choices)]
            deal = deal_transfer(
                deal_id=deal.pk,
                pipeline=pipeline,
                version=deal.version,
                by=None,
                stage=entry,
                at=at,
            )
            line += f" deal #{deal.pk} -> {pipeline.name} at {deal.stage.position}"
        elif step.kind == "touch":
            if step.flag and step.b % 3 == 0:
                deal = None
            elif recent is not None and step.a % 2 == 0:
                deal = pick([recent], 0)
            else:
                deal = pick(deals, step.a)
            person = people[step.a % len(people)] if deal is None else deal.person
            owner = deal.owner if deal is not None else person.owner
            by = _toucher(world, owner, step.b)
            closing = step.c % 3 == 0
            touch = touch_log(
                by=by,
                kind=TouchKind.CLOSING if closing else TouchKind.WARMING,
                deal=deal,
                person=None if deal is not None else person,
                channel=channels[step.b % len(channels)],
                step=steps_of[step.a % len(steps_of)] if closing else "",
                step_note="Site visit" if closing else "",
                outcome=outcomes[step.b % len(outcomes)] if closing else "",
                at=at,
            )
            line += (
                f" {touch.kind} {touch.step}/{touch.outcome} deal={deal and deal.pk}"
                f" person #{person.pk} user={touch.user and touch.user.email}"
            )
        elif step.kind == "request":
            known = people[step.a % len(people)] if step.flag else None
            email = known.email if known is not None else f"stranger{number}@example.net"
            lead = lead_receive(
                channel=LeadChannel.WEB_FORM,
                name=f"Request {number}",
                email=email,
                source=SOURCES[step.b % len(SOURCES)],
                received_at=at,
            )
            line += f" lead #{lead.pk} person={lead.person_id} source={lead.source!r}"
        elif step.kind == "archive" and not archived:
            # As the admin does it: a stage some deals may sit in leaves the board.
            pipeline = world.pipelines[step.a % 2]
            stage = Stage.objects.get(pipeline=pipeline, position=2 + step.b % 2)
            Stage.objects.filter(pk=stage.pk).update(is_archived=True)
            archived = True
            line += f" {pipeline.name} stage {stage.position}"
        else:
            line += " (skipped)"
        if step.kind in ("open", "move", "win", "lose", "reopen", "transfer") and deal:
            recent = deal.pk
        built.log.append(f"{number}: {at.astimezone(tz):%Y-%m-%d %H:%M} {step.kind}{line}")
        built.times.append(at)
    return built


def _last_change(deal: Deal) -> dt.datetime:
    """The deal's latest stage change: a service refuses anything dated before it."""
    return deal.closed_at or deal.stage_entered_at


def _toucher(world: World, owner: User | None, choice: int) -> User | None:
    """Who logs a touch: the system (credited to the owner), the owner, the owner's head, or
    the account owner — each allowed by the access rule."""
    option = choice % 4
    if option == 0:
        return None
    if option == 1:
        return owner
    if option == 2:
        if owner is not None and owner.team is not None and owner.team.head is not None:
            return owner.team.head
        return world.head_a if owner is None else owner
    return world.boss


# --- The raw history, read back ---------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    id: int
    deal_id: int
    kind: str
    to_stage_id: int | None
    at: dt.datetime


@dataclass(frozen=True)
class DealRow:
    """A deal's own fields (not the ones the services derive from its history)."""

    id: int
    person_id: int
    owner_id: int | None
    opened_at: dt.datetime
    amount: Decimal
    currency: str
    lost_reason: str | None
    refused_by_us: bool


@dataclass(frozen=True)
class PersonRow:
    id: int
    owner_id: int | None
    source: str
    referred_by_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class TouchRow:
    id: int
    deal_id: int | None
    person_id: int
    user_id: int | None
    at: dt.datetime
    kind: str
    step: str
    outcome: str


@dataclass(frozen=True)
class LeadRow:
    id: int
    person_id: int | None
    source: str
    received_at: dt.datetime


@dataclass(frozen=True)
class StageRow:
    id: int
    pipeline_id: int
    position: int
    name: str
    is_key_meeting: bool
    is_archived: bool


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str
    team_id: int | None
    team_head_id: int | None
    is_active: bool


@dataclass
class Raw:
    changes: list[ChangeRow]  # ordered by (deal, at, id): the order they happened in
    deals: dict[int, DealRow]
    people: dict[int, PersonRow]
    touches: list[TouchRow]
    leads: list[LeadRow]
    stages: dict[int, StageRow]
    pipelines: dict[int, tuple[str, int | None]]  # id -> (name, segment id)
    users: dict[int, UserRow]


def raw_read() -> Raw:
    """Everything in the database that the reports may count, as plain rows."""
    return Raw(
        changes=[
            ChangeRow(*row)
            for row in StageChange.objects.order_by("deal_id", "at", "id").values_list(
                "id", "deal_id", "kind", "to_stage_id", "at"
            )
        ],
        deals={
            row[0]: DealRow(*row)
            for row in Deal.objects.values_list(
                "id",
                "person_id",
                "owner_id",
                "opened_at",
                "amount",
                "currency",
                "lost_reason__name",
                "refused_by_us",
            )
        },
        people={
            row[0]: PersonRow(*row)
            for row in Person.objects.values_list(
                "id", "owner_id", "source", "referred_by_id", "created_at"
            )
        },
        touches=[
            TouchRow(*row)
            for row in Touch.objects.values_list(
                "id", "deal_id", "person_id", "user_id", "at", "kind", "step", "outcome"
            )
        ],
        leads=[
            LeadRow(*row)
            for row in Lead.objects.values_list("id", "person_id", "source", "received_at")
        ],
        stages={
            row[0]: StageRow(*row)
            for row in Stage.objects.values_list(
                "id", "pipeline_id", "position", "name", "is_key_meeting", "is_archived"
            )
        },
        pipelines={
            pk: (name, segment)
            for pk, name, segment in Pipeline.objects.values_list("id", "name", "segment_id")
        },
        users={
            row[0]: UserRow(*row)
            for row in User.objects.values_list(
                "id", "email", "name", "role", "team_id", "team__head_id", "is_active"
            )
        },
    )


@dataclass
class Facts:
    """What one deal's stage changes say, replayed in order."""

    deal: DealRow
    pipeline_id: int  # the pipeline of the stage it is (or closed) at
    stage_id: int
    status: str
    closed_at: dt.datetime | None  # time of the outcome it ended with
    lost_stage_id: int | None
    # Highest position held in its current pipeline since it last came into it (a transfer
    # starts the climb afresh: positions of two pipelines do not compare).
    reached: int
    stays: list[tuple[int, dt.timedelta]]  # finished stays: (stage id, how long)
    purchase_number: int | None = None


def replay(raw: Raw) -> dict[int, Facts]:
    """Each deal's facts from its stage changes alone; purchase numbers number each person's
    won deals 1..n by win time (then id)."""
    by_deal: dict[int, list[ChangeRow]] = defaultdict(list)
    for change in raw.changes:
        by_deal[change.deal_id].append(change)
    facts: dict[int, Facts] = {}
    for deal_id, changes in by_deal.items():
        pipeline_id = stage_id = reached = 0
        status = ""
        closed_at: dt.datetime | None = None
        lost_stage_id: int | None = None
        stay: tuple[int, dt.datetime] | None = None  # (stage, since) while in a stage
        stays: list[tuple[int, dt.timedelta]] = []
        for change in changes:
            if stay is not None:
                stays.append((stay[0], change.at - stay[1]))
                stay = None
            if change.kind in (ChangeKind.WON, ChangeKind.LOST):
                status = DealStatus.WON if change.kind == ChangeKind.WON else DealStatus.LOST
                closed_at = change.at
                lost_stage_id = stage_id if change.kind == ChangeKind.LOST else None
                continue
            assert change.to_stage_id is not None
            stage = raw.stages[change.to_stage_id]
            reached = (
                max(reached, stage.position) if stage.pipeline_id == pipeline_id else stage.position
            )
            pipeline_id, stage_id = stage.pipeline_id, stage.id
            status, closed_at, lost_stage_id = DealStatus.OPEN, None, None
            stay = (stage.id, change.at)
        facts[deal_id] = Facts(
            deal=raw.deals[deal_id],
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            status=status,
            closed_at=closed_at,
            lost_stage_id=lost_stage_id,
            reached=reached,
            stays=stays,
        )
    wins: dict[int, list[Facts]] = defaultdict(list)
    for fact in facts.values():
        if fact.status == DealStatus.WON:
            wins[fact.deal.person_id].append(fact)
    for won in wins.values():
        won.sort(key=lambda fact: (fact.closed_at, fact.deal.id))
        for number, fact in enumerate(won, start=1):
            fact.purchase_number = number
    return facts


def describe(f: ReportFilter) -> dict[str, str | None]:
    """The filter as a report's JSON names it, written out independently of the report."""
    return {
        "from": f.date_from.isoformat(),
        "to": f.date_to.isoformat(),
        "segment": f.segment.name if f.segment else None,
        "pipeline": f.pipeline.name if f.pipeline else None,
        "team": f.team.name if f.team else None,
        "manager": f.manager.email if f.manager else None,
        "source": f.source or None,
    }
