"""The companies list (`/companies/`): search, sorting, pages, CSV, query count. Companies have
no owner: they are seen through their people, and there is no bulk edit here."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.people.models import Company
from conveyor.testing.factories import CompanyFactory, PersonFactory

pytestmark = pytest.mark.django_db

URL = reverse("web:companies")


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _company(name: str, owner: User | None, people: int = 1) -> Company:
    company = CompanyFactory(name=name)
    for _ in range(people):
        PersonFactory(company=company, owner=owner)
    return company


def _names(response: Any) -> list[str]:
    return [company.name for company in response.context["page"]]


def test_the_list_needs_a_login(client: Client) -> None:
    assert client.get(URL).status_code == 302


def test_a_reader_sees_the_companies_of_the_people_they_may_see(cast: Cast) -> None:
    _company("Mine Ltd", cast.manager)
    _company("Theirs Ltd", cast.outsider)
    shared = _company("Shared Ltd", cast.outsider, people=2)
    PersonFactory(company=shared, owner=cast.manager)
    response = _client_for(cast.manager).get(URL)
    assert _names(response) == ["Mine Ltd", "Shared Ltd"]
    # Only the people the reader may see are counted.
    assert [c.people_count for c in response.context["page"]] == [1, 1]
    assert len(_names(_client_for(cast.owner).get(URL))) == 3


def test_search_by_name(cast: Cast) -> None:
    _company("Acme Ltd", cast.manager)
    _company("Globex", cast.manager)
    assert _names(_client_for(cast.manager).get(URL, {"q": "acm"})) == ["Acme Ltd"]


def test_sorting_by_people_and_name(cast: Cast) -> None:
    _company("Alpha", cast.manager, people=1)
    _company("Beta", cast.manager, people=3)
    _company("Gamma", cast.manager, people=2)
    client = _client_for(cast.manager)
    assert _names(client.get(URL, {"sort": "-people"})) == ["Beta", "Gamma", "Alpha"]
    assert _names(client.get(URL, {"sort": "people"})) == ["Alpha", "Gamma", "Beta"]
    assert _names(client.get(URL, {"sort": "-name"})) == ["Gamma", "Beta", "Alpha"]


def test_an_unknown_sort_is_a_clear_error(cast: Cast) -> None:
    response = _client_for(cast.manager).get(URL, {"sort": "owner"})
    assert response.status_code == 400
    assert "cannot be sorted by “owner”" in response.content.decode()


def test_pages_of_fifty(cast: Cast) -> None:
    for n in range(60):
        _company(f"Company {n:02d}", cast.manager)
    client = _client_for(cast.manager)
    first = client.get(URL, {"q": "company"})
    assert len(first.context["page"]) == 50
    assert _names(client.get(first.context["next_url"])) == [f"Company {n}" for n in range(50, 60)]


def test_rows_link_to_their_people_and_names_are_escaped(cast: Cast) -> None:
    company = _company("<script>alert(1)</script>", cast.manager)
    html = _client_for(cast.manager).get(URL).content.decode()
    assert f'href="{reverse("web:people")}?company={company.pk}"' in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_says_why_there_is_no_bulk_edit(cast: Cast) -> None:
    _company("Acme", cast.manager)
    html = _client_for(cast.manager).get(URL).content.decode()
    assert "Companies have no owner of their own" in html
    assert 'name="ids"' not in html


def test_csv_exports_every_matching_company_with_formulas_neutralised(cast: Cast) -> None:
    _company("=cmd|' /C calc'!A0", cast.manager, people=2)
    for n in range(55):
        _company(f"Company {n:02d}", cast.manager)
    _company("Not mine", cast.outsider)
    response = _client_for(cast.manager).get(URL, {"format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8")  # type: ignore[attr-defined]
    header, *rows = list(csv.reader(io.StringIO(body)))
    assert header == ["Name", "People", "Created"]
    assert len(rows) == 56
    assert rows[0][:2] == ["'=cmd|' /C calc'!A0", "2"]
    assert "Not mine" not in body


def test_the_query_count_does_not_grow_with_rows(
    cast: Cast, django_assert_num_queries: Any
) -> None:
    params = {"q": "company", "sort": "-people"}
    _company("Company 0", cast.manager)
    client = _client_for(cast.head)
    with django_assert_num_queries(6) as one:
        response = client.get(URL, params)
    assert len(response.context["page"]) == 1
    for n in range(1, 60):
        _company(f"Company {n}", cast.manager, people=2)
    with django_assert_num_queries(len(one)):
        response = client.get(URL, params)
    assert len(response.context["page"]) == 50
