"""A service's refusal names its own input (`owner`, `assignee`, `deal`); the API answers it
under the name the request sent (`owner_id`, `assignee_id`, `deal_id`), so a client can show
it beside the right field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import Cast
from conveyor.accounts.models import Role, User
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_lose, deal_open
from conveyor.testing.factories import LossReasonFactory, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db


def _deal(person: Person, pipeline: Pipeline, owner: User) -> Deal:
    return deal_open(person=person, pipeline=pipeline, owner=owner, by=None)


CASES: dict[str, tuple[Callable[[Api, dict[str, Any]], Any], str]] = {
    "a task for a switched-off colleague": (
        lambda api, w: api.post(
            "/api/v1/tasks",
            {
                "title": "Call",
                "deal_id": w["deal"].pk,
                "assignee_id": w["gone"].pk,
                "due_at": "2030-01-01T09:00:00Z",
            },
        ),
        "assignee_id",
    ),
    "a task on a closed deal": (
        lambda api, w: api.post(
            "/api/v1/tasks",
            {"title": "Call", "deal_id": w["lost"].pk, "due_at": "2030-01-01T09:00:00Z"},
        ),
        "deal_id",
    ),
    "a deal handed to a switched-off colleague": (
        lambda api, w: api.patch(
            f"/api/v1/deals/{w['deal'].pk}",
            {"version": w["deal"].version, "owner_id": w["gone"].pk},
        ),
        "owner_id",
    ),
    "a person handed to a switched-off colleague": (
        lambda api, w: api.patch(f"/api/v1/people/{w['person'].pk}", {"owner_id": w["gone"].pk}),
        "owner_id",
    ),
    "a person's company renamed too long": (
        lambda api, w: api.patch(f"/api/v1/people/{w['person'].pk}", {"company_name": "A" * 201}),
        "company_name",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refusal_names_the_field_as_it_was_sent(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline, case: str
) -> None:
    person = PersonFactory(owner=cast.manager)
    lost = _deal(person, pipeline, cast.manager)
    deal_lose(deal_id=lost.pk, version=lost.version, by=None, reason=LossReasonFactory())
    world = {
        "person": person,
        "deal": _deal(person, pipeline, cast.manager),
        "lost": lost,
        "gone": UserFactory(
            email="gone@example.com", role=Role.MANAGER, team=cast.manager.team, is_active=False
        ),
    }
    call, field = CASES[case]
    answer = call(api_for(cast.owner), world)
    assert answer.status_code == 422, answer.content
    assert list(answer.json()["error"]["fields"]) == [field]
