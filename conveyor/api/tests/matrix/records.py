"""Matrix cases for the records: deals, people, companies, leads, touches, tasks, catalogue,
reports."""

from __future__ import annotations

import datetime as dt

from django.db.models import Model
from django.utils import timezone

from conftest import Cast
from conveyor.api.tests.matrix.base import LIST_ALL, MADE_ALL, OK_ALL, Cases, World
from conveyor.intake.models import Lead
from conveyor.people.models import Company, Person, Suppression
from conveyor.pipelines.models import Deal, PlaybookCheck
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, Touch

# The base state of test_permission_matrix counts or samples the records; editing, merging,
# erasing and rescheduling change columns it does not look at, so the rows are compared whole.
MODELS: list[type[Model]] = [
    Person,
    Company,
    Deal,
    Task,
    Touch,
    Lead,
    PlaybookCheck,
    Suppression,
]

# The base deal's stage carries this playbook item, for `POST /deals/{id}/checks`.
PLAYBOOK_ITEM = "Ask about the budget"
# Erasing is for owners and heads of sales (`can_erase_person`); the manager is refused.
ERASED = {"owner": 200, "head": 200, "manager": 403, "outsider": 404, "anonymous": 401}


def build(cast: Cast, world: World) -> None:
    """A playbook on the base deal's stage, a duplicate of the base person to merge and a
    referrer, all the manager's."""
    world.deal.stage.playbook = [{"text": PLAYBOOK_ITEM, "mandatory": False}]
    world.deal.stage.save(update_fields=["playbook"])
    world.extra["duplicate"] = PersonFactory(owner=cast.manager, phone="+359888000666")
    world.extra["referrer"] = PersonFactory(owner=cast.manager, phone="+359888000777")


CASES: Cases = {
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
    "PATCH /deals/{id}": (
        lambda a, w: a.patch(
            f"/api/v1/deals/{w.deal.pk}",
            {"version": 1, "title": "Renamed", "amount": "250.00", "currency": "USD"},
        ),
        OK_ALL,
    ),
    "POST /deals/{id}/checks": (
        lambda a, w: a.post(f"/api/v1/deals/{w.deal.pk}/checks", {"item": PLAYBOOK_ITEM}),
        OK_ALL,
    ),
    "POST /deals/bulk": (
        lambda a, w: a.post(
            "/api/v1/deals/bulk", {"ids": [w.deal.pk], "owner_id": w.deal.owner_id}
        ),
        {**OK_ALL, "outsider": 422},
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
    "PATCH /people/{id}": (
        lambda a, w: a.patch(
            f"/api/v1/people/{w.person.pk}", {"name": "Renamed", "temperature": "hot"}
        ),
        OK_ALL,
    ),
    "POST /people/{id}/referral": (
        lambda a, w: a.post(
            f"/api/v1/people/{w.person.pk}/referral",
            {"referred_by_id": w.extra["referrer"].pk},
        ),
        OK_ALL,
    ),
    "POST /people/{id}/merge": (
        lambda a, w: a.post(
            f"/api/v1/people/{w.person.pk}/merge", {"merge_id": w.extra["duplicate"].pk}
        ),
        OK_ALL,
    ),
    "POST /people/{id}/erase": (
        lambda a, w: a.post(f"/api/v1/people/{w.person.pk}/erase", {"reason": "Asked"}),
        ERASED,
    ),
    # The bulk edits name their records in the body: one the caller may not see answers 422 on
    # `ids`, as a missing one does.
    "POST /people/bulk": (
        lambda a, w: a.post("/api/v1/people/bulk", {"ids": [w.person.pk], "temperature": "hot"}),
        {**OK_ALL, "outsider": 422},
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
    # Per lead: every inbox lead is everyone's to handle, as in the web inbox.
    "POST /leads/bulk": (
        lambda a, w: a.post("/api/v1/leads/bulk", {"ids": [w.inbox.pk], "action": "reject"}),
        {**OK_ALL, "outsider": 200},
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
    "POST /tasks/{id}/reschedule": (
        lambda a, w: a.post(f"/api/v1/tasks/{w.task.pk}/reschedule", {"preset": "tomorrow"}),
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
