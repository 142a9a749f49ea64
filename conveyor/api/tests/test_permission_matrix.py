"""Every API endpoint and verb, for the owner, the record owner's head, the manager who owns the
records, a manager of another team and an anonymous caller.

The records all belong to the manager (team A). Reads answer 200 to those who may see them and
404 to the others (so ids cannot be probed); writes the same, and a refused write must leave
the database exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.accounts.services import token_create
from conveyor.api.tests.conftest import Api
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

ROLES = ("owner", "head", "manager", "outsider", "anonymous")


@dataclass
class World:
    pipeline: Pipeline
    person: Person
    company: Company
    deal: Deal
    lost: Deal
    task: Task
    lead: Lead
    inbox: Lead
    reason_id: int


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
    return World(pipeline, person, company, deal, lost, task, lead, inbox, reason.pk)


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
    ]


Call = Callable[[Api, World], Any]
OK_ALL = {"owner": 200, "head": 200, "manager": 200, "outsider": 404, "anonymous": 401}
MADE_ALL = {"owner": 201, "head": 201, "manager": 201, "outsider": 404, "anonymous": 401}
LIST_ALL = {"owner": 200, "head": 200, "manager": 200, "outsider": 200, "anonymous": 401}

CASES: dict[str, tuple[Call, dict[str, int]]] = {
    "GET /deals": (lambda a, w: a.get("/api/v1/deals"), LIST_ALL),
    "GET /deals/{id}": (lambda a, w: a.get(f"/api/v1/deals/{w.deal.pk}"), OK_ALL),
    "GET /deals/{id}/history": (
        lambda a, w: a.get(f"/api/v1/deals/{w.deal.pk}/history"),
        OK_ALL,
    ),
    "GET /deals/{id}/audit": (
        lambda a, w: a.get(f"/api/v1/deals/{w.deal.pk}/audit"),
        OK_ALL,
    ),
    "POST /deals": (
        lambda a, w: a.post(
            "/api/v1/deals", {"person_id": w.person.pk, "pipeline_id": w.pipeline.pk}
        ),
        {**MADE_ALL, "outsider": 422},
    ),
    "POST /deals/{id}/move": (
        lambda a, w: a.post(
            f"/api/v1/deals/{w.deal.pk}/move",
            {"stage_id": w.pipeline.stages.get(position=2).pk, "version": 1},
        ),
        OK_ALL,
    ),
    "POST /deals/{id}/win": (
        lambda a, w: a.post(f"/api/v1/deals/{w.deal.pk}/win", {"version": 1}),
        OK_ALL,
    ),
    "POST /deals/{id}/lose": (
        lambda a, w: a.post(
            f"/api/v1/deals/{w.deal.pk}/lose", {"version": 1, "reason_id": w.reason_id}
        ),
        OK_ALL,
    ),
    "POST /deals/{id}/reopen": (
        lambda a, w: a.post(f"/api/v1/deals/{w.lost.pk}/reopen", {"version": w.lost.version}),
        OK_ALL,
    ),
    "GET /people": (lambda a, w: a.get("/api/v1/people"), LIST_ALL),
    "GET /people/{id}": (lambda a, w: a.get(f"/api/v1/people/{w.person.pk}"), OK_ALL),
    "GET /people/{id}/export": (
        lambda a, w: a.get(f"/api/v1/people/{w.person.pk}/export"),
        OK_ALL,
    ),
    "GET /people/{id}/audit": (
        lambda a, w: a.get(f"/api/v1/people/{w.person.pk}/audit"),
        OK_ALL,
    ),
    "POST /people": (
        lambda a, w: a.post("/api/v1/people", {"name": "New", "phone": "+359888000333"}),
        {**MADE_ALL, "outsider": 201},
    ),
    "GET /companies": (lambda a, w: a.get("/api/v1/companies"), LIST_ALL),
    "GET /companies/{id}": (lambda a, w: a.get(f"/api/v1/companies/{w.company.pk}"), OK_ALL),
    "GET /leads": (lambda a, w: a.get("/api/v1/leads"), LIST_ALL),
    "GET /leads/{id}": (lambda a, w: a.get(f"/api/v1/leads/{w.lead.pk}"), OK_ALL),
    "POST /leads": (
        lambda a, w: a.post("/api/v1/leads", {"name": "In", "phone": "+359888000444"}),
        {**MADE_ALL, "outsider": 201},
    ),
    # Handing the deal to the manager is beyond the outsider's rights (403); merging into the
    # manager's person, whom the outsider cannot see, is refused as unknown (422).
    "POST /leads/{id}/accept": (
        lambda a, w: a.post(
            f"/api/v1/leads/{w.inbox.pk}/accept",
            {"pipeline_id": w.pipeline.pk, "owner_id": w.deal.owner_id},
        ),
        {**OK_ALL, "outsider": 403},
    ),
    "POST /leads/{id}/merge": (
        lambda a, w: a.post(f"/api/v1/leads/{w.inbox.pk}/merge", {"person_id": w.person.pk}),
        {**OK_ALL, "outsider": 422},
    ),
    # On the lead already accepted into the manager's deal: those who see it are told it left
    # the inbox (422); the outsider does not see it (404). Success: test_lead_actions.py.
    "POST /leads/{id}/reject": (
        lambda a, w: a.post(f"/api/v1/leads/{w.lead.pk}/reject"),
        {**OK_ALL, "owner": 422, "head": 422, "manager": 422},
    ),
    "GET /touches": (lambda a, w: a.get("/api/v1/touches"), LIST_ALL),
    "POST /touches": (
        lambda a, w: a.post("/api/v1/touches", {"deal_id": w.deal.pk, "kind": "warming"}),
        MADE_ALL,
    ),
    "GET /tasks": (lambda a, w: a.get("/api/v1/tasks"), LIST_ALL),
    "POST /tasks": (
        lambda a, w: a.post(
            "/api/v1/tasks",
            {
                "deal_id": w.deal.pk,
                "title": "Next",
                "assignee_id": w.task.assignee_id,
                "due_at": (timezone.now() + dt.timedelta(days=2)).isoformat(),
            },
        ),
        MADE_ALL,
    ),
    "POST /tasks/{id}/complete": (
        lambda a, w: a.post(f"/api/v1/tasks/{w.task.pk}/complete", {}),
        OK_ALL,
    ),
    "GET /pipelines": (lambda a, w: a.get("/api/v1/pipelines"), LIST_ALL),
    "GET /pipelines/{id}/stages": (
        lambda a, w: a.get(f"/api/v1/pipelines/{w.pipeline.pk}/stages"),
        LIST_ALL,
    ),
    "GET /loss-reasons": (lambda a, w: a.get("/api/v1/loss-reasons"), LIST_ALL),
    "GET /reports/funnel": (
        lambda a, w: a.get("/api/v1/reports/funnel", {"pipeline_id": w.pipeline.pk}),
        LIST_ALL,
    ),
}


def _api(cast: Cast, role: str) -> Api:
    if role == "anonymous":
        return Api(None)
    user: User = getattr(cast, role)
    return Api(token_create(user=user, name="matrix").raw)


def test_every_endpoint_of_the_schema_is_in_the_matrix(cast: Cast) -> None:
    paths = Api(None).get("/api/v1/openapi.json").json()["paths"]
    documented = {
        f"{verb.upper()} {path.removeprefix('/api/v1')}".replace("{deal_id}", "{id}")
        .replace("{person_id}", "{id}")
        .replace("{company_id}", "{id}")
        .replace("{lead_id}", "{id}")
        .replace("{task_id}", "{id}")
        .replace("{pipeline_id}", "{id}")
        .replace("{name}", "funnel")
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
