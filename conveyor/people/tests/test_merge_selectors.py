from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.intake.models import LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.people.models import Person
from conveyor.people.selectors import Move, merge_candidates, merge_preview
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import CompanyFactory, PersonFactory
from conveyor.touches.models import TouchKind
from conveyor.touches.services import task_schedule, touch_log

pytestmark = pytest.mark.django_db


def _names(people: Any) -> list[str]:
    return [person.name for person in people]


def test_search_finds_by_name_email_or_phone_written_locally(cast: Cast) -> None:
    PersonFactory(name="Ivan Petrov", email="ivan@example.org", phone="")
    PersonFactory(name="Maria", email="sales@acme.example", phone="")
    PersonFactory(name="Georgi", email="", phone="+359888123456")
    PersonFactory(name="Nobody", email="n@example.org", phone="+359877000000")
    assert _names(merge_candidates(cast.owner, query="petrov")) == ["Ivan Petrov"]
    assert _names(merge_candidates(cast.owner, query="ACME")) == ["Maria"]
    assert _names(merge_candidates(cast.owner, query="0888 123 456")) == ["Georgi"]
    assert _names(merge_candidates(cast.owner, query="+359 888 123456")) == ["Georgi"]


def test_nothing_is_listed_without_a_query_or_a_pick(cast: Cast) -> None:
    PersonFactory()
    assert list(merge_candidates(cast.owner, query="  ")) == []


def test_picked_people_come_first_even_when_they_do_not_match(cast: Cast) -> None:
    picked = PersonFactory(name="Zoe")
    PersonFactory(name="Anna Ivanova")
    assert _names(merge_candidates(cast.owner, query="ivan", include=[picked.pk, None])) == [
        "Zoe",
        "Anna Ivanova",
    ]


def test_candidates_are_only_people_the_user_may_see(cast: Cast) -> None:
    PersonFactory(name="Ivan of manager", owner=cast.manager)
    PersonFactory(name="Ivan of outsider", owner=cast.outsider)
    PersonFactory(name="Ivan of nobody", owner=None)
    everyone = ["Ivan of manager", "Ivan of nobody", "Ivan of outsider"]
    assert _names(merge_candidates(cast.owner, query="Ivan")) == everyone
    assert _names(merge_candidates(cast.head, query="Ivan")) == everyone[:2]
    assert _names(merge_candidates(cast.manager, query="Ivan")) == ["Ivan of manager"]
    outsider = PersonFactory(name="Zed", owner=cast.outsider)
    # A pick does not widen what one sees.
    assert _names(merge_candidates(cast.manager, query="", include=[outsider.pk])) == []


def test_candidates_carry_deal_and_lead_counts_in_one_query(
    cast: Cast, pipeline: Pipeline, django_assert_num_queries: Any
) -> None:
    busy = PersonFactory(name="Ivan Busy", phone="+359888000001", company=CompanyFactory())
    PersonFactory(name="Ivan Idle")
    for _ in range(2):
        deal_open(person=busy, pipeline=pipeline, owner=cast.manager, by=None)
    for _ in range(3):
        lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888000001")
    for n in range(10):
        PersonFactory(name=f"Ivan {n}")
    with django_assert_num_queries(1):
        people = {p.name: p for p in merge_candidates(cast.owner, query="ivan")}
        assert people["Ivan Busy"].company is not None and people["Ivan Busy"].owner is None
    assert (people["Ivan Busy"].deal_count, people["Ivan Busy"].lead_count) == (2, 3)
    assert (people["Ivan Idle"].deal_count, people["Ivan Idle"].lead_count) == (0, 0)


def test_preview_counts_what_moves_and_what_is_filled_in(cast: Cast, pipeline: Pipeline) -> None:
    keep = PersonFactory(name="Ivan", email="ivan@example.org", phone="")
    drop = PersonFactory(name="Ivan P.", email="", phone="+359888123456", company=CompanyFactory())
    deal_open(person=keep, pipeline=pipeline, owner=None, by=None)
    deal_open(person=drop, pipeline=pipeline, owner=None, by=None)
    touch_log(by=cast.owner, kind=TouchKind.WARMING, person=drop)
    task_schedule(by=None, assignee=cast.manager, title="Call", due_at=timezone.now(), person=drop)
    lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    PersonFactory(referred_by=drop)

    preview = merge_preview(cast.owner, keep_id=keep.pk, drop_id=drop.pk)

    assert (preview.keep, preview.drop) == (keep, drop)
    assert preview.moves == [
        Move(label="People they referred", count=1),
        Move(label="Deals", count=1),
        Move(label="Touches", count=1),
        Move(label="Tasks", count=1),
        Move(label="Leads", count=2),
        Move(label="Outgoing e-mails", count=0),
    ]
    assert preview.fills == ["Phone", "Company"]


def test_preview_of_someone_not_visible_reads_as_missing(cast: Cast) -> None:
    mine = PersonFactory(owner=cast.manager)
    theirs = PersonFactory(owner=cast.outsider)
    with pytest.raises(Person.DoesNotExist):
        merge_preview(cast.manager, keep_id=mine.pk, drop_id=theirs.pk)
    with pytest.raises(Person.DoesNotExist):
        merge_preview(cast.head, keep_id=theirs.pk, drop_id=mine.pk)
    with pytest.raises(Person.DoesNotExist):
        merge_preview(cast.owner, keep_id=mine.pk, drop_id=theirs.pk + 100)
    assert merge_preview(cast.owner, keep_id=mine.pk, drop_id=theirs.pk).drop == theirs
