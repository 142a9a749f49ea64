"""`GET /api/v1/deals/{id}/audit` and `/people/{id}/audit`: the record's entries newest first,
page by page, for whoever may read the record; 404 for the others."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.people.services import person_create
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.pipelines.tests.support import stages_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline) -> Deal:
    person = person_create(
        name="Ivan Petrov", by=cast.manager, owner=cast.manager, phone="+359888000111"
    )
    deal = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=cast.manager)
    first, second = stages_of(pipeline)[:2]
    deal = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=cast.head)
    return deal_move(deal_id=deal.pk, stage=first, version=deal.version, by=cast.manager)


def test_a_deals_audit_log_lists_its_entries_newest_first(
    cast: Cast, deal: Deal, pipeline: Pipeline, api_for: ApiFor
) -> None:
    body = api_for(cast.manager).get(f"/api/v1/deals/{deal.pk}/audit").json()
    assert [item["action"] for item in body["items"]] == ["move", "move", "create"]
    first, second = stages_of(pipeline)[:2]
    latest = body["items"][0]
    assert latest["actor_id"] == cast.manager.pk
    assert latest["changes"]["stage"] == [second.pk, first.pk]
    assert body["items"][1]["actor_id"] == cast.head.pk
    assert body["items"][2]["changes"]["owner"] == [None, cast.manager.pk]
    assert body["next_cursor"] is None


def test_the_log_comes_page_by_page(cast: Cast, deal: Deal, api_for: ApiFor) -> None:
    api = api_for(cast.head)
    first = api.get(f"/api/v1/deals/{deal.pk}/audit", {"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(
        f"/api/v1/deals/{deal.pk}/audit", {"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [item["action"] for item in rest["items"]] == ["create"]
    assert rest["next_cursor"] is None


def test_a_persons_audit_log_keeps_no_personal_values(
    cast: Cast, deal: Deal, api_for: ApiFor
) -> None:
    body = api_for(cast.owner).get(f"/api/v1/people/{deal.person_id}/audit").json()
    [created] = body["items"]
    assert created["action"] == "create" and created["actor_id"] == cast.manager.pk
    assert created["changes"]["name"] is None and created["changes"]["phone"] is None
    assert "Ivan" not in str(body)


@pytest.mark.parametrize("path", ["deals/{deal}", "people/{person}"])
def test_whoever_may_not_see_the_record_gets_404(
    cast: Cast, deal: Deal, api_for: ApiFor, path: str
) -> None:
    url = "/api/v1/" + path.format(deal=deal.pk, person=deal.person_id) + "/audit"
    response = api_for(cast.outsider).get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
