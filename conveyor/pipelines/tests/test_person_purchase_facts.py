"""Each person keeps when they first and second bought and when someone they referred first
bought (`people.PURCHASE_FACTS`), through wins, reopens, referrals, merges and the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.people.models import Person
from conveyor.people.services import person_link_referral, person_merge
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_reopen, deal_win
from conveyor.pipelines.tests.support import assert_purchase_facts, hours, open_deal
from conveyor.testing.admin import admin_save
from conveyor.testing.factories import PersonFactory

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


def _buy(person: Person, pipeline: Pipeline, at: float) -> int:
    deal = open_deal(person, pipeline, owner=None, at=hours(at - 1))
    deal_win(deal_id=deal.pk, version=deal.version, by=None, at=hours(at))
    return deal.pk


def _facts(person: Person) -> tuple[object, object, object]:
    person.refresh_from_db()
    return person.first_won_at, person.repeat_won_at, person.referral_won_at


def test_wins_and_a_reopen_move_the_first_and_second_purchase(pipeline: Pipeline) -> None:
    anna = PersonFactory()
    assert _facts(anna) == (None, None, None)
    first = _buy(anna, pipeline, 10)
    assert _facts(anna) == (hours(10), None, None)
    _buy(anna, pipeline, 20)
    assert _facts(anna) == (hours(10), hours(20), None)
    # The first purchase undone: the second becomes the first, and nobody bought twice.
    deal_reopen(deal_id=first, version=2, by=None, at=hours(30))
    assert _facts(anna) == (hours(20), None, None)
    assert_purchase_facts()


def test_a_referrer_learns_when_their_referral_bought_and_loses_it_when_relinked(
    pipeline: Pipeline,
) -> None:
    rita, rosa, friend = PersonFactory(), PersonFactory(), PersonFactory()
    _buy(friend, pipeline, 5)
    person_link_referral(person_id=friend.pk, referred_by_id=rita.pk, by=None)
    assert _facts(rita)[2] == hours(5)
    # Linked to another referrer: the first one no longer referred a customer.
    person_link_referral(person_id=friend.pk, referred_by_id=rosa.pk, by=None)
    assert (_facts(rita)[2], _facts(rosa)[2]) == (None, hours(5))
    # A referred person's earlier purchase moves the referrer's date too.
    _buy(friend, pipeline, 2)
    assert _facts(rosa)[2] == hours(2)
    assert_purchase_facts()


def test_a_merge_joins_the_purchases_and_moves_the_referrals(pipeline: Pipeline) -> None:
    rita, rosa = PersonFactory(), PersonFactory()
    anna, dup = PersonFactory(referred_by=rita), PersonFactory(referred_by=rosa)
    _buy(anna, pipeline, 10)
    _buy(dup, pipeline, 4)
    assert (_facts(rita)[2], _facts(rosa)[2]) == (hours(10), hours(4))
    person_merge(keep_id=anna.pk, merge_id=dup.pk, by=None)
    # Anna bought first at 4 (the duplicate's purchase), again at 10; only Rita referred her.
    assert _facts(anna) == (hours(4), hours(10), None)
    assert (_facts(rita)[2], _facts(rosa)[2]) == (hours(4), None)
    assert_purchase_facts()


def test_a_referral_changed_in_the_admin_moves_the_referred_customer(
    cast: Cast, pipeline: Pipeline
) -> None:
    rita, rosa = PersonFactory(), PersonFactory()
    friend = PersonFactory(referred_by=rita, owner=cast.manager)
    _buy(friend, pipeline, 5)
    answer = admin_save(cast.owner, friend, referred_by=str(rosa.pk))
    assert answer.status_code == 302, answer.content[:2000]
    assert (_facts(rita)[2], _facts(rosa)[2]) == (None, hours(5))
    assert_purchase_facts()
