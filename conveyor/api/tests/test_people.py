from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.core.selectors import audit_entries
from conveyor.people.models import Company, Person, Suppression
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_record_a_person_with_a_company(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.manager).post(
        "/api/v1/people",
        {"name": "Anna Ivanova", "email": "ANNA@example.com", "company_name": "Acme"},
    )
    assert response.status_code == 201
    person = Person.objects.get(pk=response.json()["id"])
    assert person.owner == cast.manager and person.email == "anna@example.com"
    assert person.company is not None and person.company.name == "Acme"


def test_person_needs_a_contact(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.manager).post("/api/v1/people", {"name": "Nobody"})
    assert response.status_code == 422
    assert not Person.objects.exists()


def test_people_and_companies_are_scoped(cast: Cast, api_for: ApiFor) -> None:
    acme, rival = Company.objects.create(name="Acme"), Company.objects.create(name="Rival")
    mine = PersonFactory(owner=cast.manager, company=acme)
    theirs = PersonFactory(owner=cast.outsider, company=rival)
    api = api_for(cast.manager)
    assert [row["id"] for row in api.get("/api/v1/people").json()["items"]] == [mine.pk]
    assert api.get(f"/api/v1/people/{theirs.pk}").status_code == 404
    assert [row["id"] for row in api.get("/api/v1/companies").json()["items"]] == [acme.pk]
    assert api.get(f"/api/v1/companies/{rival.pk}").status_code == 404
    owner_rows = api_for(cast.owner).get("/api/v1/people").json()["items"]
    assert {row["id"] for row in owner_rows} == {mine.pk, theirs.pk}


def test_people_filter_by_email(cast: Cast, api_for: ApiFor) -> None:
    PersonFactory(owner=cast.manager, email="a@example.com")
    PersonFactory(owner=cast.manager, email="b@example.com")
    rows = api_for(cast.manager).get("/api/v1/people", {"email": "b@example.com"}).json()["items"]
    assert [row["email"] for row in rows] == ["b@example.com"]


# --- PATCH /people/{id}: the details the person page edits in place ------------------------------


def _details(person: Person) -> tuple[object, ...]:
    person.refresh_from_db()
    return (
        person.name,
        person.email,
        person.phone,
        person.company_id,
        person.source,
        person.temperature,
        person.owner_id,
    )


def test_change_only_the_details_sent(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager, name="Anna", email="anna@example.com")
    before = _details(person)
    response = api_for(cast.manager).patch(
        f"/api/v1/people/{person.pk}",
        {"temperature": "hot", "company_name": "Acme", "phone": "+359 88 812 3456"},
    )
    assert response.status_code == 200, response.content
    company = Company.objects.get(name="Acme")
    assert response.json()["company_id"] == company.pk
    assert _details(person) == (
        "Anna",
        "anna@example.com",
        "+359888123456",
        company.pk,
        before[4],
        "hot",
        cast.manager.pk,
    )
    entry = audit_entries(person).first()
    assert entry is not None and entry.action == "update" and entry.actor_id == cast.manager.pk
    assert set(entry.changes) >= {"temperature", "phone", "company"}


def test_an_empty_change_writes_nothing(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager)
    before, entries = _details(person), audit_entries(person).count()
    response = api_for(cast.manager).patch(f"/api/v1/people/{person.pk}", {})
    assert response.status_code == 200
    assert _details(person) == before and audit_entries(person).count() == entries


def test_a_head_may_leave_a_person_to_nobody_a_manager_may_not(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager)
    refused = api_for(cast.manager).patch(
        f"/api/v1/people/{person.pk}", {"owner_id": None, "name": "X"}
    )
    assert refused.status_code == 403
    assert _details(person)[6] == cast.manager.pk and person.name != "X"
    done = api_for(cast.head).patch(f"/api/v1/people/{person.pk}", {"owner_id": None})
    assert done.status_code == 200 and done.json()["owner_id"] is None


