"""A hypothesis state machine over the deal services: any sequence of opens, moves (forward,
back, skipping), wins, losses, reopens and stale-version attempts keeps the invariants:

- every deal is at exactly one stage, and replaying its history gives its current stage, status
  and highest stage reached;
- an open deal has exactly one open stay (`left_at` unset), a closed one none;
- a stale version changes nothing;
- every stage change carries its deal's pipeline and opening time, and a finished stay its
  length (what the time-in-stage reports read); every touch (logged late, or ahead of changes
  still to come) the stage it fell in, and a won deal its touches to the win;
- a person's won deals are numbered 1..n by win time, and each person keeps their first and
  second purchase's time and when someone they referred first bought (`PURCHASE_FACTS`), as a
  recount of the raw rows gives them, whatever order the wins, reopens and referrals come in;
- the funnel report counts what a straightforward pass over the deals gives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from conveyor.analytics.queries import funnel
from conveyor.core.errors import ConflictError, ServiceError
from conveyor.people.models import Person
from conveyor.people.services import person_link_referral
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_lose, deal_move, deal_open, deal_reopen, deal_win
from conveyor.pipelines.tests.support import assert_history_keys, assert_purchase_facts
from conveyor.testing.factories import LossReasonFactory, PersonFactory, pipeline_with_stages
from conveyor.touches.models import TouchKind
from conveyor.touches.services import touch_log

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class DealMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pipeline: Pipeline = pipeline_with_stages(["A", "B", "C", "D", "E"])
        self.stages = list(self.pipeline.stages.order_by("position"))
        self.reason = LossReasonFactory(name="No budget")
        self.people: list[Person] = [PersonFactory() for _ in range(3)]
        self.deals: list[int] = []
        self.clock = T0

    def _tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=7)
        return self.clock

    def _deal(self, index: int) -> Deal | None:
        if not self.deals:
            return None
        return Deal.objects.get(pk=self.deals[index % len(self.deals)])

    @rule(person=st.integers(0, 2), stage=st.integers(0, 4))
    def open(self, person: int, stage: int) -> None:
        deal = deal_open(
            person=self.people[person],
            pipeline=self.pipeline,
            owner=None,
            by=None,
            stage=self.stages[stage],
            amount=Decimal(10),
            at=self._tick(),
        )
        self.deals.append(deal.pk)

    @rule(index=st.integers(0, 20), stage=st.integers(0, 4))
    def move(self, index: int, stage: int) -> None:
        deal = self._deal(index)
        if deal is None:
            return
        # Refused (closed, or already there) writes nothing; the invariants check the rest.
        with contextlib.suppress(ServiceError):
            deal_move(
                deal_id=deal.pk,
                stage=self.stages[stage],
                version=deal.version,
                by=None,
                at=self._tick(),
            )

    @rule(index=st.integers(0, 20))
    def win(self, index: int) -> None:
        deal = self._deal(index)
        if deal is not None and deal.status == DealStatus.OPEN:
            deal_win(deal_id=deal.pk, version=deal.version, by=None, at=self._tick())

    @rule(index=st.integers(0, 20))
    def lose(self, index: int) -> None:
        deal = self._deal(index)
        if deal is not None and deal.status == DealStatus.OPEN:
            deal_lose(
                deal_id=deal.pk, version=deal.version, by=None, reason=self.reason, at=self._tick()
            )

    @rule(index=st.integers(0, 20), stage=st.none() | st.integers(0, 4))
    def reopen(self, index: int, stage: int | None) -> None:
        deal = self._deal(index)
        if deal is not None and deal.status != DealStatus.OPEN:
            deal_reopen(
                deal_id=deal.pk,
                version=deal.version,
                by=None,
                stage=None if stage is None else self.stages[stage],
                at=self._tick(),
            )

    @rule(index=st.integers(0, 20), minutes=st.integers(-20, 20))
    def touch(self, index: int, minutes: int) -> None:
        """A touch around the clock: before earlier changes (logged late), or ahead of changes
        still to come, which then re-home it (`touches.placement`)."""
        deal = self._deal(index)
        if deal is not None:
            touch_log(
                by=None,
                kind=TouchKind.WARMING,
                deal=deal,
                at=self.clock + dt.timedelta(minutes=minutes, microseconds=minutes % 3),
            )

    @rule(person=st.integers(0, 2), referrer=st.integers(0, 2))
    def refer(self, person: int, referrer: int) -> None:
        """Who brought whom, changed at any time (self-referrals and cycles are refused)."""
        with contextlib.suppress(ServiceError):
            person_link_referral(
                person_id=self.people[person].pk,
                referred_by_id=self.people[referrer].pk,
                by=None,
            )

    @rule(index=st.integers(0, 20), stage=st.integers(0, 4))
    def stale_move_changes_nothing(self, index: int, stage: int) -> None:
        deal = self._deal(index)
        if deal is None or deal.version == 1:
            return
        before = (deal.stage_id, deal.version, StageChange.objects.filter(deal=deal).count())
        with pytest.raises(ConflictError):
            deal_move(
                deal_id=deal.pk,
                stage=self.stages[stage],
                version=deal.version - 1,
                by=None,
                at=self._tick(),
            )
        deal.refresh_from_db()
        assert (
            deal.stage_id,
            deal.version,
            StageChange.objects.filter(deal=deal).count(),
        ) == before

    @invariant()
    def history_replays_to_the_current_state(self) -> None:
        positions = {stage.pk: stage.position for stage in self.stages}
        for deal in Deal.objects.filter(pk__in=self.deals):
            stage_id, status, highest = None, None, 0
            changes = list(StageChange.objects.filter(deal=deal).order_by("at", "pk"))
            for change in changes:
                if change.kind in (ChangeKind.ENTER, ChangeKind.MOVE, ChangeKind.REOPENED):
                    stage_id, status = change.to_stage_id, DealStatus.OPEN
                    highest = max(highest, positions[stage_id])  # type: ignore[index]
                elif change.kind == ChangeKind.WON:
                    status = DealStatus.WON
                elif change.kind == ChangeKind.LOST:
                    status = DealStatus.LOST
            assert changes[0].kind == ChangeKind.ENTER
            assert (deal.stage_id, deal.status, deal.max_position) == (stage_id, status, highest)
            open_stays = [c for c in changes if c.to_stage_id is not None and c.left_at is None]
            assert len(open_stays) == (1 if deal.status == DealStatus.OPEN else 0)

    @invariant()
    def history_carries_the_cohort_keys_and_stay_lengths(self) -> None:
        for deal in Deal.objects.filter(pk__in=self.deals):
            assert_history_keys(deal)

    @invariant()
    def purchases_are_numbered_in_win_order(self) -> None:
        for person in self.people:
            won = Deal.objects.filter(person=person, status=DealStatus.WON).order_by(
                "closed_at", "pk"
            )
            assert [deal.purchase_number for deal in won] == list(range(1, won.count() + 1))

    @invariant()
    def people_keep_their_purchase_facts(self) -> None:
        assert_purchase_facts()

    @invariant()
    def funnel_equals_a_plain_count(self) -> None:
        report = funnel(
            pipeline=self.pipeline,
            date_from=T0.date(),
            date_to=(self.clock + dt.timedelta(days=1)).date(),
        )
        deals = list(Deal.objects.filter(pk__in=self.deals))
        reached: Counter[int] = Counter()
        for deal in deals:
            # DESIGN §4: the highest stage ever held counts, and a won deal reached every stage.
            top = len(self.stages) if deal.status == DealStatus.WON else deal.max_position
            for position in range(1, top + 1):
                reached[position] += 1
        assert [row["reached"] for row in report["stages"]] == [reached[p] for p in range(1, 6)]
        lost = Counter(deal.lost_stage_id for deal in deals if deal.status == DealStatus.LOST)
        assert [row["lost"] for row in report["stages"]] == [lost[s.pk] for s in self.stages]


def test_deal_services_keep_their_invariants() -> None:
    run_state_machine_as_test(
        DealMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
