from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_export_returns_the_person_with_their_deals(
    cast: Cast, pipeline: Pipeline, api_for: ApiFor
) -> None:
    person = PersonFactory(owner=cast.manager, name="Anna Keller")
    deal = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=None)
    response = api_for(cast.head).get(f"/api/v1/people/{person.pk}/export")
    assert response.status_code == 200
    body = response.json()
    assert body["person"]["name"] == "Anna Keller"
    assert [row["id"] for row in body["deals"]] == [deal.pk]
    assert len(body["deals"][0]["stage_changes"]) == 1


def test_a_manager_of_another_team_gets_404_and_no_data(cast: Cast, api_for: ApiFor) -> None:
    person = PersonFactory(owner=cast.manager, name="Anna Keller")
    response = api_for(cast.outsider).get(f"/api/v1/people/{person.pk}/export")
    assert response.status_code == 404
    assert b"Anna" not in response.content
