"""Matrix cases for qualifying questions, routing rules, web forms, erasing a person, and the
import from other CRMs (owners and heads only, as on the web)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model

from conftest import Cast
from conveyor.api.tests.conftest import Api
from conveyor.api.tests.matrix.base import SETTINGS_CHANGED, SETTINGS_MADE, Cases, World
from conveyor.intake.models import (
    LeadForm,
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.services import form_create, question_save, routing_rule_save

MODELS: list[type[Model]] = [QualificationQuestion, RoutingRule, LeadForm]


def build(cast: Cast, world: World) -> None:
    """A qualifying question of the pipeline's segment, a rule routing to team A (the head's)
    and a web form."""
    segment = world.pipeline.segment
    world.extra["question"] = question_save(
        by=None,
        question_id=None,
        segment=segment,
        position=None,
        text="Budget approved?",
        kind=QuestionKind.YES_NO,
        options=[],
        scoring={"yes": 10},
        is_required=False,
    )
    assert cast.manager.team is not None
    world.extra["rule"] = routing_rule_save(
        by=None,
        rule_id=None,
        name="Site leads",
        position=1,
        is_active=True,
        segment=None,
        form=None,
        source="site",
        min_score=None,
        question=None,
        answer="",
        pipeline=world.pipeline,
        owner_strategy=OwnerStrategy.ROUND_ROBIN,
        team=cast.manager.team,
        fixed_owner=None,
        auto_accept=False,
    )
    world.extra["form"] = form_create(name="Contact us", by=None, pipeline=world.pipeline)


def _id(world: World, name: str) -> int:
    return int(world.extra[name].pk)


def _crm_import(api: Api, world: World, path: str) -> Any:
    """A one-deal CSV export into the world's pipeline, owned by the manager (whom the head
    may give deals to)."""
    export = (
        "deal_id,title,person_name,person_email,owner\n"
        "1,Website,Anna Keller,anna@acme.example,manager@example.com\n"
    )
    return api.post_form(
        f"/api/v1/crm-imports{path}",
        {
            "file": SimpleUploadedFile("deals.csv", export.encode(), "text/csv"),
            "source": "csv",
            "pipeline": world.pipeline.name,
        },
    )


CASES: Cases = {
    "GET /questions": (lambda a, w: a.get("/api/v1/questions"), SETTINGS_CHANGED),
    "GET /questions/{id}": (
        lambda a, w: a.get(f"/api/v1/questions/{_id(w, 'question')}"),
        SETTINGS_CHANGED,
    ),
    "POST /questions": (
        lambda a, w: a.post(
            "/api/v1/questions",
            {
                "segment_id": w.pipeline.segment_id,
                "text": "Team size?",
                "kind": "number",
                "scoring": [[1, 9, 0], [10, 100, 5]],
            },
        ),
        SETTINGS_MADE,
    ),
    "PATCH /questions/{id}": (
        lambda a, w: a.patch(
            f"/api/v1/questions/{_id(w, 'question')}", {"text": "Is the budget approved?"}
        ),
        SETTINGS_CHANGED,
    ),
    "GET /routing-rules": (lambda a, w: a.get("/api/v1/routing-rules"), SETTINGS_CHANGED),
    "GET /routing-rules/{id}": (
        lambda a, w: a.get(f"/api/v1/routing-rules/{_id(w, 'rule')}"),
        SETTINGS_CHANGED,
    ),
    "POST /routing-rules": (
        lambda a, w: a.post(
            "/api/v1/routing-rules",
            {
                "name": "Hot leads",
                "position": 2,
                "min_score": 10,
                "pipeline_id": w.pipeline.pk,
                "owner_strategy": "least_open",
                "team_id": w.extra["rule"].team_id,
            },
        ),
        SETTINGS_MADE,
    ),
    "PATCH /routing-rules/{id}": (
        lambda a, w: a.patch(f"/api/v1/routing-rules/{_id(w, 'rule')}", {"is_active": False}),
        SETTINGS_CHANGED,
    ),
    "GET /lead-forms": (lambda a, w: a.get("/api/v1/lead-forms"), SETTINGS_CHANGED),
    "GET /lead-forms/{id}": (
        lambda a, w: a.get(f"/api/v1/lead-forms/{_id(w, 'form')}"),
        SETTINGS_CHANGED,
    ),
    "POST /lead-forms": (
        lambda a, w: a.post(
            "/api/v1/lead-forms", {"name": "Price request", "pipeline_id": w.pipeline.pk}
        ),
        SETTINGS_MADE,
    ),
    "PATCH /lead-forms/{id}": (
        lambda a, w: a.patch(f"/api/v1/lead-forms/{_id(w, 'form')}", {"is_active": False}),
        SETTINGS_CHANGED,
    ),
    "POST /crm-imports/preview": (lambda a, w: _crm_import(a, w, "/preview"), SETTINGS_CHANGED),
    "POST /crm-imports": (lambda a, w: _crm_import(a, w, ""), SETTINGS_MADE),
}