def test_another_persons_contact_is_refused_on_its_field(cast: Cast, api_for: ApiFor) -> None:
    PersonFactory(owner=cast.manager, email="taken@example.com")
    person = PersonFactory(owner=cast.manager, email="mine@example.com")
    response = api_for(cast.manager).patch(
        f"/api/v1/people/{person.pk}", {"email": "TAKEN@example.com"}
    )
    assert response.status_code == 422
    assert "email" in response.json()["error"]["fields"]
    assert _details(person)[1] == "mine@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"company_name": "A" * 201}, "company_name"),
        ({"temperature": "boiling"}, "temperature"),
        ({"source": "web\x00"}, "source"),
        ({"owner_id": 999999}, "owner_id"),
        ({"email": "", "phone": ""}, "email"),
    ],
)
def test_bad_details_name_their_field_and_change_nothing(
    cast: Cast, api_for: ApiFor, body: dict[str, object], field: str
) -> None:
    person = PersonFactory(owner=cast.manager, email="a@example.com")
    before = _details(person)
    response = api_for(cast.manager).patch(f"/api/v1/people/{person.pk}", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["fields"]
    assert _details(person) == before


def test_someone_elses_person_cannot_be_edited(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.outsider)
    before = _details(person)
    response = api_for(cast.manager).patch(f"/api/v1/people/{person.pk}", {"name": "Mine"})
    assert response.status_code == 404
    assert _details(person) == before


# --- POST /people/{id}/referral ------------------------------------------------------------------


def test_record_who_referred_a_person(cast: Cast, api_for: ApiFor) -> None:
    person, referrer = PersonFactory(owner=cast.manager), PersonFactory(owner=cast.manager)
    response = api_for(cast.manager).post(
        f"/api/v1/people/{person.pk}/referral", {"referred_by_id": referrer.pk}
    )
    assert response.status_code == 200, response.content
    assert response.json()["referred_by_id"] == referrer.pk
    person.refresh_from_db()
    assert person.referred_by_id == referrer.pk


def test_a_referral_cycle_or_an_unseen_referrer_is_refused(cast: Cast, api_for: ApiFor) -> None:
    person, referrer = PersonFactory(owner=cast.manager), PersonFactory(owner=cast.manager)
    api = api_for(cast.manager)
    api.post(f"/api/v1/people/{referrer.pk}/referral", {"referred_by_id": person.pk})
    cycle = api.post(f"/api/v1/people/{person.pk}/referral", {"referred_by_id": referrer.pk})
    assert cycle.status_code == 422
    unseen = PersonFactory(owner=cast.outsider)
    hidden = api.post(f"/api/v1/people/{person.pk}/referral", {"referred_by_id": unseen.pk})
    assert hidden.status_code == 422
    assert "referred_by_id" in hidden.json()["error"]["fields"]
    person.refresh_from_db()
    assert person.referred_by_id is None


# --- POST /people/{id}/merge ---------------------------------------------------------------------


def test_merge_a_duplicate_into_a_person(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    keep = PersonFactory(owner=cast.manager, email="", phone="+359888000001")
    duplicate = PersonFactory(owner=cast.manager, email="dup@example.com", phone="")
    deal = deal_open(person=duplicate, pipeline=pipeline, owner=cast.manager, by=None)
    response = api_for(cast.manager).post(
        f"/api/v1/people/{keep.pk}/merge", {"merge_id": duplicate.pk}
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == keep.pk
    assert response.json()["email"] == "dup@example.com"
    assert not Person.objects.filter(pk=duplicate.pk).exists()
    deal.refresh_from_db()
    assert deal.person_id == keep.pk
    assert audit_entries(keep).first().action == "merge"  # type: ignore[union-attr]


def test_merging_an_unseen_or_the_same_person_is_refused(cast: Cast, api_for: ApiFor) -> None:
    keep = PersonFactory(owner=cast.manager)
    theirs = PersonFactory(owner=cast.outsider)
    api = api_for(cast.manager)
    unseen = api.post(f"/api/v1/people/{keep.pk}/merge", {"merge_id": theirs.pk})
    assert unseen.status_code == 422
    assert "merge_id" in unseen.json()["error"]["fields"]
    itself = api.post(f"/api/v1/people/{keep.pk}/merge", {"merge_id": keep.pk})
    assert itself.status_code == 422
    assert "merge_id" in itself.json()["error"]["fields"]
    assert Person.objects.count() == 2
    into_theirs = api.post(f"/api/v1/people/{theirs.pk}/merge", {"merge_id": keep.pk})
    assert into_theirs.status_code == 404
    assert Person.objects.count() == 2


# --- POST /people/{id}/erase ---------------------------------------------------------------------


def test_a_head_erases_a_person_and_gets_what_is_left(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager, email="anna@example.com", phone="+359888000009")
    response = api_for(cast.head).post(f"/api/v1/people/{person.pk}/erase", {"reason": "Asked"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == person.pk and body["email"] == "" and body["phone"] == ""
    assert body["name"] == f"Erased person #{person.pk}"
    assert set(Suppression.objects.values_list("kind", "reason")) == {
        ("email", "Asked"),
        ("phone", "Asked"),
    }
    entry = audit_entries(person).first()
    assert entry is not None and entry.action == "erase" and entry.actor_id == cast.head.pk


def test_a_manager_may_not_erase(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager, email="anna@example.com")
    response = api_for(cast.manager).post(f"/api/v1/people/{person.pk}/erase", {})
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.email == "anna@example.com"
    assert not Suppression.objects.exists()


def test_an_over_long_reason_is_refused(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager, email="anna@example.com")
    response = api_for(cast.owner).post(f"/api/v1/people/{person.pk}/erase", {"reason": "x" * 256})
    assert response.status_code == 422
    assert "reason" in response.json()["error"]["fields"]
    person.refresh_from_db()
    assert person.email == "anna@example.com"


def test_an_over_long_company_name_is_a_field_error(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.manager).post(
        "/api/v1/people", {"name": "Anna", "phone": "+359888000010", "company_name": "A" * 201}
    )
    assert response.status_code == 422
    assert "company_name" in response.json()["error"]["fields"]
    assert not Person.objects.exists() and not Company.objects.exists()


def test_a_nul_in_a_filter_is_refused_not_sent_to_the_database(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    assert api.get("/api/v1/people", {"email": "a\x00@example.com"}).status_code == 422
    assert api.get("/api/v1/companies", {"name": "Ac\x00me"}).status_code == 422
