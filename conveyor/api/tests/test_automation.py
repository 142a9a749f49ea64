"""`/api/v1/cadences`, `/cadence-steps`, `/automation-rules`, `/email-templates`, `/webhooks`:
what the settings screens do, through the same services, for owners and heads only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from pytest_django import Settings

from conftest import Cast
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.api.tests.matrix.automation import PUBLIC_URL
from conveyor.automation.mail import email_template_save
from conveyor.automation.models import AutomationRule, EmailTemplate, WebhookEndpoint
from conveyor.automation.services import webhook_endpoint_save
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.pipelines.models import Pipeline, Stage
from conveyor.pipelines.services import deal_open
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import PersonFactory, pipeline_with_stages
from conveyor.touches.models import Cadence, CadenceStep, Task
from conveyor.touches.services import cadence_save, cadence_step_save, task_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_allowed_networks(settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = []


@pytest.fixture
def head(cast: Cast, api_for: ApiFor) -> Api:
    return api_for(cast.head)


def _stages(pipeline: Pipeline) -> list[Stage]:
    return list(pipeline.stages.order_by("position"))


def _cadence(**changes: Any) -> Cadence:
    values: dict[str, Any] = {
        "name": "Warm-up",
        "description": "Keep them warm.",
        "stages": [],
        "warming_per_closing": 4,
        "is_default": False,
    }
    values.update(changes)
    return cadence_save(by=None, cadence_id=None, **values)


def _step(cadence: Cadence, **changes: Any) -> CadenceStep:
    values: dict[str, Any] = {
        "position": None,
        "day_offset": 1,
        "kind": "warming",
        "channel": "call",
        "script": "Hello.",
    }
    values.update(changes)
    return cadence_step_save(by=None, cadence_id=cadence.pk, step_id=None, **values)


def _fields(response: Any) -> dict[str, list[str]]:
    body = response.json()
    assert body["error"]["code"] == "invalid", body
    return dict(body["error"].get("fields", {}))


# --- Cadences --------------------------------------------------------------------------------


def test_a_head_creates_a_cadence_for_stages_and_it_is_audited(
    cast: Cast, head: Api, pipeline: Pipeline
) -> None:
    first, second = _stages(pipeline)[:2]
    response = head.post(
        "/api/v1/cadences",
        {
            "name": " Warm-up ",
            "stage_ids": [second.pk, first.pk],
            "warming_per_closing": 3,
            "is_default": True,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Warm-up"
    assert body["stage_ids"] == sorted([first.pk, second.pk])
    assert (body["warming_per_closing"], body["is_default"], body["steps"]) == (3, True, [])
    cadence = Cadence.objects.get(pk=body["id"])
    [entry] = log_of(cadence)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_a_cadence_patch_changes_only_what_was_sent(head: Api, pipeline: Pipeline) -> None:
    stage = _stages(pipeline)[0]
    cadence = _cadence(stages=[stage])
    response = head.patch(f"/api/v1/cadences/{cadence.pk}", {"warming_per_closing": 7})
    assert response.status_code == 200, response.content
    cadence.refresh_from_db()
    assert cadence.warming_per_closing == 7
    assert (cadence.name, cadence.description) == ("Warm-up", "Keep them warm.")
    assert list(cadence.stages.all()) == [stage]
    assert response.json()["stage_ids"] == [stage.pk]


def test_one_cadence_answers_with_its_steps_in_order(head: Api) -> None:
    cadence = _cadence()
    second = _step(cadence, position=2, day_offset=3, kind="closing")
    first = _step(cadence, position=1, script="Introduce yourself.")
    response = head.get(f"/api/v1/cadences/{cadence.pk}")
    assert response.status_code == 200
    steps = response.json()["steps"]
    assert [step["id"] for step in steps] == [first.pk, second.pk]
    assert steps[0]["script"] == "Introduce yourself."
    assert steps[1]["task_count"] == 0
    assert [item["id"] for item in head.get("/api/v1/cadences").json()] == [cadence.pk]


def test_a_manager_may_neither_read_nor_change_cadences(cast: Cast, api_for: ApiFor) -> None:
    cadence = _cadence()
    manager = api_for(cast.manager)
    assert manager.get("/api/v1/cadences").status_code == 403
    assert manager.get(f"/api/v1/cadences/{cadence.pk}").status_code == 403
    response = manager.patch(f"/api/v1/cadences/{cadence.pk}", {"name": "Mine"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert manager.post("/api/v1/cadences", {"name": "Mine"}).status_code == 403
    assert list(Cadence.objects.values_list("name", flat=True)) == ["Warm-up"]
    assert actions_of(cadence) == [AuditAction.CREATE]


def test_cadence_refusals_name_the_api_field(head: Api, pipeline: Pipeline) -> None:
    stage = _stages(pipeline)[0]
    Stage.objects.filter(pk=stage.pk).update(is_archived=True)
    _cadence()
    cases = [
        ({"name": "New", "stage_ids": [stage.pk]}, "stage_ids"),
        ({"name": "New", "stage_ids": [987654]}, "stage_ids"),
        ({"name": "New", "warming_per_closing": 0}, "warming_per_closing"),
        ({"name": "Warm-up"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "Nul\x00"}, "name"),
    ]
    for body, field in cases:
        response = head.post("/api/v1/cadences", body)
        assert response.status_code == 422, (body, response.content)
        assert field in _fields(response), (body, response.json())
    assert Cadence.objects.count() == 1


def test_an_archived_stage_a_cadence_already_has_is_kept_by_a_patch(
    head: Api, pipeline: Pipeline
) -> None:
    stage = _stages(pipeline)[0]
    cadence = _cadence(stages=[stage])
    Stage.objects.filter(pk=stage.pk).update(is_archived=True)
    response = head.patch(f"/api/v1/cadences/{cadence.pk}", {"description": "Later."})
    assert response.status_code == 200, response.content
    assert response.json()["stage_ids"] == [stage.pk]


def test_a_null_for_a_field_that_cannot_be_empty_is_refused(head: Api) -> None:
    cadence = _cadence()
    response = head.patch(f"/api/v1/cadences/{cadence.pk}", {"name": None})
    assert response.status_code == 422
    assert "name" in _fields(response)
    cadence.refresh_from_db()
    assert cadence.name == "Warm-up"


def test_an_unknown_cadence_is_not_found(head: Api) -> None:
    assert head.get("/api/v1/cadences/999999").status_code == 404
    assert head.patch("/api/v1/cadences/999999", {"name": "X"}).status_code == 404
    response = head.post("/api/v1/cadences/999999/steps", {"day_offset": 0, "kind": "warming"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- Cadence steps ---------------------------------------------------------------------------


def test_a_step_is_added_at_the_end_and_audited(cast: Cast, head: Api) -> None:
    cadence = _cadence()
    _step(cadence)
    response = head.post(
        f"/api/v1/cadences/{cadence.pk}/steps",
        {"day_offset": 5, "kind": "closing", "channel": "meeting", "script": " Offer. "},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["position"], body["day_offset"], body["kind"], body["channel"]) == (
        2,
        5,
        "closing",
        "meeting",
    )
    assert (body["script"], body["task_count"], body["cadence_id"]) == ("Offer.", 0, cadence.pk)
    [entry] = log_of(CadenceStep.objects.get(pk=body["id"]))
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_a_step_number_already_taken_is_refused_on_position(head: Api) -> None:
    cadence = _cadence()
    _step(cadence, position=1)
    response = head.post(
        f"/api/v1/cadences/{cadence.pk}/steps", {"position": 1, "day_offset": 0, "kind": "warming"}
    )
    assert response.status_code == 422
    assert "position" in _fields(response)
    assert cadence.steps.count() == 1


def test_a_step_patch_changes_only_what_was_sent(head: Api) -> None:
    step = _step(_cadence(), day_offset=2, kind="closing", channel="email", script="Write.")
    response = head.patch(f"/api/v1/cadence-steps/{step.pk}", {"day_offset": 4})
    assert response.status_code == 200, response.content
    step.refresh_from_db()
    assert (step.position, step.day_offset, step.kind, step.channel, step.script) == (
        1,
        4,
        "closing",
        "email",
        "Write.",
    )
    assert actions_of(step) == [AuditAction.CREATE, AuditAction.UPDATE]


def test_a_step_without_tasks_is_removed(cast: Cast, head: Api) -> None:
    step = _step(_cadence())
    response = head.delete(f"/api/v1/cadence-steps/{step.pk}")
    assert response.status_code == 204
    assert not CadenceStep.objects.filter(pk=step.pk).exists()
    entry = AuditEntry.objects.filter(action=AuditAction.DELETE).get()
    assert entry.actor_id == cast.head.pk
    assert head.delete(f"/api/v1/cadence-steps/{step.pk}").status_code == 404


def test_a_step_tasks_were_planned_from_stays(cast: Cast, head: Api, pipeline: Pipeline) -> None:
    step = _step(_cadence())
    deal = deal_open(
        person=PersonFactory(owner=cast.manager), pipeline=pipeline, owner=cast.manager, by=None
    )
    task = task_schedule(
        by=None,
        assignee=cast.manager,
        title="Call",
        deal=deal,
        due_at=timezone.now() + dt.timedelta(days=1),
    )
    Task.objects.filter(pk=task.pk).update(cadence_step=step)
    response = head.delete(f"/api/v1/cadence-steps/{step.pk}")
    assert response.status_code == 422
    assert "step_id" in _fields(response)
    assert CadenceStep.objects.filter(pk=step.pk).exists()
    assert head.get(f"/api/v1/cadences/{step.cadence_id}").json()["steps"][0]["task_count"] == 1


def test_a_manager_may_not_remove_a_step(cast: Cast, api_for: ApiFor) -> None:
    step = _step(_cadence())
    assert api_for(cast.manager).delete(f"/api/v1/cadence-steps/{step.pk}").status_code == 403
    assert CadenceStep.objects.filter(pk=step.pk).exists()


# --- Automation rules ------------------------------------------------------------------------


def _rule_body(pipeline: Pipeline, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Call the quiet ones",
        "pipeline_id": pipeline.pk,
        "trigger": "no_touch",
        "delay_days": 3,
        "action": "create_task",
        "params": {"title": "Call", "channel": "email", "cadence_id": 5},
    }
    body.update(changes)
    return body


def test_a_head_creates_a_rule_keeping_only_its_actions_params(
    cast: Cast, head: Api, pipeline: Pipeline
) -> None:
    response = head.post("/api/v1/automation-rules", _rule_body(pipeline))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["params"] == {
        "title": "Call",
        "kind": "warming",
        "channel": "email",
        "due_in_days": 0,
    }
    assert (body["trigger"], body["delay_days"], body["stage_id"]) == ("no_touch", 3, None)
    rule = AutomationRule.objects.get(pk=body["id"])
    assert actions_of(rule) == [AuditAction.CREATE]
    assert log_of(rule)[0].actor_id == cast.head.pk
    assert [item["id"] for item in head.get("/api/v1/automation-rules").json()] == [rule.pk]
    assert head.get(f"/api/v1/automation-rules/{rule.pk}").json()["name"] == "Call the quiet ones"


def test_a_rule_patch_changes_only_what_was_sent(head: Api, pipeline: Pipeline) -> None:
    rule_id = head.post("/api/v1/automation-rules", _rule_body(pipeline)).json()["id"]
    response = head.patch(f"/api/v1/automation-rules/{rule_id}", {"is_active": False})
    assert response.status_code == 200, response.content
    rule = AutomationRule.objects.get(pk=rule_id)
    assert rule.is_active is False
    assert (rule.name, rule.delay_days, rule.params["title"]) == ("Call the quiet ones", 3, "Call")
    response = head.patch(
        f"/api/v1/automation-rules/{rule_id}",
        {"stage_id": _stages(pipeline)[1].pk, "trigger": "stage_entered", "delay_days": 0},
    )
    assert response.status_code == 200, response.content
    assert response.json()["stage_id"] == _stages(pipeline)[1].pk
    assert (
        head.patch(f"/api/v1/automation-rules/{rule_id}", {"stage_id": None}).json()["stage_id"]
        is None
    )


def test_rule_refusals_name_the_api_field(cast: Cast, head: Api, pipeline: Pipeline) -> None:
    other = _stages(pipeline_with_stages())[0]
    off = email_template_save(
        by=cast.owner,
        name="Old",
        texts={"en": ("Hi", "Hello")},
        is_active=False,
    )
    cases = [
        (_rule_body(pipeline, stage_id=other.pk), "stage_id"),
        (_rule_body(pipeline, stage_id=987654), "stage_id"),
        (_rule_body(pipeline, pipeline_id=987654), "pipeline_id"),
        (_rule_body(pipeline, trigger="no_touch", delay_days=0), "delay_days"),
        (
            _rule_body(pipeline, action="start_cadence", params={"cadence_id": 987}),
            "params.cadence_id",
        ),
        (
            _rule_body(pipeline, action="send_email", params={"template_id": off.pk}),
            "params.template_id",
        ),
        (_rule_body(pipeline, params={"due_in_days": 366}), "params.due_in_days"),
        (_rule_body(pipeline, trigger="sometimes"), "trigger"),
    ]
    for body, field in cases:
        response = head.post("/api/v1/automation-rules", body)
        assert response.status_code == 422, (body, response.content)
        assert field in _fields(response), (body, response.json())
    assert not AutomationRule.objects.exists()


def test_a_switched_off_webhook_cannot_be_called_by_a_rule(
    cast: Cast, head: Api, pipeline: Pipeline
) -> None:
    endpoint = webhook_endpoint_save(
        by=None, endpoint_id=None, name="Old", url=PUBLIC_URL, events=[], is_active=False
    )
    body = _rule_body(pipeline, action="call_webhook", params={"endpoint_id": endpoint.pk})
    response = head.post("/api/v1/automation-rules", body)
    assert "params.endpoint_id" in _fields(response)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True)
    assert head.post("/api/v1/automation-rules", body).status_code == 201


def test_a_head_may_not_hand_deals_to_another_heads_manager(
    cast: Cast, head: Api, pipeline: Pipeline
) -> None:
    body = _rule_body(
        pipeline,
        trigger="deal_created",
        delay_days=0,
        action="assign_owner",
        params={"user_id": cast.outsider.pk},
    )
    assert head.post("/api/v1/automation-rules", body).status_code == 403
    body["params"] = {"user_id": cast.manager.pk}
    assert head.post("/api/v1/automation-rules", body).json()["params"] == {
        "user_id": cast.manager.pk
    }


def test_a_manager_sees_no_rules_and_changes_none(
    cast: Cast, api_for: ApiFor, head: Api, pipeline: Pipeline
) -> None:
    rule_id = head.post("/api/v1/automation-rules", _rule_body(pipeline)).json()["id"]
    manager = api_for(cast.manager)
    assert manager.get("/api/v1/automation-rules").status_code == 403
    assert manager.get(f"/api/v1/automation-rules/{rule_id}").status_code == 403
    assert manager.patch(f"/api/v1/automation-rules/{rule_id}", {"name": "X"}).status_code == 403
    assert AutomationRule.objects.get().name == "Call the quiet ones"
    assert head.get("/api/v1/automation-rules/999999").status_code == 404


# --- E-mail templates ------------------------------------------------------------------------


def test_a_template_is_saved_per_language_with_formatted_text_cleaned(
    cast: Cast, head: Api
) -> None:
    response = head.post(
        "/api/v1/email-templates",
        {
            "name": "Offer",
            "texts": {
                "en": {
                    "subject": "Our offer",
                    "format": "html",
                    "body": "<p>Hello <b>{{ person.name }}</b></p><script>alert(1)</script>",
                },
                "ru": {"subject": "Предложение", "body": "Здравствуйте, {{ person.name }}"},
                "bg": {"subject": " ", "body": ""},
            },
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body["texts"]) == {"en", "ru"}
    assert body["texts"]["en"]["format"] == "html"
    assert "<script" not in body["texts"]["en"]["body"]
    assert "<b>{{ person.name }}</b>" in body["texts"]["en"]["body"]
    assert body["texts"]["ru"]["format"] == "text"
    template = EmailTemplate.objects.get(pk=body["id"])
    assert actions_of(template) == [AuditAction.CREATE]
    assert head.get(f"/api/v1/email-templates/{template.pk}").json() == body
    assert [item["id"] for item in head.get("/api/v1/email-templates").json()] == [template.pk]


def test_a_template_patch_keeps_the_texts_unless_they_are_sent(cast: Cast, head: Api) -> None:
    template = email_template_save(
        by=cast.owner,
        name="Offer",
        texts={"en": ("Our offer", "Hello"), "ru": ("Предложение", "Привет")},
    )
    response = head.patch(f"/api/v1/email-templates/{template.pk}", {"is_active": False})
    assert response.status_code == 200, response.content
    assert set(response.json()["texts"]) == {"en", "ru"}
    assert response.json()["is_active"] is False
    response = head.patch(
        f"/api/v1/email-templates/{template.pk}",
        {"texts": {"en": {"subject": "New offer", "body": "Hi"}}},
    )
    assert response.status_code == 200, response.content
    texts = response.json()["texts"]
    assert texts == {"en": {"subject": "New offer", "format": "text", "body": "Hi"}}
    template.refresh_from_db()
    assert (template.name, template.is_active) == ("Offer", False)


def test_template_refusals_name_the_language(head: Api) -> None:
    cases = [
        ({"name": "A", "texts": {"ru": {"subject": "", "body": "Текст"}}}, "texts.ru"),
        ({"name": "A", "texts": {"xx": {"subject": "S", "body": "B"}}}, "texts.xx"),
        ({"name": "A", "texts": {"en": {"subject": "S", "body": "{% if %}"}}}, "texts.en"),
        ({"name": "A", "texts": {}}, "texts"),
        ({"name": "A", "texts": {"en": {"subject": "S", "body": "B", "format": "pdf"}}}, None),
    ]
    for body, field in cases:
        response = head.post("/api/v1/email-templates", body)
        assert response.status_code == 422, (body, response.content)
        fields = _fields(response)
        assert field is None or field in fields, (body, fields)
    assert not EmailTemplate.objects.exists()


def test_a_manager_may_not_touch_templates(cast: Cast, api_for: ApiFor) -> None:
    template = email_template_save(by=cast.owner, name="Offer", texts={"en": ("S", "B")})
    manager = api_for(cast.manager)
    assert manager.get("/api/v1/email-templates").status_code == 403
    response = manager.patch(f"/api/v1/email-templates/{template.pk}", {"name": "Mine"})
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.name == "Offer"


# --- Webhooks --------------------------------------------------------------------------------


def _webhook(head: Api, **changes: Any) -> Any:
    body = {"name": "Billing", "url": PUBLIC_URL, "events": ["deal_won", "deal_lost"]}
    body.update(changes)
    return head.post("/api/v1/webhooks", body)


def test_a_new_webhook_answers_its_secret_once(cast: Cast, head: Api) -> None:
    response = _webhook(head)
    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret and len(endpoint.secret) >= 40
    assert body["secret_end"] == endpoint.secret[-4:]
    assert body["events"] == ["deal_won", "deal_lost"]
    for shown in (
        head.get(f"/api/v1/webhooks/{endpoint.pk}"),
        head.get("/api/v1/webhooks"),
        head.patch(f"/api/v1/webhooks/{endpoint.pk}", {"name": "Invoices"}),
    ):
        assert shown.status_code == 200
        assert endpoint.secret not in shown.content.decode()
        assert "secret_end" in shown.content.decode()
    [created, _renamed] = log_of(endpoint)
    assert (created.action, created.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert endpoint.secret not in str(AuditEntry.objects.values_list("changes", flat=True))


def test_a_webhook_inside_the_network_is_refused(head: Api) -> None:
    response = _webhook(head, url="http://127.0.0.1:9000/")
    assert response.status_code == 422
    assert "url" in _fields(response)
    assert not WebhookEndpoint.objects.exists()
    endpoint_id = _webhook(head).json()["id"]
    response = head.patch(f"/api/v1/webhooks/{endpoint_id}", {"url": "http://10.0.0.5/"})
    assert response.status_code == 422
    assert "url" in _fields(response)
    assert WebhookEndpoint.objects.get().url == PUBLIC_URL


def test_a_webhook_patch_changes_only_what_was_sent(head: Api) -> None:
    endpoint_id = _webhook(head).json()["id"]
    secret = WebhookEndpoint.objects.get().secret
    response = head.patch(f"/api/v1/webhooks/{endpoint_id}", {"events": [], "is_active": False})
    assert response.status_code == 200, response.content
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.name, endpoint.url, endpoint.events, endpoint.is_active) == (
        "Billing",
        PUBLIC_URL,
        [],
        False,
    )
    assert endpoint.secret == secret
    response = head.patch(f"/api/v1/webhooks/{endpoint_id}", {"events": ["sometimes"]})
    assert "events.0" in _fields(response)


def test_rotating_answers_the_new_secret_and_logs_only_that_it_changed(
    cast: Cast, head: Api
) -> None:
    endpoint_id = _webhook(head).json()["id"]
    old = WebhookEndpoint.objects.get().secret
    response = head.post(f"/api/v1/webhooks/{endpoint_id}/rotate")
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    new = WebhookEndpoint.objects.get().secret
    assert new != old and response.json()["secret"] == new
    rotated = log_of(WebhookEndpoint.objects.get())[-1]
    assert (rotated.actor_id, rotated.changes) == (cast.head.pk, {"secret": None})
    assert new not in head.get(f"/api/v1/webhooks/{endpoint_id}").content.decode()


def test_a_manager_may_not_rotate_and_unknown_webhooks_are_not_found(
    cast: Cast, api_for: ApiFor, head: Api
) -> None:
    endpoint_id = _webhook(head).json()["id"]
    secret = WebhookEndpoint.objects.get().secret
    manager = api_for(cast.manager)
    assert manager.post(f"/api/v1/webhooks/{endpoint_id}/rotate").status_code == 403
    assert manager.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 403
    assert WebhookEndpoint.objects.get().secret == secret
    assert head.post("/api/v1/webhooks/999999/rotate").status_code == 404
    assert head.get("/api/v1/webhooks/999999").status_code == 404
