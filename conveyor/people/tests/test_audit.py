"""People's writes are audited: create, referral, merge (every re-pointed row with its own
entry) and erase (the fact, never the erased data)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.intake.models import LeadChannel
from conveyor.intake.services import lead_merge, lead_receive
from conveyor.people.models import Company, Person
from conveyor.people.services import (
    person_create,
    person_erase,
    person_link_referral,
    person_merge,
)
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import PersonFactory
from conveyor.touches.services import task_schedule, touch_log

pytestmark = pytest.mark.django_db


def test_creating_a_person_records_the_fact_and_the_company_without_personal_values(
    cast: Cast,
) -> None:
    person = person_create(
        name="Ivan Petrov",
        by=cast.manager,
        owner=cast.manager,
        email="ivan@example.org",
        phone="+359 888 000 111",
        company_name="Acme",
        temperature="warm",
    )
    [entry] = log_of(person)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.manager.pk)
    assert entry.changes["temperature"] == [None, "warm"]
    assert entry.changes["owner"] == [None, cast.manager.pk]
    assert entry.changes["name"] is None and entry.changes["email"] is None
    assert "Ivan" not in str(entry.changes) and "ivan@" not in str(entry.changes)
    assert actions_of(Company.objects.get(name="Acme")) == [AuditAction.CREATE]


def test_linking_a_referral_records_the_referrer(cast: Cast) -> None:
    person, referrer = PersonFactory(owner=cast.manager), PersonFactory(owner=cast.manager)
    person_link_referral(person_id=person.pk, referred_by_id=referrer.pk, by=cast.manager)
    entry = log_of(person)[-1]
    assert entry.changes == {"referred_by": [None, referrer.pk]}


def test_a_merge_records_every_row_it_moves_and_both_people(cast: Cast, pipeline: Pipeline) -> None:
    keep = PersonFactory(owner=cast.manager, phone="")
    merged = PersonFactory(owner=cast.manager, phone="+359888000999")
    deals = [
        deal_open(person=merged, pipeline=pipeline, owner=cast.manager, by=None) for _ in range(3)
    ]
    touch = touch_log(by=cast.manager, kind="warming", person=merged)
    task = task_schedule(
        by=None,
        assignee=cast.manager,
        title="Call",
        person=merged,
        due_at=timezone.now() + dt.timedelta(days=1),
    )
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Lead", phone="+359888000777")
    lead_merge(lead_id=lead.pk, person_id=merged.pk, by=cast.manager)
    merged_id = merged.pk

    person_merge(keep_id=keep.pk, merge_id=merged_id, by=cast.head)

    for row in [*deals, touch, task, lead]:
        entry = log_of(row)[-1]
        assert (entry.action, entry.actor_id) == (AuditAction.MERGE, cast.head.pk), row
        assert entry.changes == {"person": [merged_id, keep.pk]}, row
        assert entry.note == f"#{merged_id} → #{keep.pk}"
    kept = log_of(keep)[-1]
    assert kept.action == AuditAction.MERGE
    assert kept.changes == {"phone": None}  # filled from the merged person, value not kept
    gone = AuditEntry.objects.filter(record_type="people.person", record_id=merged_id).last()
    assert gone is not None and gone.action == AuditAction.MERGE
    assert gone.changes["owner"] == [cast.manager.pk, None]


def test_an_erase_records_the_fact_and_leaves_no_personal_data_in_the_log(
    cast: Cast, pipeline: Pipeline
) -> None:
    person = person_create(
        name="Anna Keller",
        by=cast.manager,
        owner=cast.manager,
        email="anna@acme.example",
        phone="+359888123456",
        company_name="Acme",  # companies are not erased: their name stays, here as in the table
    )
    deal = deal_open(
        person=person, pipeline=pipeline, owner=cast.manager, by=None, title="Anna Keller kitchen"
    )
    touch = touch_log(by=cast.manager, kind="warming", deal=deal, note="Anna Keller said yes")
    task = task_schedule(
        by=cast.manager,
        assignee=cast.manager,
        title="Call Anna Keller",
        deal=deal,
        due_at=timezone.now() + dt.timedelta(days=1),
    )
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Anna K", email="anna@acme.example")

    person_erase(person_id=person.pk, by=cast.owner, reason="asked by Anna Keller")

    entry = log_of(person)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.ERASE, cast.owner.pk)
    assert entry.changes["name"] is None and entry.changes["email"] is None
    for row in (deal, touch, task, lead):
        erased = log_of(row)[-1]
        assert (erased.action, erased.actor_id) == (AuditAction.ERASE, cast.owner.pk), row
    log = str(list(AuditEntry.objects.values_list("changes", "note")))
    for personal in ("Anna", "Keller", "anna@acme.example", "359888123456"):
        assert personal not in log


def test_a_refused_erase_records_nothing(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager)
    before = AuditEntry.objects.count()
    with pytest.raises(Exception, match="Only owners and heads"):
        person_erase(person_id=person.pk, by=cast.manager)
    assert AuditEntry.objects.count() == before
    assert Person.objects.get(pk=person.pk).name == person.name
