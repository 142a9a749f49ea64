from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.people.models import Person
from conveyor.people.services import person_merge
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open, deal_win
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, Touch, TouchKind
from conveyor.touches.services import task_schedule, touch_log

pytestmark = pytest.mark.django_db


def _won(person: Person, pipeline: Pipeline, at: dt.datetime) -> Deal:
    deal = deal_open(person=person, pipeline=pipeline, owner=None, by=None, at=at)
    return deal_win(deal_id=deal.pk, version=1, amount=Decimal(100), by=None, at=at)


def test_merge_keeps_every_deal_touch_task_lead_and_referral(
    cast: Cast, pipeline: Pipeline
) -> None:
    now = timezone.now()
    keep = PersonFactory(email="ivan@example.org", phone="", owner=cast.manager)
    merged = PersonFactory(email="ivan.work@example.org", phone="+359888123456")
    referred = PersonFactory(referred_by=merged)
    first = _won(keep, pipeline, now - dt.timedelta(days=10))
    second = _won(merged, pipeline, now - dt.timedelta(days=5))
    touch_log(by=cast.owner, kind=TouchKind.WARMING, person=merged)
    task_schedule(by=None, assignee=cast.manager, title="Call", due_at=now, person=merged)
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    assert lead.person_id == merged.pk

    result = person_merge(keep_id=keep.pk, merge_id=merged.pk, by=cast.owner)

    assert result.pk == keep.pk
    assert not Person.objects.filter(pk=merged.pk).exists()
    assert set(Deal.objects.filter(person=keep).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert Touch.objects.get().person_id == keep.pk
    assert Task.objects.get().person_id == keep.pk
    assert Lead.objects.get().person_id == keep.pk
    referred.refresh_from_db()
    assert referred.referred_by_id == keep.pk
    keep.refresh_from_db()
    assert keep.email == "ivan@example.org"  # kept
    assert keep.phone == "+359888123456"  # filled from the merged person
    assert keep.owner == cast.manager
    # Purchase numbers run 1..n over the joined history.
    assert sorted(Deal.objects.values_list("purchase_number", flat=True)) == [1, 2]


def test_merge_when_kept_was_referred_by_merged(cast: Cast) -> None:
    grand = PersonFactory()
    merged = PersonFactory(referred_by=grand)
    keep = PersonFactory(referred_by=merged)
    person_merge(keep_id=keep.pk, merge_id=merged.pk, by=None)
    keep.refresh_from_db()
    assert keep.referred_by_id == grand.pk


def test_merge_into_itself_refused(cast: Cast) -> None:
    person = PersonFactory()
    with pytest.raises(ServiceError):
        person_merge(keep_id=person.pk, merge_id=person.pk, by=cast.owner)
    assert Person.objects.filter(pk=person.pk).exists()


def test_merge_missing_person_refused(cast: Cast) -> None:
    person = PersonFactory()
    with pytest.raises(ServiceError):
        person_merge(keep_id=person.pk, merge_id=person.pk + 100, by=cast.owner)


def test_merge_needs_access_to_both(cast: Cast) -> None:
    keep = PersonFactory(owner=cast.manager)
    merged = PersonFactory(owner=cast.outsider)
    with pytest.raises(PermissionDenied):
        person_merge(keep_id=keep.pk, merge_id=merged.pk, by=cast.manager)
    assert Person.objects.count() == 2
