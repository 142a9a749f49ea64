from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db

URL = "/people/merge/"


def _logged_in(user: object, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _pair(pipeline: Pipeline, owner: object = None) -> tuple[Person, Person]:
    """Ivan twice: the one to keep with a deal, the duplicate with a deal and a lead."""
    keep = PersonFactory(name="Ivan Petrov", email="ivan@example.org", phone="", owner=owner)
    drop = PersonFactory(name="Ivan P.", email="", phone="+359888123456", owner=owner)
    deal_open(person=keep, pipeline=pipeline, owner=None, by=None)
    deal_open(person=drop, pipeline=pipeline, owner=None, by=None)
    lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    return keep, drop


def test_the_page_needs_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]


def test_search_lists_people_with_their_deals_and_leads(cast: Cast, pipeline: Pipeline) -> None:
    keep, drop = _pair(pipeline)
    response = _logged_in(cast.owner).get(URL, {"q": "ivan"})
    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("web:person-merge") == URL
    for person, deals, leads in ((keep, 1, 0), (drop, 1, 1)):
        row = page[page.index(f'<tr id="person-{person.pk}">') :]
        row = row[: row.index("</tr>")]
        assert f'<td class="deal-count">{deals}</td>' in row
        assert f'<td class="lead-count">{leads}</td>' in row
        assert (
            f'name="keep" value="{person.pk}"' in row and f'name="drop" value="{person.pk}"' in row
        )
    assert "What the merge does" not in page


def test_the_page_query_count_does_not_grow_with_matches(
    cast: Cast, pipeline: Pipeline, django_assert_max_num_queries: Any
) -> None:
    client = _logged_in(cast.owner)
    keep, drop = _pair(pipeline)
    params = {"q": "ivan", "keep": keep.pk, "drop": drop.pk}
    with django_assert_max_num_queries(12) as few:
        client.get(URL, params)
    for n in range(15):
        person = PersonFactory(name=f"Ivan {n}", phone=f"+35988800{n:04d}")
        deal_open(person=person, pipeline=pipeline, owner=None, by=None)
    with django_assert_max_num_queries(len(few)):
        response = client.get(URL, params)
    assert len(response.context["candidates"]) == 17


def test_picking_two_shows_a_preview_and_changes_nothing(cast: Cast, pipeline: Pipeline) -> None:
    keep, drop = _pair(pipeline)
    response = _logged_in(cast.owner).get(URL, {"q": "ivan", "keep": keep.pk, "drop": drop.pk})
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview.keep, preview.drop) == (keep, drop)
    moves = {move.label: move.count for move in preview.moves}
    assert (moves["Deals"], moves["Leads"]) == (1, 1)
    page = response.content.decode()
    assert f"Ivan P. (#{drop.pk}) is joined into Ivan Petrov (#{keep.pk}) and then deleted." in page
    assert "Phone" in page  # filled in from the duplicate
    assert Person.objects.count() == 2


def test_confirming_merges_and_goes_back_to_the_inbox(cast: Cast, pipeline: Pipeline) -> None:
    keep, drop = _pair(pipeline)
    client = _logged_in(cast.head)
    response = client.post(URL, {"keep": keep.pk, "drop": drop.pk, "next": "/inbox/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox/"
    assert not Person.objects.filter(pk=drop.pk).exists()
    assert Deal.objects.filter(person=keep).count() == 2
    assert Lead.objects.get().person_id == keep.pk
    keep.refresh_from_db()
    assert keep.phone == "+359888123456"
    assert (
        f"Ivan P. (#{drop.pk}) was merged into Ivan Petrov"
        in client.get("/inbox/").content.decode()
    )


def test_without_a_safe_next_it_shows_the_kept_person(cast: Cast, pipeline: Pipeline) -> None:
    keep, drop = _pair(pipeline)
    response = _logged_in(cast.owner).post(
        URL, {"keep": keep.pk, "drop": drop.pk, "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{URL}?keep={keep.pk}"


def test_a_manager_merges_two_of_their_own_people(cast: Cast, pipeline: Pipeline) -> None:
    keep, drop = _pair(pipeline, owner=cast.manager)
    response = _logged_in(cast.manager).post(URL, {"keep": keep.pk, "drop": drop.pk})
    assert response.status_code == 302
    assert list(Person.objects.all()) == [keep]


@pytest.mark.parametrize(
    ("actor", "drop_owner"),
    [("manager", "outsider"), ("manager", None), ("head", "outsider"), ("outsider", "manager")],
)
def test_someone_not_theirs_to_see_is_refused_and_nothing_changes(
    cast: Cast, pipeline: Pipeline, actor: str, drop_owner: str | None
) -> None:
    keep = PersonFactory(owner=cast.manager if actor != "outsider" else cast.outsider)
    drop = PersonFactory(phone="+359888123456", owner=getattr(cast, drop_owner or "", None))
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    client = _logged_in(getattr(cast, actor))

    preview = client.get(URL, {"keep": keep.pk, "drop": drop.pk})
    assert preview.context["preview"] is None
    assert "does not exist or is not yours to see" in preview.content.decode()
    response = client.post(URL, {"keep": keep.pk, "drop": drop.pk})

    assert response.status_code == 400
    assert "does not exist or is not yours to see" in response.content.decode()
    assert Person.objects.filter(pk__in=[keep.pk, drop.pk]).count() == 2
    lead.refresh_from_db()
    assert lead.person_id == drop.pk


def test_the_same_person_twice_is_refused(cast: Cast) -> None:
    person = PersonFactory()
    response = _logged_in(cast.owner).post(URL, {"keep": person.pk, "drop": person.pk})
    assert response.status_code == 400
    assert "Pick two different people." in response.content.decode()
    assert Person.objects.filter(pk=person.pk).exists()


def test_posting_without_a_pair_asks_for_one(cast: Cast) -> None:
    person = PersonFactory()
    response = _logged_in(cast.owner).post(URL, {"keep": person.pk})
    assert response.status_code == 400
    assert "Pick the person to keep and the duplicate." in response.content.decode()


def test_merging_needs_the_csrf_token(cast: Cast, pipeline: Pipeline) -> None:
    keep, drop = _pair(pipeline)
    client = _logged_in(cast.owner, enforce_csrf_checks=True)
    assert client.post(URL, {"keep": keep.pk, "drop": drop.pk}).status_code == 403
    assert Person.objects.count() == 2
