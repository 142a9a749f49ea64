"""Every API endpoint and verb, for the owner, the record owner's head, the manager who owns the
records, a manager of another team and an anonymous caller.

The cases live in `matrix/`, one module per area. The records all belong to the manager (team A).
Reads answer 200 to those who may see them and 404 to the others (so ids cannot be probed);
writes the same, and a refused write must leave the database exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.accounts.services import token_create
from conveyor.api.tests.conftest import Api
from conveyor.api.tests.matrix import account, automation, intake, process, records, team
from conveyor.api.tests.matrix.base import ROLES, Cases, World
from conveyor.core.models import AuditEntry
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_accept, lead_receive
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import Deal, Pipeline, StageChange
from conveyor.pipelines.services import deal_lose, deal_open
from conveyor.testing.factories import LossReasonFactory, PersonFactory
from conveyor.touches.models import Task, Touch
from conveyor.touches.services import task_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast: Cast, pipeline: Pipeline) -> World:
    company = Company.objects.create(name="Acme")
    person = PersonFactory(owner=cast.manager, company=company, phone="+359888000111")
    deal = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=None)
    reason = LossReasonFactory(name="No budget")
    lost = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=None)
    lost = deal_lose(deal_id=lost.pk, version=1, by=None, reason=reason)
    task = task_schedule(
        by=None,
        assignee=cast.manager,
        title="Call",
        deal=deal,
        due_at=timezone.now() + dt.timedelta(days=1),
    )
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Lead", phone="+359888000222")
    lead_accept(lead_id=lead.pk, by=cast.owner, pipeline=pipeline, owner=cast.manager)
    # The inbox is shared: everyone may see a waiting lead and act on it within their rights.
    inbox = lead_receive(channel=LeadChannel.MANUAL, name="Waiting", phone="+359888000555")
    world = World(pipeline, person, company, deal, lost, task, lead, inbox, reason.pk)
    for area in AREAS:
        area.build(cast, world)
    return world


def _state() -> list[Any]:
    """Everything a write could change."""
    return [
        list(Deal.objects.order_by("pk").values_list("pk", "version", "stage_id", "status")),
        StageChange.objects.count(),
        Touch.objects.count(),
        list(Task.objects.order_by("pk").values_list("pk", "done_at")),
        list(Lead.objects.order_by("pk").values_list("pk", "status", "deal_id")),
        Person.objects.count(),
        AuditEntry.objects.count(),
        *(
            list(model.objects.order_by("pk").values_list())
            for area in AREAS
            for model in area.MODELS
        ),
    ]


AREAS = (records, process, team, automation, intake, account)
CASES: Cases = {}
for _area in AREAS:
    assert not set(_area.CASES) & set(CASES), f"{_area.__name__} repeats a case"
    CASES.update(_area.CASES)


def _api(cast: Cast, role: str) -> Api:
    if role == "anonymous":
        return Api(None)
    user: User = getattr(cast, role)
    return Api(token_create(user=user, name="matrix").raw)


def test_every_endpoint_of_the_schema_is_in_the_matrix(cast: Cast) -> None:
    paths = Api(None).get("/api/v1/openapi.json").json()["paths"]
    documented = {
        re.sub(r"\{\w+_id\}", "{id}", f"{verb.upper()} {path.removeprefix('/api/v1')}").replace(
            "{name}", "funnel"
        )
        for path, verbs in paths.items()
        for verb in verbs
    }
    # One pipeline's detail is covered by its stages; the schema and docs are public.
    assert documented - set(CASES) <= {"GET /pipelines/{id}"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_permission_matrix(cast: Cast, world: World, case: str, role: str) -> None:
    call, expected = CASES[case]
    api = _api(cast, role)
    before = _state()
    response = call(api, world)
    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert "error" in response.json()
        assert _state() == before, "a refused call changed the database"
