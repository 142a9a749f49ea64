"""Lifecycle status is derived from deals and referrals: lead -> ... -> advocate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_django import DjangoAssertNumQueries

from conveyor.people.models import Person
from conveyor.people.services import person_create, person_link_referral
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.selectors import (
    Lifecycle,
    lifecycle_from,
    lifecycle_of,
    people_with_lifecycle,
)
from conveyor.pipelines.services import deal_lose, deal_move, deal_reopen, deal_win
from conveyor.pipelines.tests.support import hours, open_deal, stages_of
from conveyor.testing.factories import LossReasonFactory

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


def test_a_person_climbs_from_lead_to_advocate(cast: Cast, pipeline: Pipeline) -> None:
    second = stages_of(pipeline)[1]
    anna = person_create(name="Anna", email="anna@example.org", by=cast.manager, owner=cast.manager)
    assert lifecycle_of(anna) == Lifecycle.LEAD

    first_deal = open_deal(anna, pipeline, owner=cast.manager)
    assert lifecycle_of(anna) == Lifecycle.LEAD

    deal_move(deal_id=first_deal.pk, stage=second, version=1, by=cast.manager, at=hours(1))
    assert lifecycle_of(anna) == Lifecycle.QUALIFIED

    deal_win(deal_id=first_deal.pk, version=2, by=cast.manager, at=hours(2))
    assert lifecycle_of(anna) == Lifecycle.CUSTOMER

    second_deal = open_deal(anna, pipeline, owner=cast.manager, at=hours(3))
    deal_win(deal_id=second_deal.pk, version=1, by=cast.manager, at=hours(4))
    assert lifecycle_of(anna) == Lifecycle.REPEAT_CUSTOMER

    boris = person_create(name="Boris", email="boris@example.org", by=None, owner=cast.manager)
    person_link_referral(person_id=boris.pk, referred_by_id=anna.pk, by=cast.manager)
    borises_deal = open_deal(boris, pipeline, owner=cast.manager, at=hours(5))
    assert lifecycle_of(anna) == Lifecycle.REPEAT_CUSTOMER  # Boris is not a customer yet

    deal_win(deal_id=borises_deal.pk, version=1, by=cast.manager, at=hours(6))
    assert lifecycle_of(anna) == Lifecycle.ADVOCATE
    assert lifecycle_of(boris) == Lifecycle.CUSTOMER


def test_a_deal_opened_past_the_first_stage_qualifies_the_person(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    open_deal(person, pipeline, owner=cast.manager, stage=stages_of(pipeline)[1])

    assert lifecycle_of(person) == Lifecycle.QUALIFIED


def test_losing_a_deal_that_got_past_stage_1_keeps_the_person_qualified(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=None, at=hours(1))
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[0], version=2, by=None, at=hours(2))
    deal_lose(
        deal_id=deal.pk,
        version=3,
        by=None,
        reason=LossReasonFactory(pipeline=pipeline),
        at=hours(3),
    )

    assert lifecycle_of(person) == Lifecycle.QUALIFIED


def test_a_deal_lost_at_stage_1_leaves_a_lead(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_lose(
        deal_id=deal.pk, version=1, by=None, reason=LossReasonFactory(pipeline=None), at=hours(1)
    )

    assert lifecycle_of(person) == Lifecycle.LEAD


def test_reopening_the_only_won_deal_takes_the_customer_status_back(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_win(deal_id=deal.pk, version=1, by=None, at=hours(1))
    assert lifecycle_of(person) == Lifecycle.CUSTOMER

    deal_reopen(deal_id=deal.pk, version=2, by=None, at=hours(2))

    assert lifecycle_of(person) == Lifecycle.LEAD


def test_people_with_lifecycle_annotates_everyone_in_one_query(
    cast: Cast, pipeline: Pipeline, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    lead = person_create(name="Lead", email="lead@example.org", by=None)
    qualified = person_create(name="Qualified", email="q@example.org", by=None)
    customer = person_create(name="Customer", email="c@example.org", by=None)
    repeat = person_create(name="Repeat", email="r@example.org", by=None)
    open_deal(lead, pipeline, owner=None)
    open_deal(qualified, pipeline, owner=None, stage=stages_of(pipeline)[2])
    for who, wins in ((customer, 1), (repeat, 2)):
        for n in range(wins):
            deal = open_deal(who, pipeline, owner=None, at=hours(n))
            deal_win(deal_id=deal.pk, version=1, by=None, at=hours(n + 0.5))

    with django_assert_num_queries(1):
        statuses = {p.name: lifecycle_from(p) for p in people_with_lifecycle()}

    assert statuses == {
        "Lead": Lifecycle.LEAD,
        "Qualified": Lifecycle.QUALIFIED,
        "Customer": Lifecycle.CUSTOMER,
        "Repeat": Lifecycle.REPEAT_CUSTOMER,
    }
