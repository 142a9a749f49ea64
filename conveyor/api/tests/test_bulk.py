"""POST /api/v1/people/bulk, /deals/bulk and /leads/bulk: the lists' and the inbox's bulk
actions over the API, through the web's own services (one transaction and one audit entry per
row for people and deals; one transaction per lead for the inbox)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.core.selectors import audit_entries
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import lead_receive
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory
from conveyor.web.views.lists import BULK_LIMIT

pytestmark = pytest.mark.django_db


def _person(**fields: Any) -> Person:
    person: Person = PersonFactory(**fields)  # type: ignore[assignment]
    return person


def _people_state() -> list[Any]:
    return [
        list(Person.objects.order_by("pk").values_list("pk", "owner_id", "temperature")),
        AuditEntry.objects.count(),
    ]


def _deals_state() -> list[Any]:
    return [
        list(Deal.objects.order_by("pk").values_list("pk", "owner_id", "version")),
        AuditEntry.objects.count(),
    ]


def _deals(cast: Cast, pipeline: Pipeline, count: int) -> list[Deal]:
    return [
        deal_open(
            person=_person(owner=cast.manager),
            pipeline=pipeline,
            owner=cast.manager,
            by=cast.manager,
        )
        for _ in range(count)
    ]


# --- POST /people/bulk ----------------------------------------------------------------------------


def test_people_bulk_changes_every_person_with_one_audit_entry_each(
    cast: Cast, api_for: ApiFor
) -> None:
    people = [_person(owner=cast.manager, temperature="cold") for _ in range(3)]
    response = api_for(cast.head).post(
        "/api/v1/people/bulk",
        {"ids": [p.pk for p in people], "owner_id": cast.head.pk, "temperature": "hot"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["updated"] == 3
    assert sorted(row["id"] for row in body["items"]) == sorted(p.pk for p in people)
    for person in people:
        person.refresh_from_db()
        assert (person.owner_id, person.temperature) == (cast.head.pk, "hot")
        entries = list(audit_entries(person))
        assert len(entries) == 1
        assert (entries[0].action, entries[0].actor_id) == (AuditAction.UPDATE, cast.head.pk)


def test_people_bulk_with_only_a_temperature_keeps_the_owner(cast: Cast, api_for: ApiFor) -> None:
    person = _person(owner=cast.manager, temperature="cold")
    response = api_for(cast.manager).post(
        "/api/v1/people/bulk", {"ids": [person.pk], "temperature": "warm"}
    )
    assert response.status_code == 200, response.content
    person.refresh_from_db()
    assert (person.owner_id, person.temperature) == (cast.manager.pk, "warm")


def test_people_bulk_with_one_unseen_person_changes_nothing(cast: Cast, api_for: ApiFor) -> None:
    mine = _person(owner=cast.manager)
    theirs = _person(owner=cast.outsider)
    api = api_for(cast.manager)  # (the token is audited too)
    before = _people_state()
    response = api.post("/api/v1/people/bulk", {"ids": [mine.pk, theirs.pk], "temperature": "hot"})
    assert response.status_code == 422
    assert str(theirs.pk) in response.json()["error"]["fields"]["ids"][0]
    assert _people_state() == before


def test_people_bulk_refused_by_the_service_changes_nothing(cast: Cast, api_for: ApiFor) -> None:
    people = [_person(owner=cast.manager) for _ in range(2)]
    api = api_for(cast.manager)
    before = _people_state()
    # A manager may not hand records to a manager of another team.
    response = api.post(
        "/api/v1/people/bulk",
        {"ids": [p.pk for p in people], "owner_id": cast.outsider.pk, "temperature": "hot"},
    )
    assert response.status_code == 403
    assert "owner_id" in response.json()["error"]["fields"]
    assert _people_state() == before


def test_people_bulk_needs_an_owner_or_a_temperature(cast: Cast, api_for: ApiFor) -> None:
    person = _person(owner=cast.manager)
    response = api_for(cast.manager).post("/api/v1/people/bulk", {"ids": [person.pk]})
    assert response.status_code == 422
    assert "owner_id" in response.json()["error"]["fields"]


def test_people_bulk_refuses_too_many_ids(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.owner)
    before = _people_state()
    response = api.post(
        "/api/v1/people/bulk", {"ids": list(range(1, BULK_LIMIT + 2)), "temperature": "hot"}
    )
    assert response.status_code == 422
    assert "ids" in response.json()["error"]["fields"]
    assert _people_state() == before


def test_people_bulk_validation_errors_name_the_field(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    empty = api.post("/api/v1/people/bulk", {"ids": [], "temperature": "hot"})
    assert empty.status_code == 422 and "ids" in empty.json()["error"]["fields"]
    person = _person(owner=cast.manager)
    wrong = api.post("/api/v1/people/bulk", {"ids": [person.pk], "temperature": "boiling"})
    assert wrong.status_code == 422 and "temperature" in wrong.json()["error"]["fields"]
    nobody = api.post("/api/v1/people/bulk", {"ids": [person.pk], "owner_id": 999999})
    assert nobody.status_code == 422 and "owner_id" in nobody.json()["error"]["fields"]


# --- POST /deals/bulk -----------------------------------------------------------------------------


def test_deals_bulk_hands_every_deal_over_with_one_audit_entry_each(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deals = _deals(cast, pipeline, 3)
    marks = {deal.pk: audit_entries(deal).count() for deal in deals}
    response = api_for(cast.head).post(
        "/api/v1/deals/bulk", {"ids": [d.pk for d in deals], "owner_id": cast.head.pk}
    )
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["items"]] == sorted(d.pk for d in deals)
    for deal in deals:
        deal.refresh_from_db()
        assert deal.owner_id == cast.head.pk
        entries = list(audit_entries(deal))
        assert len(entries) == marks[deal.pk] + 1
        assert (entries[0].action, entries[0].actor_id) == (AuditAction.ASSIGN, cast.head.pk)


def test_deals_bulk_with_one_unseen_deal_changes_nothing(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    mine = _deals(cast, pipeline, 2)
    theirs = deal_open(
        person=_person(owner=cast.outsider),
        pipeline=pipeline,
        owner=cast.outsider,
        by=cast.outsider,
    )
    api = api_for(cast.head)
    before = _deals_state()
    response = api.post(
        "/api/v1/deals/bulk",
        {"ids": [mine[0].pk, theirs.pk, mine[1].pk], "owner_id": cast.head.pk},
    )
    assert response.status_code == 422
    assert str(theirs.pk) in response.json()["error"]["fields"]["ids"][0]
    assert _deals_state() == before


def test_deals_bulk_refused_by_the_service_changes_nothing(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deals = _deals(cast, pipeline, 2)
    api = api_for(cast.manager)
    before = _deals_state()
    response = api.post(
        "/api/v1/deals/bulk", {"ids": [d.pk for d in deals], "owner_id": cast.outsider.pk}
    )
    assert response.status_code == 403
    assert "owner_id" in response.json()["error"]["fields"]
    assert _deals_state() == before


def test_deals_bulk_refuses_too_many_ids_and_names_fields(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.owner)
    many = api.post(
        "/api/v1/deals/bulk", {"ids": list(range(1, BULK_LIMIT + 2)), "owner_id": cast.owner.pk}
    )
    assert many.status_code == 422 and "ids" in many.json()["error"]["fields"]
    no_owner = api.post("/api/v1/deals/bulk", {"ids": [1]})
    assert no_owner.status_code == 422 and "owner_id" in no_owner.json()["error"]["fields"]


# --- POST /leads/bulk -----------------------------------------------------------------------------


def _inbox(count: int) -> list[Lead]:
    return [
        lead_receive(channel=LeadChannel.MANUAL, name=f"Lead {n}", phone=f"+35988812300{n}")
        for n in range(count)
    ]


def test_leads_bulk_accepts_every_lead_and_answers_per_lead(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    leads = _inbox(2)
    response = api_for(cast.manager).post(
        "/api/v1/leads/bulk",
        {"ids": [lead.pk for lead in leads], "action": "accept", "pipeline_id": pipeline.pk},
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["lead_id"], r["ok"]) for r in results] == [(lead.pk, True) for lead in leads]
    for lead, result in zip(leads, results, strict=True):
        lead.refresh_from_db()
        assert lead.status == LeadStatus.ACCEPTED and lead.deal_id == result["deal_id"]
        newest = audit_entries(lead).first()
        assert newest is not None
        assert (newest.action, newest.actor_id) == (AuditAction.ACCEPT, cast.manager.pk)


def test_leads_bulk_refuses_one_lead_and_still_does_the_others(cast: Cast, api_for: ApiFor) -> None:
    leads = _inbox(2)
    api = api_for(cast.manager)
    api.post(f"/api/v1/leads/{leads[0].pk}/reject")
    entries = AuditEntry.objects.count()
    response = api.post(
        "/api/v1/leads/bulk", {"ids": [leads[0].pk, leads[1].pk, 999999], "action": "reject"}
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["lead_id"], r["ok"]) for r in results] == [
        (leads[0].pk, False),
        (leads[1].pk, True),
        (999999, False),
    ]
    assert results[0]["message"] and results[2]["message"]
    leads[1].refresh_from_db()
    assert leads[1].status == LeadStatus.REJECTED_SPAM
    assert AuditEntry.objects.count() == entries + 1


def test_leads_bulk_merge_into_a_person_the_caller_cannot_see_changes_nothing(
    cast: Cast, api_for: ApiFor
) -> None:
    leads = _inbox(2)
    theirs = _person(owner=cast.outsider)
    api = api_for(cast.manager)
    entries = AuditEntry.objects.count()
    response = api.post(
        "/api/v1/leads/bulk",
        {"ids": [lead.pk for lead in leads], "action": "merge", "person_id": theirs.pk},
    )
    assert response.status_code == 200
    assert [r["ok"] for r in response.json()["results"]] == [False, False]
    assert set(Lead.objects.values_list("status", flat=True)) == {LeadStatus.INBOX}
    assert AuditEntry.objects.count() == entries


def test_leads_bulk_validation_errors_name_the_field(cast: Cast, api_for: ApiFor) -> None:
    lead = _inbox(1)[0]
    api = api_for(cast.manager)
    many = api.post("/api/v1/leads/bulk", {"ids": list(range(1, 502)), "action": "reject"})
    assert many.status_code == 422 and "ids" in many.json()["error"]["fields"]
    action = api.post("/api/v1/leads/bulk", {"ids": [lead.pk], "action": "delete"})
    assert action.status_code == 422 and "action" in action.json()["error"]["fields"]
    person = api.post("/api/v1/leads/bulk", {"ids": [lead.pk], "action": "reject", "person_id": 1})
    assert person.status_code == 422 and "person_id" in person.json()["error"]["fields"]
    pipeline = api.post(
        "/api/v1/leads/bulk", {"ids": [lead.pk], "action": "accept", "pipeline_id": 999999}
    )
    assert pipeline.status_code == 422 and "pipeline_id" in pipeline.json()["error"]["fields"]
    lead.refresh_from_db()
    assert lead.status == LeadStatus.INBOX
