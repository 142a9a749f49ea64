"""rule_save: the rules a head saves are ones the engine can run (and it runs them); the ones it
could never run are refused on the field at fault, and nothing is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from conveyor.automation import engine
from conveyor.automation.models import Action, AutomationRule, AutomationRun, JobStatus, Trigger
from conveyor.automation.services import rule_save
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.tests.support import open_deal, stages_of
from conveyor.testing.audit import log_of
from conveyor.testing.factories import PersonFactory, pipeline_with_stages
from conveyor.touches.models import Cadence, Task

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


def _fields(pipeline: Pipeline, **overrides: Any) -> dict[str, Any]:
    return {
        "rule_id": None,
        "name": "Call the new ones",
        "pipeline": pipeline,
        "stage": None,
        "trigger": Trigger.DEAL_CREATED,
        "delay_days": 0,
        "action": Action.CREATE_TASK,
        "params": {"title": "Call them", "kind": "closing", "due_in_days": "2"},
        "is_active": True,
        "position": 1,
        **overrides,
    }


def _refused(by: Any, pipeline: Pipeline, **overrides: Any) -> ServiceError:
    with pytest.raises(ServiceError) as refused:
        rule_save(by=by, **_fields(pipeline, **overrides))
    assert not AutomationRule.objects.filter(name=overrides.get("name", "Call the new ones"))
    return refused.value


def test_a_saved_rule_runs_in_the_engine(cast: Cast, pipeline: Pipeline) -> None:
    rule = rule_save(by=cast.head, **_fields(pipeline, params={"title": "Call them", "x": 1}))
    assert rule.params == {
        "title": "Call them",
        "kind": "warming",
        "channel": "call",
        "due_in_days": 0,
    }
    [entry] = log_of(rule)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    run = AutomationRun.objects.get(rule=rule)
    assert engine.run_execute(run_id=run.pk) == JobStatus.DONE
    assert Task.objects.filter(deal=deal, title="Call them").exists()


def test_a_manager_saves_no_rule(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(PermissionDenied):
        rule_save(by=cast.manager, **_fields(pipeline))
    assert not AutomationRule.objects.exists()


def test_a_stage_of_another_pipeline_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    other = stages_of(pipeline_with_stages())[0]
    assert _refused(cast.head, pipeline, stage=other).field == "stage"


def test_lead_received_takes_no_stage(cast: Cast, pipeline: Pipeline) -> None:
    error = _refused(
        cast.head,
        pipeline,
        trigger=Trigger.LEAD_RECEIVED,
        stage=stages_of(pipeline)[0],
        action=Action.CALL_WEBHOOK,
    )
    assert error.field == "stage"


def test_no_touch_needs_its_days(cast: Cast, pipeline: Pipeline) -> None:
    assert _refused(cast.head, pipeline, trigger=Trigger.NO_TOUCH).field == "delay_days"


@pytest.mark.parametrize(
    "action", [Action.CREATE_TASK, Action.START_CADENCE, Action.MOVE_TO_PIPELINE]
)
def test_open_deal_actions_are_refused_on_won_deals(
    cast: Cast, pipeline: Pipeline, action: str
) -> None:
    assert _refused(cast.head, pipeline, trigger=Trigger.DEAL_WON, action=action).field == "action"


def test_copy_on_win_names_an_open_stage_of_the_target(cast: Cast, pipeline: Pipeline) -> None:
    repeat = pipeline_with_stages(["Bought again", "Asked for more"])
    wrong = stages_of(pipeline)[0]
    error = _refused(
        cast.head,
        pipeline,
        trigger=Trigger.DEAL_WON,
        action=Action.COPY_TO_PIPELINE,
        params={"pipeline_id": repeat.pk, "stage_id": wrong.pk},
    )
    assert error.field == "stage_id"
    target = stages_of(repeat)[1]
    rule = rule_save(
        by=cast.head,
        **_fields(
            pipeline,
            trigger=Trigger.DEAL_WON,
            delay_days=14,
            action=Action.COPY_TO_PIPELINE,
            params={"pipeline_id": str(repeat.pk), "stage_id": target.pk, "title": "dropped"},
        ),
    )
    assert rule.params == {"pipeline_id": repeat.pk, "stage_id": target.pk}


def test_moving_into_its_own_pipeline_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    error = _refused(
        cast.head, pipeline, action=Action.MOVE_TO_PIPELINE, params={"pipeline_id": pipeline.pk}
    )
    assert error.field == "pipeline_id"


def test_parameters_naming_nothing_are_refused_on_them(cast: Cast, pipeline: Pipeline) -> None:
    for action, name in (
        (Action.START_CADENCE, "cadence_id"),
        (Action.ASSIGN_OWNER, "user_id"),
        (Action.SEND_EMAIL, "template_id"),
        (Action.CALL_WEBHOOK, "endpoint_id"),
    ):
        assert _refused(cast.head, pipeline, action=action, params={name: 999}).field == name


def test_a_cadence_without_steps_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    cadence = Cadence.objects.create(name="Empty")
    error = _refused(
        cast.head, pipeline, action=Action.START_CADENCE, params={"cadence_id": cadence.pk}
    )
    assert error.field == "cadence_id"


def test_head_assigns_only_to_people_they_manage(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(PermissionDenied):
        rule_save(
            by=cast.head,
            **_fields(pipeline, action=Action.ASSIGN_OWNER, params={"user_id": cast.outsider.pk}),
        )
    rule = rule_save(
        by=cast.head,
        **_fields(pipeline, action=Action.ASSIGN_OWNER, params={"user_id": cast.manager.pk}),
    )
    assert rule.params == {"user_id": cast.manager.pk}


def test_editing_a_rule_logs_what_changed(cast: Cast, pipeline: Pipeline) -> None:
    rule = rule_save(by=cast.head, **_fields(pipeline))
    rule_save(by=cast.owner, **_fields(pipeline, rule_id=rule.pk, is_active=False, delay_days=2))
    rule.refresh_from_db()
    assert (rule.is_active, rule.delay_days) == (False, 2)
    update = log_of(rule)[1]
    assert (update.actor_id, update.changes) == (
        cast.owner.pk,
        {"delay_days": [0, 2], "is_active": [True, False]},
    )
