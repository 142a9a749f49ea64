"""Settings → cadences with their steps, and automation rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.automation.models import Action, AutomationRule, Trigger
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Pipeline
from conveyor.testing.audit import log_of
from conveyor.testing.factories import TaskFactory, pipeline_with_stages
from conveyor.touches.models import Cadence, CadenceStep, Channel, TouchKind

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.fixture
def cadence(pipeline: Pipeline) -> Cadence:
    cadence = Cadence.objects.create(name="Warm up")
    cadence.stages.add(pipeline.stages.get(position=1))
    CadenceStep.objects.create(
        cadence=cadence, position=1, day_offset=0, kind=TouchKind.WARMING, channel=Channel.CALL
    )
    return cadence


@pytest.fixture
def rule(pipeline: Pipeline) -> AutomationRule:
    return AutomationRule.objects.create(
        name="Call the new ones",
        pipeline=pipeline,
        trigger=Trigger.DEAL_CREATED,
        action=Action.CREATE_TASK,
        params={"title": "Call", "kind": "warming", "channel": "call", "due_in_days": 0},
    )


def _rule_post(pipeline: Pipeline, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Won: open the repeat-sales deal",
        "pipeline": pipeline.pk,
        "trigger": Trigger.DEAL_WON,
        "delay_days": "14",
        "action": Action.COPY_TO_PIPELINE,
        "position": "1",
        "is_active": "on",
        **overrides,
    }


def test_a_manager_is_refused_every_page_and_nothing_changes(
    cast: Cast, cadence: Cadence, rule: AutomationRule
) -> None:
    step = cadence.steps.get()
    urls = [
        reverse("web:settings-cadences"),
        reverse("web:settings-cadence-new"),
        reverse("web:settings-cadence", kwargs={"pk": cadence.pk}),
        reverse("web:settings-step-new", kwargs={"cadence_pk": cadence.pk}),
        reverse("web:settings-step", kwargs={"pk": step.pk}),
        reverse("web:settings-rules"),
        reverse("web:settings-rule-new"),
        reverse("web:settings-rule", kwargs={"pk": rule.pk}),
    ]
    client = _client(cast.manager)
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "Hijacked", "day_offset": "3"}).status_code == 403, url
    remove = reverse("web:settings-step-remove", kwargs={"pk": step.pk})
    assert client.post(remove).status_code == 403
    for user in (cast.owner, cast.head):
        for url in urls:
            assert _client(user).get(url).status_code == 200, url
    assert not Cadence.objects.filter(name="Hijacked").exists()
    assert not AutomationRule.objects.filter(name="Hijacked").exists()
    step.refresh_from_db()
    assert step.day_offset == 0


def test_head_creates_a_cadence_and_adds_steps_at_the_end(cast: Cast, pipeline: Pipeline) -> None:
    client = _client(cast.head)
    stage = pipeline.stages.get(position=2)
    response = client.post(
        reverse("web:settings-cadence-new"),
        {"name": "5 + 1", "stages": [stage.pk], "warming_per_closing": "5", "is_default": "on"},
    )
    cadence = Cadence.objects.get(name="5 + 1")
    assert response.headers["Location"] == reverse(
        "web:settings-cadence", kwargs={"pk": cadence.pk}
    )
    assert (list(cadence.stages.all()), cadence.is_default) == ([stage], True)
    new_step = reverse("web:settings-step-new", kwargs={"cadence_pk": cadence.pk})
    for day, kind in ((0, TouchKind.WARMING), (2, TouchKind.CLOSING)):
        response = client.post(
            new_step, {"day_offset": str(day), "kind": kind, "channel": Channel.CALL}
        )
        assert response.status_code == 302
    steps = list(cadence.steps.order_by("position").values_list("position", "day_offset", "kind"))
    assert steps == [(1, 0, "warming"), (2, 2, "closing")]
    assert log_of(cadence.steps.get(position=2))[0].action == AuditAction.CREATE


def test_a_taken_step_number_is_shown_on_the_field_and_nothing_saved(
    cast: Cast, cadence: Cadence
) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-step-new", kwargs={"cadence_pk": cadence.pk}),
        {"position": "1", "day_offset": "1", "kind": TouchKind.WARMING, "channel": Channel.CALL},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["position"] == [
        "Step 1 already exists: give this one another number."
    ]
    assert cadence.steps.count() == 1


def test_a_step_that_planned_tasks_stays(cast: Cast, cadence: Cadence) -> None:
    step = cadence.steps.get()
    TaskFactory(cadence_step=step)
    client = _client(cast.head)
    response = client.post(reverse("web:settings-step-remove", kwargs={"pk": step.pk}), follow=True)
    assert "Tasks were planned from this step" in response.content.decode()
    assert CadenceStep.objects.filter(pk=step.pk).exists()


def test_an_unused_step_is_removed_with_an_audit_entry(cast: Cast, cadence: Cadence) -> None:
    step = cadence.steps.get()
    response = _client(cast.head).post(reverse("web:settings-step-remove", kwargs={"pk": step.pk}))
    assert response.headers["Location"] == reverse(
        "web:settings-cadence", kwargs={"pk": cadence.pk}
    )
    assert not CadenceStep.objects.filter(pk=step.pk).exists()
    assert [entry.action for entry in log_of(step)] == [AuditAction.DELETE]


def test_head_creates_a_copy_rule_with_its_parameters(cast: Cast, pipeline: Pipeline) -> None:
    repeat = pipeline_with_stages(["Bought again"], segment=pipeline.segment)
    response = _client(cast.head).post(
        reverse("web:settings-rule-new"),
        _rule_post(pipeline, pipeline_id=repeat.pk, title="ignored: not this action's"),
    )
    assert response.headers["Location"] == reverse("web:settings-rules")
    rule = AutomationRule.objects.get(name="Won: open the repeat-sales deal")
    assert (rule.trigger, rule.delay_days, rule.action) == ("deal_won", 14, "copy_to_pipeline")
    assert rule.params == {"pipeline_id": repeat.pk}
    assert log_of(rule)[0].actor_id == cast.head.pk


def test_a_rule_the_engine_could_never_run_is_refused_on_the_field(
    cast: Cast, pipeline: Pipeline, rule: AutomationRule
) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-rule", kwargs={"pk": rule.pk}),
        _rule_post(pipeline, action=Action.CREATE_TASK, title="Thank them"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["action"] == [
        "A won or lost deal is closed, and this action needs an open one."
    ]
    rule.refresh_from_db()
    assert (rule.name, rule.trigger) == ("Call the new ones", Trigger.DEAL_CREATED)
    assert log_of(rule) == []


def test_a_missing_parameter_is_shown_on_its_field(cast: Cast, pipeline: Pipeline) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-rule-new"),
        _rule_post(pipeline, trigger=Trigger.DEAL_CREATED, action=Action.START_CADENCE),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["cadence_id"] == ["Choose the cadence to start."]
    assert not AutomationRule.objects.exists()


def test_the_edit_page_shows_the_rules_parameters(cast: Cast, rule: AutomationRule) -> None:
    form = (
        _client(cast.owner)
        .get(reverse("web:settings-rule", kwargs={"pk": rule.pk}))
        .context["form"]
    )
    assert (form["title"].value(), form["due_in_days"].value()) == ("Call", 0)


def test_the_lists_run_the_same_queries_for_one_or_many(
    cast: Cast, cadence: Cadence, rule: AutomationRule, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.head)
    urls = [
        reverse("web:settings-cadences"),
        reverse("web:settings-rules"),
        reverse("web:settings-cadence", kwargs={"pk": cadence.pk}),
    ]
    few = {}
    for url in urls:
        with django_assert_max_num_queries(20) as counted:
            client.get(url)
        few[url] = len(counted)
    for n in range(5):
        other = pipeline_with_stages()
        more = Cadence.objects.create(name=f"Cadence {n}")
        more.stages.add(*other.stages.all())
        CadenceStep.objects.create(
            cadence=cadence, position=n + 2, day_offset=n, kind=TouchKind.WARMING
        )
        AutomationRule.objects.create(
            name=f"Rule {n}",
            pipeline=other,
            stage=other.stages.get(position=2),
            trigger=Trigger.STAGE_ENTERED,
            action=Action.START_CADENCE,
            params={"cadence_id": cadence.pk},
        )
    for url in urls:
        assert _queries(client, url) == few[url], url
