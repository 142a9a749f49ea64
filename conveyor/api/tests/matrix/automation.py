"""Matrix cases for cadences and their steps, automation rules, e-mail templates, webhooks.

Settings: owners and heads read and change them, managers (either team) are refused with 403,
reads included, as on the web's settings screens."""

from __future__ import annotations

from django.db.models import Model

from conftest import Cast
from conveyor.api.tests.matrix.base import SETTINGS_CHANGED, SETTINGS_MADE, Cases, World
from conveyor.automation.mail import email_template_save
from conveyor.automation.models import (
    Action,
    AutomationRule,
    EmailTemplate,
    EmailTemplateText,
    Trigger,
    WebhookEndpoint,
)
from conveyor.automation.services import rule_save, webhook_endpoint_save
from conveyor.touches.models import Cadence, CadenceStep
from conveyor.touches.services import cadence_save, cadence_step_save

MODELS: list[type[Model]] = [
    Cadence,
    CadenceStep,
    AutomationRule,
    EmailTemplate,
    EmailTemplateText,
    WebhookEndpoint,
]
SETTINGS_GONE = {"owner": 204, "head": 204, "manager": 403, "outsider": 403, "anonymous": 401}
PUBLIC_URL = "https://93.184.215.14/hook"  # a public address as a literal: no DNS, never called


def build(cast: Cast, world: World) -> None:
    """A cadence with one step, a rule, a template and a webhook. None of them acts on the
    other areas' cases: the cadence has no stages, the rule's trigger is periodic and the
    webhook is switched off."""
    cadence = cadence_save(
        by=None,
        cadence_id=None,
        name="Warm-up",
        description="",
        stages=[],
        warming_per_closing=5,
        is_default=False,
    )
    world.extra["automation.cadence"] = cadence
    world.extra["automation.step"] = cadence_step_save(
        by=None,
        cadence_id=cadence.pk,
        step_id=None,
        position=None,
        day_offset=0,
        kind="warming",
        channel="call",
        script="Say hello.",
    )
    world.extra["automation.rule"] = rule_save(
        by=None,
        rule_id=None,
        name="Call the quiet ones",
        pipeline=world.pipeline,
        stage=None,
        trigger=Trigger.NO_TOUCH,
        delay_days=5,
        action=Action.CREATE_TASK,
        params={"title": "Call"},
        is_active=True,
        position=1,
    )
    world.extra["automation.template"] = email_template_save(
        by=cast.owner, name="Offer", texts={"en": ("Our offer", "Hello {{ person.name }}")}
    )
    world.extra["automation.webhook"] = webhook_endpoint_save(
        by=None, endpoint_id=None, name="Billing", url=PUBLIC_URL, events=[], is_active=False
    )


def _id(world: World, name: str) -> int:
    # Keys carry the area's name: `world.extra` is shared with the other areas.
    return int(world.extra[f"automation.{name}"].pk)


CASES: Cases = {
    "GET /cadences": (lambda a, w: a.get("/api/v1/cadences"), SETTINGS_CHANGED),
    "GET /cadences/{id}": (
        lambda a, w: a.get(f"/api/v1/cadences/{_id(w, 'cadence')}"),
        SETTINGS_CHANGED,
    ),
    "POST /cadences": (
        lambda a, w: a.post("/api/v1/cadences", {"name": "Closing push"}),
        SETTINGS_MADE,
    ),
    "PATCH /cadences/{id}": (
        lambda a, w: a.patch(f"/api/v1/cadences/{_id(w, 'cadence')}", {"name": "Renamed"}),
        SETTINGS_CHANGED,
    ),
    "POST /cadences/{id}/steps": (
        lambda a, w: a.post(
            f"/api/v1/cadences/{_id(w, 'cadence')}/steps", {"day_offset": 2, "kind": "closing"}
        ),
        SETTINGS_MADE,
    ),
    "PATCH /cadence-steps/{id}": (
        lambda a, w: a.patch(f"/api/v1/cadence-steps/{_id(w, 'step')}", {"day_offset": 3}),
        SETTINGS_CHANGED,
    ),
    "DELETE /cadence-steps/{id}": (
        lambda a, w: a.delete(f"/api/v1/cadence-steps/{_id(w, 'step')}"),
        SETTINGS_GONE,
    ),
    "GET /automation-rules": (lambda a, w: a.get("/api/v1/automation-rules"), SETTINGS_CHANGED),
    "GET /automation-rules/{id}": (
        lambda a, w: a.get(f"/api/v1/automation-rules/{_id(w, 'rule')}"),
        SETTINGS_CHANGED,
    ),
    "POST /automation-rules": (
        lambda a, w: a.post(
            "/api/v1/automation-rules",
            {
                "name": "Remind",
                "pipeline_id": w.pipeline.pk,
                "trigger": "no_touch",
                "delay_days": 2,
                "action": "create_task",
                "params": {"title": "Remind"},
            },
        ),
        SETTINGS_MADE,
    ),
    "PATCH /automation-rules/{id}": (
        lambda a, w: a.patch(f"/api/v1/automation-rules/{_id(w, 'rule')}", {"is_active": False}),
        SETTINGS_CHANGED,
    ),
    "GET /email-templates": (lambda a, w: a.get("/api/v1/email-templates"), SETTINGS_CHANGED),
    "GET /email-templates/{id}": (
        lambda a, w: a.get(f"/api/v1/email-templates/{_id(w, 'template')}"),
        SETTINGS_CHANGED,
    ),
    "POST /email-templates": (
        lambda a, w: a.post(
            "/api/v1/email-templates",
            {"name": "Thanks", "texts": {"en": {"subject": "Thank you", "body": "Thanks!"}}},
        ),
        SETTINGS_MADE,
    ),
    "PATCH /email-templates/{id}": (
        lambda a, w: a.patch(f"/api/v1/email-templates/{_id(w, 'template')}", {"is_active": False}),
        SETTINGS_CHANGED,
    ),
    "GET /webhooks": (lambda a, w: a.get("/api/v1/webhooks"), SETTINGS_CHANGED),
    "GET /webhooks/{id}": (
        lambda a, w: a.get(f"/api/v1/webhooks/{_id(w, 'webhook')}"),
        SETTINGS_CHANGED,
    ),
    "POST /webhooks": (
        lambda a, w: a.post(
            "/api/v1/webhooks", {"name": "CRM", "url": PUBLIC_URL, "events": ["deal_won"]}
        ),
        SETTINGS_MADE,
    ),
    "PATCH /webhooks/{id}": (
        lambda a, w: a.patch(f"/api/v1/webhooks/{_id(w, 'webhook')}", {"name": "Invoices"}),
        SETTINGS_CHANGED,
    ),
    "POST /webhooks/{id}/rotate": (
        lambda a, w: a.post(f"/api/v1/webhooks/{_id(w, 'webhook')}/rotate"),
        SETTINGS_CHANGED,
    ),
}
