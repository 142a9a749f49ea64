"""A believable sales company as a DESIGN §5 dataset folder, streamed to disk.

What lives here: the catalogue of the company (segments, client-action funnels, loss reasons,
team) and a simulation that walks each person through the conveyor: a request, a conversion
deal with stage changes and touches, and for customers repeat deals in the account-management
funnel. Rows are written as they are made, so memory stays bounded at any size; the only state
kept across people is a ring of recent customers (for referrals) and per-month totals (for
expenses and plans). Nothing here touches the database: the importer loads what this writes.

Times are integer "working minutes" from the start (11 working hours a day, Monday to Friday),
turned into calendar timestamps only when a row is written. Every later event is computed by
adding durations, so ordering (opened <= stage changes <= closed, touches inside the deal) holds
by construction, and the mapping to the calendar is monotonic so it survives formatting.
"""

from __future__ import annotations

import csv
import math
import random
import time
from bisect import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from conveyor.core.timewindow import add_months
from conveyor.dataset.reader import COLUMNS

# The §5 contract (file names and header rows, in load order) is the importer's.
HEADERS = COLUMNS

CURRENCY = "EUR"
TEAM = "Sales team"
MINUTES_PER_DAY = 660  # working hours 08:00-19:00 UTC
DAY_START_MINUTE = 8 * 60
WORKDAYS = 5


@dataclass(frozen=True)
class StageSpec:
    name: str
    exit_criterion: str
    advance: float  # share of deals that leave the stage forward (the last stage: win)
    median_days: float  # typical working days spent in the stage
    is_key_meeting: bool = False


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    share: float
    conversion: tuple[StageSpec, ...]
    repeat: tuple[StageSpec, ...]
    amount_median: float
    amount_sigma: float
    products: tuple[str, ...]
    repeat_products: tuple[str, ...]
    sources: dict[str, float]
    owners: dict[int, float]  # user id -> weight
    touches_to_win: tuple[float, float]  # mean, sd of touches on a won first deal
    repeat_open: float  # share of customers who get an account-management deal
    has_company: float


def _s(name: str, exit_criterion: str, advance: float, days: float, key: bool = False) -> StageSpec:
    return StageSpec(name, exit_criterion, advance, days, key)


# The repeat funnel is the same client path in every segment (onboarding -> feedback -> more);
# what differs is speed and how often a customer comes back, set per segment below.
def _repeat_stages(speed: float, loyalty: float) -> tuple[StageSpec, ...]:
    return (
        _s("Received onboarding", "Used the product for a month", 0.93, 6 * speed),
        _s("Gave feedback", "Told us about a new need", 0.8 * loyalty, 10 * speed),
        _s("Asked for more", "Received the offer for more", 0.86, 5 * speed),
        _s("Received the offer for more", "Paid the invoice for more", 0.84, 4 * speed),
    )


SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec(
        name="Small business",
        share=0.6,
        conversion=(
            _s("Left a request", "Answered the call and told us their task", 0.72, 0.6),
            _s("Told us their task", "Booked a demo", 0.62, 2.0),
            _s("Came to the demo", "Asked for a proposal", 0.66, 2.0, key=True),
            _s("Received the proposal", "Agreed the plan and the price", 0.68, 3.0),
            _s("Received the invoice", "Paid the invoice", 0.84, 2.0),
        ),
        repeat=_repeat_stages(speed=1.0, loyalty=0.92),
        amount_median=1200,
        amount_sigma=0.55,
        products=("Starter plan", "Team plan", "Team plan, yearly"),
        repeat_products=("Extra seats", "Upgrade to Business", "Add-on: telephony"),
        sources={"website": 35, "ads": 33, "cold_call": 10, "exhibition": 5, "partner": 10},
        owners={3: 0.42, 4: 0.42, 5: 0.16},
        touches_to_win=(8.0, 2.4),
        repeat_open=0.82,
        has_company=0.5,
    ),
    SegmentSpec(
        name="Mid-market",
        share=0.3,
        conversion=(
            _s("Left a request", "Told us their task on the first call", 0.74, 0.8),
            _s("Told us their task", "Agreed a time for the key meeting", 0.63, 3.0),
            _s("Came to the key meeting", "Asked for a proposal", 0.64, 4.0, key=True),
            _s("Received the proposal", "Came back with questions on terms", 0.66, 5.0),
            _s("Agreed the terms", "Signed the contract", 0.78, 4.0),
            _s("Signed the contract", "Paid the invoice", 0.9, 3.0),
        ),
        repeat=_repeat_stages(speed=1.3, loyalty=1.0),
        amount_median=9000,
        amount_sigma=0.6,
        products=("Business plan, 25 seats", "Business plan, 50 seats", "Implementation"),
        repeat_products=("More seats", "Integration package", "Training for the team"),
        sources={"website": 25, "ads": 18, "cold_call": 20, "exhibition": 15, "partner": 22},
        owners={5: 0.3, 6: 0.5, 7: 0.2},
        touches_to_win=(10.0, 2.8),
        repeat_open=0.86,
        has_company=1.0,
    ),
    SegmentSpec(
        name="Enterprise",
        share=0.1,
        conversion=(
            _s("Left a request", "Named the budget owner and the timing", 0.78, 1.0),
            _s("Passed qualification", "Came to the key meeting", 0.62, 5.0),
            _s("Came to the key meeting", "Agreed to a pilot", 0.62, 6.0, key=True),
            _s("Ran the pilot", "Asked for a commercial proposal", 0.66, 15.0),
            _s("Received the proposal", "Passed procurement review", 0.7, 8.0),
            _s("Agreed the terms", "Signed the contract", 0.8, 7.0),
            _s("Signed the contract", "Paid the first invoice", 0.92, 5.0),
        ),
        repeat=_repeat_stages(speed=1.8, loyalty=1.1),
        amount_median=60000,
        amount_sigma=0.65,
        products=("Enterprise rollout", "Enterprise licence, 3 years", "Private cloud"),
        repeat_products=("New department rollout", "Premium support", "Extra modules"),
        sources={"website": 10, "ads": 5, "cold_call": 30, "exhibition": 30, "partner": 25},
        owners={7: 0.8, 6: 0.2},
        touches_to_win=(13.0, 3.5),
        repeat_open=0.9,
        has_company=1.0,
    ),
)

USERS: tuple[tuple[int, str, str], ...] = (
    (1, "Elena Georgieva", "owner"),
    (2, "Dmitry Sokolov", "head"),
    (3, "Ivan Petrov", "manager"),
    (4, "Maria Dimitrova", "manager"),
    (5, "Alexei Smirnov", "manager"),
    (6, "Nina Koleva", "manager"),
    (7, "Georgi Stoyanov", "manager"),
)
HEAD_ID = 2
MANAGER_IDS = (3, 4, 5, 6, 7)

# (name, refused by us). Ids are positions from 1.
LOSS_REASONS: tuple[tuple[str, bool], ...] = (
    ("No answer", False),
    ("Spam or wrong contact", False),
    ("Not our client (refused by us)", True),
    ("No budget", False),
    ("Not now, postponed", False),
    ("Could not reach the decision maker", False),
    ("Chose a competitor", False),
    ("Too expensive", False),
    ("Terms did not suit", False),
    ("Went silent", False),
    ("We cannot deliver in time (refused by us)", True),
)
# Reasons a client states himself: the last closing touch records them as "refused".
_CLIENT_SAID_NO = {4, 5, 7, 8, 9}

# Loss reasons by where the deal stands: early losses are unreachable or unfit leads, late
# ones are lost to competitors and price (DESIGN §1: move losses to the front).
_REASONS_EARLY = {1: 44, 2: 9, 3: 22, 4: 12, 5: 13}
_REASONS_MIDDLE = {3: 8, 4: 22, 5: 18, 6: 16, 7: 14, 10: 16, 1: 6}
_REASONS_LATE = {7: 30, 8: 24, 9: 15, 10: 14, 4: 10, 11: 7}
_REASONS_REPEAT = {5: 32, 4: 24, 7: 14, 10: 20, 8: 10}

