from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.people.models import Company, Person
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
