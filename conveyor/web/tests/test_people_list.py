"""The people list (`/people/`): search, filters, sorting, pages, bulk edit, CSV, query count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD, Cast
from conveyor.accounts.models import User
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.people.models import Person, Temperature
from conveyor.pipelines.models import DealStatus, Pipeline
from conveyor.pipelines.selectors import lifecycle_of
from conveyor.testing.browser import CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM
from conveyor.testing.factories import CompanyFactory, DealFactory, PersonFactory

pytestmark = pytest.mark.django_db

URL = reverse("web:people")
BULK = reverse("web:people-bulk")


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _names(response: Any) -> list[str]:
    return [person.name for person, _lifecycle in response.context["rows"]]


def _csv(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def test_the_list_needs_a_login(client: Client) -> None:
    assert client.get(URL).status_code == 302


def test_each_reader_sees_only_the_people_they_may_see(cast: Cast) -> None:
    PersonFactory(name="Mine", owner=cast.manager)
    PersonFactory(name="Heads", owner=cast.head)
    PersonFactory(name="Nobodys", owner=None)
    PersonFactory(name="Theirs", owner=cast.outsider)
    assert _names(_client_for(cast.manager).get(URL)) == ["Mine"]
    assert _names(_client_for(cast.head).get(URL)) == ["Heads", "Mine", "Nobodys"]
    assert len(_names(_client_for(cast.owner).get(URL))) == 4


@pytest.mark.parametrize(
    ("query", "found"),
    [("ivan", ["Ivan Petrov"]), ("maria@", ["Maria"]), ("0888 123 456", ["Ivan Petrov"])],
)
def test_search_finds_by_name_email_or_phone(cast: Cast, query: str, found: list[str]) -> None:
    PersonFactory(name="Ivan Petrov", email="", phone="+359888123456", owner=cast.manager)
    PersonFactory(name="Maria", email="maria@example.org", phone="", owner=cast.manager)
    PersonFactory(name="Georgi", email="g@example.org", phone="+359877000000", owner=cast.manager)
    assert _names(_client_for(cast.manager).get(URL, {"q": query})) == found


def test_filter_by_owner_and_by_nobody(cast: Cast) -> None:
    PersonFactory(name="Mine", owner=cast.manager)
    PersonFactory(name="Heads", owner=cast.head)
    PersonFactory(name="Nobodys", owner=None)
    client = _client_for(cast.head)
    assert _names(client.get(URL, {"owner": cast.manager.pk})) == ["Mine"]
    assert _names(client.get(URL, {"owner": "none"})) == ["Nobodys"]


def test_an_owner_the_reader_may_not_see_is_a_form_error(cast: Cast) -> None:
    response = _client_for(cast.head).get(URL, {"owner": cast.outsider.pk})
    assert response.status_code == 400
    assert response.context["form"].errors["owner"]
    assert response.context["page"] is None


def test_filter_by_source_and_temperature(cast: Cast) -> None:
    PersonFactory(name="Web hot", source="website", temperature="hot", owner=cast.manager)
    PersonFactory(name="Web cold", source="website", temperature="cold", owner=cast.manager)
    PersonFactory(name="Fair hot", source="fair", temperature="hot", owner=cast.manager)
    client = _client_for(cast.manager)
    assert _names(client.get(URL, {"source": "website"})) == ["Web cold", "Web hot"]
    assert _names(client.get(URL, {"temperature": "hot"})) == ["Fair hot", "Web hot"]
    assert _names(client.get(URL, {"source": "website", "temperature": "hot"})) == ["Web hot"]


def test_filter_by_lifecycle_status(cast: Cast, pipeline: Pipeline) -> None:
    now = timezone.now()
    lead = PersonFactory(name="Lead", owner=cast.manager)
    qualified = PersonFactory(name="Qualified", owner=cast.manager)
    customer = PersonFactory(name="Customer", owner=cast.manager)
    repeat = PersonFactory(name="Repeat", owner=cast.manager)
    DealFactory(person=lead, pipeline=pipeline)
    DealFactory(person=qualified, pipeline=pipeline, max_position=2)
    DealFactory(
        person=customer,
        pipeline=pipeline,
        status=DealStatus.WON,
        closed_at=now,
        purchase_number=1,
        touches_to_win=0,
    )
    for n in (1, 2):
        DealFactory(
            person=repeat,
            pipeline=pipeline,
            status=DealStatus.WON,
            closed_at=now,
            purchase_number=n,
            touches_to_win=0,
        )
    PersonFactory(name="Referred", owner=cast.manager, referred_by=customer)
    DealFactory(
        person=Person.objects.get(name="Referred"),
        pipeline=pipeline,
        status=DealStatus.WON,
        closed_at=now,
        purchase_number=1,
        touches_to_win=0,
    )
    client = _client_for(cast.manager)
    assert _names(client.get(URL, {"lifecycle": "lead"})) == ["Lead"]
    assert _names(client.get(URL, {"lifecycle": "qualified"})) == ["Qualified"]
    assert _names(client.get(URL, {"lifecycle": "customer"})) == ["Referred"]
    assert _names(client.get(URL, {"lifecycle": "repeat_customer"})) == ["Repeat"]
    assert _names(client.get(URL, {"lifecycle": "advocate"})) == ["Customer"]
    # The list's subqueries give the status the deal page derives (`lifecycle_of`).
    shown = {p.pk: status for p, status in client.get(URL).context["rows"]}
    assert shown == {p.pk: lifecycle_of(p) for p in Person.objects.all()}


def test_filter_by_company_shows_its_name_and_a_way_back(cast: Cast) -> None:
    acme = CompanyFactory(name="Acme")
    PersonFactory(name="At Acme", company=acme, owner=cast.manager)
    PersonFactory(name="Elsewhere", company=CompanyFactory(), owner=cast.manager)
    response = _client_for(cast.manager).get(URL, {"company": acme.pk})
    assert _names(response) == ["At Acme"]
    assert "People of Acme" in response.content.decode()


def test_a_company_the_reader_may_not_see_is_a_form_error(cast: Cast) -> None:
    hidden = CompanyFactory(name="Hidden Ltd")
    PersonFactory(company=hidden, owner=cast.outsider)
    response = _client_for(cast.manager).get(URL, {"company": hidden.pk})
    assert response.status_code == 400
    assert "Hidden Ltd" not in response.content.decode()


def test_sorting_by_a_column_and_back(cast: Cast) -> None:
    PersonFactory(name="Bea", temperature="hot", owner=cast.manager)
    PersonFactory(name="Ann", temperature="cold", owner=cast.manager)
    PersonFactory(name="Cid", temperature="warm", owner=cast.manager)
    client = _client_for(cast.manager)
    response = client.get(URL)
    assert _names(response) == ["Ann", "Bea", "Cid"]
    name_column = response.context["columns"][0]
    assert name_column.direction == "asc" and "sort=-name" in name_column.url
    assert _names(client.get(URL, {"sort": "-name"})) == ["Cid", "Bea", "Ann"]
    # Temperature sorts cold < warm < hot, not alphabetically.
    assert _names(client.get(URL, {"sort": "temperature"})) == ["Ann", "Cid", "Bea"]
    assert _names(client.get(URL, {"sort": "-temperature"})) == ["Bea", "Cid", "Ann"]


def test_sorting_by_owner_puts_people_without_one_last(cast: Cast) -> None:
    PersonFactory(name="Nobodys", owner=None)
    PersonFactory(name="Heads", owner=cast.head)  # Hristo Head
    PersonFactory(name="Managers", owner=cast.manager)  # Maria Manager
    client = _client_for(cast.head)
    assert _names(client.get(URL, {"sort": "owner"})) == ["Heads", "Managers", "Nobodys"]
    assert _names(client.get(URL, {"sort": "-owner"})) == ["Managers", "Heads", "Nobodys"]


def test_an_unknown_sort_is_a_clear_error_not_a_crash(cast: Cast) -> None:
    response = _client_for(cast.manager).get(URL, {"sort": "password"})
    assert response.status_code == 400
    assert "cannot be sorted by “password”" in response.content.decode()


def test_pages_of_fifty_keep_the_filter(cast: Cast) -> None:
    for n in range(60):
        PersonFactory(name=f"Person {n:02d}", source="fair", owner=cast.manager)
    PersonFactory(name="Other source", source="web", owner=cast.manager)
    client = _client_for(cast.manager)
    first = client.get(URL, {"source": "fair"})
    assert len(_names(first)) == 50
    assert "source=fair" in first.context["next_url"] and "page=2" in first.context["next_url"]
    second = client.get(first.context["next_url"])
    assert _names(second) == [f"Person {n}" for n in range(50, 60)]
    assert (
        client.get(URL, {"source": "fair", "per_page": 25}).context["page"].paginator.num_pages == 3
    )
    # A page past the end shows the last one.
    assert _names(client.get(URL, {"source": "fair", "page": 9})) == _names(second)


@pytest.mark.parametrize("params", [{"per_page": 500}, {"page": "two"}, {"page": 0}])
def test_a_bad_page_or_page_size_is_a_clear_error(cast: Cast, params: dict[str, object]) -> None:
    response = _client_for(cast.manager).get(URL, params)
    assert response.status_code == 400
    assert response.context["form"].errors


def test_names_are_escaped(cast: Cast) -> None:
    PersonFactory(name='<script>alert("x")</script>', owner=cast.manager)
    html = _client_for(cast.manager).get(URL).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_rows_link_to_the_person_page_and_the_company(cast: Cast) -> None:
    acme = CompanyFactory(name="Acme")
    person = PersonFactory(company=acme, owner=cast.manager)
    html = _client_for(cast.manager).get(URL).content.decode()
    assert f'href="{reverse("web:person-erase", args=[person.pk])}"' in html
    assert f'href="{URL}?company={acme.pk}"' in html


def test_csv_exports_every_matching_row_with_formulas_neutralised(cast: Cast) -> None:
    PersonFactory(name='=HYPERLINK("http://evil.example","x")', source="fair", owner=cast.manager)
    for n in range(55):
        PersonFactory(name=f"Person {n:02d}", source="fair", owner=cast.manager)
    PersonFactory(name="Not in the filter", source="web", owner=cast.manager)
    PersonFactory(name="Not mine", source="fair", owner=cast.outsider)
    response = _client_for(cast.manager).get(URL, {"source": "fair", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="people.csv"' in response["Content-Disposition"]
    rows = _csv(response)
    assert rows[0][0] == "Name"
    names = [row[0] for row in rows[1:]]
    assert len(names) == 56
    assert '\'=HYPERLINK("http://evil.example","x")' in names
    assert "Not in the filter" not in names and "Not mine" not in names


def test_the_page_offers_the_csv_of_its_own_filter(cast: Cast) -> None:
    PersonFactory(owner=cast.manager)
    response = _client_for(cast.manager).get(URL, {"source": "website", "sort": "-name"})
    assert response.context["csv_query"] == "source=website&sort=-name&format=csv"


def test_the_query_count_does_not_grow_with_rows(
    cast: Cast, pipeline: Pipeline, django_assert_num_queries: Any
) -> None:
    acme = CompanyFactory(name="Acme")
    params = {"q": "person", "source": "fair", "temperature": "warm", "sort": "-owner"}
    params |= {"lifecycle": "qualified", "company": str(acme.pk), "owner": str(cast.manager.pk)}

    def add(n: int) -> None:
        person = PersonFactory(
            name=f"Person {n}", source="fair", temperature="warm", owner=cast.manager, company=acme
        )
        DealFactory(person=person, pipeline=pipeline, max_position=2)

    add(0)
    client = _client_for(cast.head)
    response = client.get(URL, params)
    assert len(response.context["rows"]) == 1
    with django_assert_num_queries(9) as one:
        client.get(URL, params)
    for n in range(1, 60):
        add(n)
    with django_assert_num_queries(len(one)):
        response = client.get(URL, params)
    assert len(response.context["rows"]) == 50


def test_bulk_sets_owner_and_temperature_of_the_ticked_people(cast: Cast) -> None:
    ticked = [PersonFactory(owner=cast.head), PersonFactory(owner=None)]
    left = PersonFactory(owner=cast.head)
    response = _client_for(cast.head).post(
        BULK,
        {
            "ids": [p.pk for p in ticked],
            "owner": cast.manager.pk,
            "temperature": "hot",
            "query": "sort=-name&page=2",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?sort=-name&page=2"
    assert set(
        Person.objects.filter(pk__in=[p.pk for p in ticked]).values_list("owner", "temperature")
    ) == {(cast.manager.pk, "hot")}
    left.refresh_from_db()
    assert (left.owner_id, left.temperature) == (cast.head.pk, Temperature.COLD)


def test_bulk_on_all_matching_changes_every_row_of_the_filter(cast: Cast) -> None:
    for _ in range(60):
        PersonFactory(source="fair", owner=cast.manager)
    PersonFactory(source="web", owner=cast.manager)
    response = _client_for(cast.manager).post(
        BULK, {"all_matching": "on", "temperature": "warm", "query": "source=fair"}, follow=True
    )
    assert "60 people updated." in response.content.decode()
    assert Person.objects.filter(temperature="warm").count() == 60
    assert Person.objects.get(source="web").temperature == Temperature.COLD


def test_bulk_refused_for_one_row_changes_nothing_and_names_it(cast: Cast) -> None:
    mine = PersonFactory(owner=cast.manager)
    theirs = PersonFactory(owner=cast.outsider)
    response = _client_for(cast.manager).post(
        BULK, {"ids": [mine.pk, theirs.pk], "temperature": "hot"}, follow=True
    )
    html = response.content.decode()
    assert "Nothing was changed." in html and f"Person #{theirs.pk}" in html
    assert set(Person.objects.values_list("temperature", flat=True)) == {Temperature.COLD}
    assert not AuditEntry.objects.filter(action=AuditAction.UPDATE).exists()


def test_bulk_handing_to_another_heads_manager_is_refused(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager)
    response = _client_for(cast.head).post(
        BULK, {"ids": [person.pk], "owner": cast.outsider.pk}, follow=True
    )
    assert "You may not assign records to Oleg Outsider." in response.content.decode()
    person.refresh_from_db()
    assert person.owner_id == cast.manager.pk


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"temperature": "hot"}, "Tick the rows to change"),
        ({"ids": ["1"]}, "Choose an owner or a temperature"),
        ({"ids": ["x"], "temperature": "hot"}, "“x” is not one"),
    ],
)
def test_bulk_without_rows_or_change_says_what_is_missing(
    cast: Cast, data: dict[str, object], message: str
) -> None:
    person = PersonFactory(owner=cast.manager)
    response = _client_for(cast.manager).post(BULK, data, follow=True)
    assert message in response.content.decode()
    person.refresh_from_db()
    assert person.temperature == Temperature.COLD


def test_bulk_all_matching_with_a_bad_filter_changes_nothing(cast: Cast) -> None:
    PersonFactory(owner=cast.manager)
    response = _client_for(cast.manager).post(
        BULK,
        {"all_matching": "on", "temperature": "hot", "query": "temperature=boiling"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"{URL}?temperature=boiling"
    assert set(Person.objects.values_list("temperature", flat=True)) == {Temperature.COLD}


def test_bulk_needs_post(cast: Cast) -> None:
    assert _client_for(cast.manager).get(BULK).status_code == 405


def test_created_dates_are_shown(cast: Cast) -> None:
    PersonFactory(owner=cast.manager, created_at=dt.datetime(2025, 1, 31, 12, tzinfo=dt.UTC))
    assert "01/31/2025" in _client_for(cast.manager).get(URL).content.decode()


@pytest.mark.django_db(transaction=True)
@NEEDS_CHROMIUM
def test_in_a_browser_ticking_the_whole_page_and_applying_changes_those_rows(
    cast: Cast, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    people = [PersonFactory(name=f"Person {n}", owner=cast.head) for n in range(3)]
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("E-mail").fill(cast.head.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server.url}{URL}?sort=-name")
        page.get_by_label("Tick every row on this page").check()  # shown by lists.js
        assert page.locator("input[name=ids]:checked").count() == 3
        page.get_by_label("Set temperature").select_option("hot")
        with page.expect_navigation():
            page.get_by_role("button", name="Apply").click()
        assert page.url == f"{live_server.url}{URL}?sort=-name"
        assert "3 people updated." in page.content()
        browser.close()
    # No script refused by the Content-Security-Policy, none failing.
    assert not [e for e in errors if "favicon" not in e and "404" not in e]
    assert set(
        Person.objects.filter(pk__in=[p.pk for p in people]).values_list("temperature", flat=True)
    ) == {Temperature.HOT}