# What one lead costs per channel (EUR) and a fixed monthly spend; referral is the bonus paid.
_COST_PER_LEAD = {
    "website": 22.0,
    "ads": 58.0,
    "cold_call": 35.0,
    "exhibition": 140.0,
    "partner": 75.0,
    "referral": 25.0,
}
_FIXED_MONTHLY = {"website": 900.0, "exhibition": 0.0, "cold_call": 400.0}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST_NAMES = _words(
    "Ivan Georgi Dimitar Nikolay Petar Hristo Stoyan Todor Aleksandar Vasil Martin Kaloyan "
    "Yordan Boris Sergey Andrey Dmitry Mikhail Oleg Pavel Anton Roman Viktor Maxim "
    "Maria Elena Ivanka Desislava Tsvetelina Gergana Milena Radostina Yana Silvia Teodora "
    "Natalia Olga Irina Svetlana Anna Ekaterina Tatiana Yulia Daria Polina Ksenia"
)
_LAST_NAMES = _words(
    "Petrov Ivanov Georgiev Dimitrov Nikolov Stoyanov Todorov Hristov Kolev Popov Marinov "
    "Angelov Vasilev Atanasov Iliev Yordanov Kostov Smirnov Kuznetsov Sokolov Volkov Lebedev "
    "Morozov Novikov Fedorov Pavlov Orlov Zaitsev Belov Vinogradov Mitev Penev Slavov"
)
_COMPANY_A = _words(
    "Nova Balkan Vitosha Rila Pirin Danube Orbit Delta Alfa Sever Volga Neva Sigma Vector "
    "Atlas Zenit Arda Struma Evro Trakia Rodopa Yug Tundzha Maritsa Iskar"
)
_COMPANY_B = _words(
    "Logistics Dental Foods Build Soft Print Motors Pharma Textile Energy Media Agro Retail "
    "Clinic Trade Systems Hotels Design Security Consult Furniture Optics Auto Fitness"
)
_COMPANY_C = ("Ltd", "OOD", "EOOD", "AD", "LLC", "Group")
_MAIL_DOMAINS = ("mail.example", "post.example", "inbox.example", "webmail.example")
# Mobile prefixes that take seven more digits (Bulgaria, Russia, Germany, Romania).
_PHONE_PREFIXES = ("+35987", "+35988", "+35989", "+35988", "+7916", "+7903", "+49170", "+4072")

_WARM_CHANNELS = ("call", "email", "message", "call", "message", "email", "call", "other")
_CLOSE_CHANNELS = ("call", "call", "meeting", "call", "meeting", "visit")


@dataclass
class GenerateResult:
    """Rows written per file, the calendar span, and how long it took."""

    counts: dict[str, int] = field(default_factory=dict)
    start: date | None = None
    end: date | None = None
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


class _Calendar:
    """Working minutes <-> calendar strings. Precomputed so formatting a row is two lookups."""

    def __init__(self, start: date, end: date) -> None:
        self.days: list[date] = []
        day = start
        while day < end:
            if day.weekday() < WORKDAYS:
                self.days.append(day)
            day += timedelta(days=1)
        if not self.days:
            raise ValueError("the period has no working days")
        self.end_minute = len(self.days) * MINUTES_PER_DAY
        self._day_prefix = [f"{d.isoformat()}T" for d in self.days]
        self._hm = [
            f"{(DAY_START_MINUTE + m) // 60:02d}:{(DAY_START_MINUTE + m) % 60:02d}:00+00:00"
            for m in range(MINUTES_PER_DAY)
        ]
        # Month buckets (index into self.months) for expenses and plans.
        self.months: list[date] = []
        self._month_of_day: list[int] = []
        for d in self.days:
            first = d.replace(day=1)
            if not self.months or self.months[-1] != first:
                self.months.append(first)
            self._month_of_day.append(len(self.months) - 1)

    def stamp(self, minute: int) -> str:
        day, rest = divmod(minute, MINUTES_PER_DAY)
        return self._day_prefix[day] + self._hm[rest]

    def month_index(self, minute: int) -> int:
        return self._month_of_day[minute // MINUTES_PER_DAY]


class _Weighted:
    """rng.choices without rebuilding cumulative weights on every call."""

    def __init__(self, weights: Mapping[Any, float]) -> None:
        self.values = list(weights)
        self.cum = list(accumulate(weights.values()))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect(self.cum, rng.random() * self.total)]


