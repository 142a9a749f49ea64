"""Lead decisions are audited one entry per lead, bulk ones included; a person warmed by
qualification and a web form's settings too; a CRM import is one summary entry."""

from __future__ import annotations

import pytest
from pytest_django import Settings

from conftest import Cast
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.intake.crm_import.services import crm_import_run
from conveyor.intake.models import Lead, LeadChannel, QualificationQuestion, QuestionKind
from conveyor.intake.services import (
    form_create,
    form_update,
    lead_accept,
    lead_accept_bulk,
    lead_merge,
    lead_qualify,
    lead_receive,
    lead_reject_spam,
    lead_reject_spam_bulk,
)
from conveyor.intake.tests.crmfiles import SAMPLES, sample_users
from conveyor.people.models import Person, Temperature
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _lead(pipeline: Pipeline, phone: str = "+359888123456") -> Lead:
    return lead_receive(
        channel=LeadChannel.API, name="Ivan Petrov", phone=phone, segment=pipeline.segment
    )


def test_accepting_a_lead_records_the_lead_the_person_and_the_deal(
    cast: Cast, pipeline: Pipeline
) -> None:
    lead = _lead(pipeline)
    deal = lead_accept(lead_id=lead.pk, by=cast.head, owner=cast.manager)
    received, entry = log_of(lead)
    assert (received.action, received.actor_id) == (AuditAction.CREATE, None)
    assert (entry.action, entry.actor_id) == (AuditAction.ACCEPT, cast.head.pk)
    assert entry.changes["status"] == ["inbox", "accepted"]
    assert entry.changes["deal"] == [None, deal.pk]
    person = Person.objects.get(pk=deal.person_id)
    assert [(e.action, e.actor_id) for e in log_of(person)] == [(AuditAction.CREATE, cast.head.pk)]
    assert [(e.action, e.actor_id) for e in log_of(deal)] == [(AuditAction.CREATE, cast.head.pk)]


def test_merging_and_rejecting_a_lead_are_recorded(cast: Cast, pipeline: Pipeline) -> None:
    person = PersonFactory(owner=cast.manager)
    merged = _lead(pipeline)
    lead_merge(lead_id=merged.pk, person_id=person.pk, by=cast.manager)
    assert log_of(merged)[-1].changes == {
        "person": [None, person.pk],
        "status": ["inbox", "merged"],
    }
    spam = _lead(pipeline, phone="+359888000001")
    lead_reject_spam(lead_id=spam.pk, by=cast.manager)
    entry = log_of(spam)[-1]
    assert (entry.action, entry.changes) == (
        AuditAction.REJECT,
        {"status": ["inbox", "rejected_spam"]},
    )


def test_bulk_accept_and_reject_record_one_entry_per_lead(cast: Cast, pipeline: Pipeline) -> None:
    accepted = [_lead(pipeline, phone=f"+35988800010{n}") for n in range(3)]
    rejected = [_lead(pipeline, phone=f"+35988800020{n}") for n in range(2)]
    lead_accept_bulk(lead_ids=[lead.pk for lead in accepted], by=cast.manager)
    lead_reject_spam_bulk(lead_ids=[lead.pk for lead in rejected], by=cast.manager)
    received_then = [AuditAction.CREATE]
    assert [actions_of(lead) for lead in accepted] == [[*received_then, AuditAction.ACCEPT]] * 3
    assert [actions_of(lead) for lead in rejected] == [[*received_then, AuditAction.REJECT]] * 2
    assert AuditEntry.objects.filter(record_type="pipelines.deal").count() == 3


def test_a_refused_lead_in_a_bulk_records_nothing_for_it(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    lead_reject_spam(lead_id=lead.pk, by=cast.manager)
    results = lead_accept_bulk(lead_ids=[lead.pk], by=cast.manager)
    assert not results[0].ok
    assert actions_of(lead) == [AuditAction.CREATE, AuditAction.REJECT]


def test_qualifying_a_lead_that_warms_its_person_records_the_person_change(
    cast: Cast, pipeline: Pipeline, settings: Settings
) -> None:
    settings.CONVEYOR_WARM_SCORE, settings.CONVEYOR_HOT_SCORE = 10, 20
    question = QualificationQuestion.objects.create(
        segment=pipeline.segment,
        position=1,
        text="When do you want to start?",
        kind=QuestionKind.CHOICE,
        options=["This week", "Later"],
        scoring={"This week": 20, "Later": 0},
    )
    person = PersonFactory(phone="+359888123456", temperature=Temperature.WARM)
    lead = _lead(pipeline)
    lead_qualify(lead_id=lead.pk, answers={str(question.pk): "This week"}, by=cast.manager)
    entry = log_of(person)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.manager.pk)
    assert entry.changes == {"temperature": ["warm", "hot"]}


def test_web_form_settings_are_recorded(cast: Cast, pipeline: Pipeline) -> None:
    form = form_create(name="Site", by=cast.head, segment=pipeline.segment)
    form_update(
        form_id=form.pk,
        by=cast.owner,
        name="Site (new)",
        segment=pipeline.segment,
        pipeline=None,
        fields=["name", "phone"],
        thank_you_text="",
        redirect_url="",
        min_fill_seconds=3,
        is_active=False,
    )
    create, update = log_of(form)
    assert (create.action, create.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert (update.action, update.actor_id) == (AuditAction.UPDATE, cast.owner.pk)
    assert update.changes["name"] == ["Site", "Site (new)"]
    assert update.changes["is_active"] == [True, False]


def test_a_crm_import_is_one_summary_entry_not_one_per_row(cast: Cast) -> None:
    sample_users()
    crm_import_run(
        path=SAMPLES / "pipedrive-deals.csv",
        source="pipedrive",
        by=cast.owner,
        create_missing=True,
    )
    [entry] = AuditEntry.objects.filter(action=AuditAction.IMPORT)
    assert (entry.record_type, entry.record_id, entry.actor_id) == (
        "intake.crmimport",
        None,
        cast.owner.pk,
    )
    assert entry.changes["deals"] == [None, 12]
    assert entry.note == "pipedrive: pipedrive-deals.csv"
    assert not AuditEntry.objects.filter(record_type="pipelines.deal").exists()
    assert Deal.objects.count() == 12