@dataclass
class _Pipe:
    id: int
    name: str
    segment: SegmentSpec
    process: str
    stages: tuple[StageSpec, ...]
    stage_ids: list[int]
    # log of the median duration of each stage in working minutes, for lognormvariate
    mu: list[float]


@dataclass
class _Path:
    changes: list[tuple[int, int, int]]  # (from position or 0, to position, minute)
    status: str
    closed: int  # minute of the win or loss; -1 while open
    position: int  # the stage the deal is (or was lost) at


class _Generator:
    """Holds the writers and the little cross-person state; `run` streams everything."""

    def __init__(
        self, out: Path, deals: int, seed: int, start: date, months: int, realistic: bool
    ) -> None:
        self.out = out
        self.deals_target = deals
        self.rng = random.Random(seed)
        self.start = start
        self.end = add_months(start, months)
        self.cal = _Calendar(start, self.end)
        self.realistic = realistic
        self.counts: dict[str, int] = dict.fromkeys(HEADERS, 0)
        self.deal_id = 0
        self.touch_id = 0
        self.person_id = 0
        # Recent customers (person id, minute of the first win) to pick referrers from.
        self.customers: list[tuple[int, int]] = []
        self.customers_next = 0
        self.leads_per_month: dict[tuple[str, int], int] = {}
        self.won_per_month: dict[tuple[int, int], list[float]] = {}
        self.segment_pick = _Weighted({i: s.share for i, s in enumerate(SEGMENTS)})
        self.source_pick = [_Weighted(s.sources) for s in SEGMENTS]
        self.owner_pick = [_Weighted(s.owners) for s in SEGMENTS]
        self.reason_early = _Weighted(_REASONS_EARLY)
        self.reason_middle = _Weighted(_REASONS_MIDDLE)
        self.reason_late = _Weighted(_REASONS_LATE)
        self.reason_repeat = _Weighted(_REASONS_REPEAT)
        self.conv: list[_Pipe] = []
        self.repeat: list[_Pipe] = []

    # --- catalogue -------------------------------------------------------------------------

    def _catalogue(self, writers: dict[str, Any]) -> None:
        w = writers
        for uid, name, role in USERS:
            email = name.lower().replace(" ", ".") + "@conveyor.example"
            w["users.csv"].writerow((uid, name, email, role, TEAM))
        stage_id = 0
        pipe_id = 0
        for process, label in (("conversion", "first sale"), ("account_management", "repeat")):
            for seg_index, seg in enumerate(SEGMENTS):
                pipe_id += 1
                stages = seg.conversion if process == "conversion" else seg.repeat
                ids: list[int] = []
                for position, st in enumerate(stages, start=1):
                    stage_id += 1
                    ids.append(stage_id)
                    w["stages.csv"].writerow(
                        (
                            stage_id,
                            pipe_id,
                            position,
                            st.name,
                            st.exit_criterion,
                            "true" if st.is_key_meeting else "false",
                        )
                    )
                pipe = _Pipe(
                    id=pipe_id,
                    name=f"{seg.name} / {label}",
                    segment=seg,
                    process=process,
                    stages=stages,
                    stage_ids=ids,
                    mu=[math.log(st.median_days * MINUTES_PER_DAY) for st in stages],
                )
                w["pipelines.csv"].writerow((pipe_id, pipe.name, seg_index + 1, process))
                (self.conv if process == "conversion" else self.repeat).append(pipe)
        for seg_index, seg in enumerate(SEGMENTS):
            w["segments.csv"].writerow((seg_index + 1, seg.name))
        for reason_id, (name, _refused) in enumerate(LOSS_REASONS, start=1):
            w["loss_reasons.csv"].writerow((reason_id, name))
        self.counts["users.csv"] = len(USERS)
        self.counts["segments.csv"] = len(SEGMENTS)
        self.counts["pipelines.csv"] = pipe_id
        self.counts["stages.csv"] = stage_id
        self.counts["loss_reasons.csv"] = len(LOSS_REASONS)

    # --- simulation --------------------------------------------------------------------------

    def _walk(self, pipe: _Pipe, t0: int, first: int, boost: float) -> _Path:
        """Move a deal through `pipe` from position `first` at minute `t0` until won, lost or
        the dataset's end. `boost` shrinks every stage's loss share (referrals convert better)."""
        rng = self.rng
        end = self.cal.end_minute
        last = len(pipe.stages)
        changes = [(0, first, t0)]
        pos = first
        t = t0
        went_back = False
        while True:
            t += max(1, int(rng.lognormvariate(pipe.mu[pos - 1], 0.85)))
            if t >= end:
                return _Path(changes, "open", -1, pos)
            advance = 1.0 - (1.0 - pipe.stages[pos - 1].advance) * boost
            if rng.random() >= advance:
                # A loss takes a little longer: the client goes quiet before the "no".
                t += int(rng.random() * MINUTES_PER_DAY * 2)
                if t >= end:
                    return _Path(changes, "open", -1, pos)
                return _Path(changes, "lost", t, pos)
            if pos == last:
                return _Path(changes, "won", t, pos)
            roll = rng.random()
            if pos >= 3 and not went_back and roll < 0.05:
                # The client reopened an earlier question (e.g. terms -> proposal again).
                went_back = True
                changes.append((pos, pos - 1, t))
                pos -= 1
                continue
            step = 2 if pos + 2 <= last and roll > 0.96 else 1
            changes.append((pos, pos + step, t))
            pos += step

    def _reason(self, pipe: _Pipe, position: int) -> int:
        if pipe.process != "conversion":
            return int(self.reason_repeat.pick(self.rng))
        share = position / len(pipe.stages)
        if position == 1:
            return int(self.reason_early.pick(self.rng))
        if share < 0.7:
            return int(self.reason_middle.pick(self.rng))
        return int(self.reason_late.pick(self.rng))

    def _touch_count(self, pipe: _Pipe, path: _Path, purchase: int) -> int:
        rng = self.rng
        moved = len(path.changes)
        if path.status == "won":
            if purchase == 1:
                mean, sd = pipe.segment.touches_to_win
            else:
                mean, sd = 3.0 + 0.8 * moved, 1.5
            return max(2, round(rng.gauss(mean, sd)))
        # Lost and open deals: touches grow with the ground covered.
        return max(1, round(1 + 1.4 * moved + rng.gauss(0, 1.2)))

    def _touches(
        self,
        writer: Any,
        pipe: _Pipe,
        deal_id: int,
        person_id: int,
        owner: int,
        path: _Path,
        reason: int,
        purchase: int,
    ) -> None:
        rng = self.rng
        stamp = self.cal.stamp
        t0 = path.changes[0][2]
        t_end = path.closed if path.closed >= 0 else self.cal.end_minute - 1
        span = max(0, t_end - t0)
        total = self._touch_count(pipe, path, purchase)
        # Stochastic rounding keeps the rhythm at about 5 warming : 1 closing overall.
        closing = int(total / 6 + rng.random())
        if path.status == "won":
            closing = max(1, closing)
        closing = min(closing, total)
        warming = total - closing
        rows: list[tuple[Any, ...]] = []
        tid = self.touch_id
        for _ in range(warming):
            tid += 1
            user = HEAD_ID if rng.random() < 0.04 else owner
            at = t0 + int(rng.random() * span)
            channel = _WARM_CHANNELS[int(rng.random() * 8)]
            rows.append((tid, deal_id, person_id, user, stamp(at), "warming", channel, ""))
        moves = [c[2] for c in path.changes[1:]]
        for i in range(closing):
            tid += 1
            if i == 0 and path.status != "open":
                # The last push: the invoice that got paid, or the ask that got the "no".
                at = max(t0, path.closed - int(rng.random() * 180))
                if path.status == "won":
                    outcome = "advanced"
                else:
                    outcome = "refused" if reason in _CLIENT_SAID_NO else "not_advanced"
            elif moves and rng.random() < 0.7:
                move = moves[int(rng.random() * len(moves))]
                at = max(t0, move - int(rng.random() * 240))
                outcome = "advanced"
            else:
                at = t0 + int(rng.random() * span)
                outcome = "not_advanced"
            channel = _CLOSE_CHANNELS[int(rng.random() * 6)]
            rows.append((tid, deal_id, person_id, owner, stamp(at), "closing", channel, outcome))
        self.touch_id = tid
        self.counts["touches.csv"] += len(rows)
        writer.writerows(rows)

    def _amount(self, seg: SegmentSpec) -> int:
        value = self.rng.lognormvariate(math.log(seg.amount_median), seg.amount_sigma)
        unit = 10 if value < 2000 else 100 if value < 20000 else 1000
        return max(unit, round(value / unit) * unit)

    def _deal(
        self,
        writers: dict[str, Any],
        pipe: _Pipe,
        person_id: int,
        person_label: str,
        owner: int,
        t0: int,
        first: int,
        boost: float,
        amount: int,
        purchase_if_won: int,
    ) -> _Path:
        cal = self.cal
        rng = self.rng
        self.deal_id += 1
        deal_id = self.deal_id
        path = self._walk(pipe, t0, first, boost)
        reason = self._reason(pipe, path.position) if path.status == "lost" else 0
        products = (
            pipe.segment.products if pipe.process == "conversion" else pipe.segment.repeat_products
        )
        title = f"{products[int(rng.random() * len(products))]} for {person_label}"
        writers["deals.csv"].writerow(
            (
                deal_id,
                person_id,
                pipe.id,
                title,
                f"{amount}.00",
                CURRENCY,
                owner,
                cal.stamp(t0),
                path.status,
                cal.stamp(path.closed) if path.closed >= 0 else "",
                reason or "",
                "true" if reason and LOSS_REASONS[reason - 1][1] else "false",
            )
        )
        ids = pipe.stage_ids
        stamp = cal.stamp
        writers["stage_changes.csv"].writerows(
            [
                (deal_id, ids[a - 1] if a else "", ids[b - 1], stamp(t), owner)
                for a, b, t in path.changes
            ]
        )
        self.counts["deals.csv"] += 1
        self.counts["stage_changes.csv"] += len(path.changes)
        self._touches(
            writers["touches.csv"], pipe, deal_id, person_id, owner, path, reason, purchase_if_won
        )
        if path.status == "won":
            key = (owner, cal.month_index(path.closed))
            bucket = self.won_per_month.setdefault(key, [0.0, 0.0])
            bucket[0] += amount
            bucket[1] += 1
        return path

    def _referrer(self, created: int) -> int:
        """An earlier customer whose first win came before `created`, or 0."""
        pool = self.customers
        if not pool:
            return 0
        for _ in range(3):
            pid, won = pool[int(self.rng.random() * len(pool))]
            if won < created:
                return pid
        return 0

    def _remember_customer(self, person_id: int, won: int) -> None:
        # A ring: enough recent customers for referrals at any size, in constant memory.
        if len(self.customers) < 50_000:
            self.customers.append((person_id, won))
        else:
            self.customers[self.customers_next] = (person_id, won)
            self.customers_next = (self.customers_next + 1) % 50_000

    def _person(self, writers: dict[str, Any], created: int) -> None:
        rng = self.rng
        end = self.cal.end_minute
        seg_index = int(self.segment_pick.pick(rng))
        seg = SEGMENTS[seg_index]
        self.person_id += 1
        pid = self.person_id
        referrer = self._referrer(created) if rng.random() < 0.13 else 0
        source = "referral" if referrer else str(self.source_pick[seg_index].pick(rng))
        owner = int(self.owner_pick[seg_index].pick(rng))
        name, email, phone, company = self._identity(pid, seg)
        writers["people.csv"].writerow(
            (
                pid,
                name,
                email,
                phone,
                company,
                source,
                self.cal.stamp(created),
                owner,
                referrer or "",
            )
        )
        self.counts["people.csv"] += 1
        key = (source, self.cal.month_index(created))
        self.leads_per_month[key] = self.leads_per_month.get(key, 0) + 1

        label = company or name
        conv = self.conv[seg_index]
        boost = 0.6 if source == "referral" else 1.0
        # Referrals and call-ins often tell their task in the first call: opened at stage 2.
        first = 2 if rng.random() < (0.4 if referrer else 0.08) else 1
        t0 = min(end - 1, created + int(rng.random() * 90))
        first_amount = self._amount(seg)
        path = self._deal(writers, conv, pid, label, owner, t0, first, boost, first_amount, 1)
        # A lost lead sometimes comes back months later with a new request.
        if path.status == "lost" and rng.random() < 0.07 and self._room():
            t1 = path.closed + int(rng.uniform(40, 160) * MINUTES_PER_DAY)
            if t1 < end:
                first_amount = self._amount(seg)
                path = self._deal(writers, conv, pid, label, owner, t1, 1, 0.9, first_amount, 1)
        if path.status != "won":
            return
        self._remember_customer(pid, path.closed)
        purchase = 1
        repeat = self.repeat[seg_index]
        chance = seg.repeat_open
        while self._room() and rng.random() < chance:
            # The first repeat deal starts with onboarding; later ones start when the client
            # asks for more (opened directly at stage 3).
            if purchase == 1:
                t1 = path.closed + int(rng.uniform(1, 8) * MINUTES_PER_DAY)
                start_pos = 1
            else:
                t1 = path.closed + int(rng.uniform(30, 150) * MINUTES_PER_DAY)
                start_pos = 3
            if t1 >= end:
                return
            amount = max(10, int(first_amount * rng.uniform(0.25, 0.9) / 10) * 10)
            path = self._deal(
                writers, repeat, pid, label, owner, t1, start_pos, 1.0, amount, purchase + 1
            )
            if path.status != "won":
                return
            purchase += 1
            chance = 0.55

    def _room(self) -> bool:
        return self.deal_id < self.deals_target

    def _identity(self, pid: int, seg: SegmentSpec) -> tuple[str, str, str, str]:
        rng = self.rng
        has_company = rng.random() < seg.has_company
        if not self.realistic:
            company = f"Company {pid % 5000 + 1}" if has_company else ""
            return f"Person {pid}", f"person{pid}@example.com", f"+3598{pid:08d}", company
        first = _FIRST_NAMES[int(rng.random() * len(_FIRST_NAMES))]
        last = _LAST_NAMES[int(rng.random() * len(_LAST_NAMES))]
        if first.endswith("a") and last.endswith("v"):
            last += "a"  # Bulgarian and Russian surnames agree with a woman's name
        company = ""
        if has_company:
            a = _COMPANY_A[int(rng.random() * len(_COMPANY_A))]
            b = _COMPANY_B[int(rng.random() * len(_COMPANY_B))]
            company = f"{a} {b} {_COMPANY_C[int(rng.random() * len(_COMPANY_C))]}"
            domain = f"{a}-{b}.example".lower()
        else:
            domain = _MAIL_DOMAINS[int(rng.random() * len(_MAIL_DOMAINS))]
        roll = rng.random()
        # Most people give both; some only a phone, some only an e-mail.
        email = "" if roll < 0.1 else f"{first}.{last}{pid}@{domain}".lower()
        phone = ""
        if roll < 0.1 or roll > 0.2:
            prefix = _PHONE_PREFIXES[int(rng.random() * len(_PHONE_PREFIXES))]
            phone = f"{prefix}{int(rng.random() * 10_000_000):07d}"
        return f"{first} {last}", email, phone, company

    # --- totals written at the end -------------------------------------------------------------

    def _expenses(self, writer: Any) -> None:
        rng = self.rng
        cal = self.cal
        last_day = cal.days[-1]
        for m_index, first in enumerate(cal.months):
            month_end = add_months(first, 1) - timedelta(days=1)
            period_start = max(first, self.start)
            period_end = min(month_end, last_day)
            for channel, cpl in _COST_PER_LEAD.items():
                leads = self.leads_per_month.get((channel, m_index), 0)
                amount = leads * cpl * rng.uniform(0.8, 1.2) + _FIXED_MONTHLY.get(channel, 0.0)
                if amount <= 0:
                    continue
                writer.writerow(
                    (channel, period_start.isoformat(), period_end.isoformat(), f"{amount:.2f}")
                )
                self.counts["expenses.csv"] += 1

    def _plans(self, writer: Any) -> None:
        rng = self.rng
        for m_index, first in enumerate(self.cal.months):
            for uid in MANAGER_IDS:
                revenue, won = self.won_per_month.get((uid, m_index), (0.0, 0.0))
                # Plans are set a little above what the team can do, as heads of sales do.
                plan_revenue = max(1000, round(revenue * rng.uniform(0.95, 1.25), -3))
                plan_deals = max(1, round(won * rng.uniform(0.95, 1.2)))
                writer.writerow((uid, first.isoformat(), f"{plan_revenue:.2f}", plan_deals))
                self.counts["plans.csv"] += 1

    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        handles = {
            name: (self.out / name).open("w", newline="", encoding="utf-8", buffering=1 << 20)
            for name in HEADERS
        }
        try:
            writers = {name: csv.writer(fh, lineterminator="\n") for name, fh in handles.items()}
            for name, header in HEADERS.items():
                writers[name].writerow(header)
            self._catalogue(writers)
            span = self.cal.end_minute
            target = self.deals_target
            rng = self.rng
            while self.deal_id < target:
                # Time advances with the deals written, so the last deal lands near the end
                # whatever the mix of repeat purchases; the business grows a little over time.
                base = span * self.deal_id / target
                created = min(span - 1, int(base + rng.random() * span / target))
                self._person(writers, created)
            self._expenses(writers["expenses.csv"])
            self._plans(writers["plans.csv"])
        finally:
            for fh in handles.values():
                fh.close()


def generate_dataset(
    out: Path,
    *,
    deals: int,
    seed: int = 1,
    start: date | None = None,
    months: int = 24,
    realistic_names: bool = True,
) -> GenerateResult:
    """Write a §5 dataset folder with exactly `deals` deals spread over `months` from `start`.

    The same arguments give byte-identical files. `start` defaults to the first day of the
    month `months` before the current one, so the data ends where this month begins.
    """
    if deals < 1:
        raise ValueError("deals must be at least 1")
    if months < 1:
        raise ValueError("months must be at least 1")
    if start is None:
        start = add_months(datetime.now(UTC).date().replace(day=1), -months)
    began = time.perf_counter()
    gen = _Generator(Path(out), deals, seed, start, months, realistic_names)
    gen.run()
    return GenerateResult(
        counts=dict(gen.counts),
        start=start,
        end=gen.end,
        seconds=time.perf_counter() - began,
    )


def read_rows(path: Path) -> Sequence[dict[str, str]]:
    """All rows of one CSV file as dicts (for tests and small folders only)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
