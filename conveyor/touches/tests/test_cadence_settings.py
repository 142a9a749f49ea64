"""The cadence settings services: cadence_save, cadence_step_save, cadence_step_remove; a
cadence saved here is the one a deal entering its stage gets."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.pipelines.models import Pipeline, Stage
from conveyor.pipelines.tests.support import open_deal, stages_of
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import TaskFactory
from conveyor.touches.models import Cadence, CadenceStep, Channel, Task, TouchKind
from conveyor.touches.services import cadence_save, cadence_step_remove, cadence_step_save

pytestmark = pytest.mark.django_db


def _cadence(by: User | None, stages: list[Stage], **overrides: Any) -> Cadence:
    fields: dict[str, Any] = {
        "cadence_id": None,
        "name": "Warm up",
        "description": "",
        "stages": stages,
        "warming_per_closing": 5,
        "is_default": False,
        **overrides,
    }
    return cadence_save(by=by, **fields)


def _step(by: User | None, cadence: Cadence, **overrides: Any) -> CadenceStep:
    fields: dict[str, Any] = {
        "cadence_id": cadence.pk,
        "step_id": None,
        "position": None,
        "day_offset": 0,
        "kind": TouchKind.WARMING,
        "channel": Channel.CALL,
        "script": "",
        **overrides,
    }
    return cadence_step_save(by=by, **fields)


def test_a_manager_changes_no_cadence(cast: Cast, pipeline: Pipeline) -> None:
    cadence = _cadence(cast.head, [])
    step = _step(cast.head, cadence)
    with pytest.raises(PermissionDenied):
        _cadence(cast.manager, [], name="Mine")
    with pytest.raises(PermissionDenied):
        _step(cast.manager, cadence, step_id=step.pk, day_offset=9)
    with pytest.raises(PermissionDenied):
        cadence_step_remove(by=cast.manager, step_id=step.pk)
    step.refresh_from_db()
    assert step.day_offset == 0
    assert not Cadence.objects.filter(name="Mine").exists()


def test_a_cadence_saved_in_settings_plans_its_steps_for_a_deal_entering_the_stage(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    first = stages_of(pipeline)[0]
    cadence = _cadence(cast.head, [first])
    _step(cast.head, cadence, day_offset=0)
    _step(cast.head, cadence, day_offset=2, kind=TouchKind.CLOSING)
    assert list(cadence.steps.values_list("position", flat=True)) == [1, 2]
    deal = open_deal(person, pipeline, owner=cast.manager)
    assert Task.objects.filter(deal=deal, cadence_step__cadence=cadence).count() == 2
    [entry] = log_of(cadence)
    assert entry.changes["stages"] == [[], [first.pk]]


def test_making_a_cadence_the_default_takes_it_from_the_previous_one(cast: Cast) -> None:
    old = _cadence(cast.head, [], name="Old", is_default=True)
    new = _cadence(cast.head, [], name="New", is_default=True)
    old.refresh_from_db()
    assert (old.is_default, new.is_default) == (False, True)
    assert actions_of(old) == [AuditAction.CREATE, AuditAction.UPDATE]


def test_an_archived_stage_gets_no_new_cadence(cast: Cast, pipeline: Pipeline) -> None:
    stage = stages_of(pipeline)[-1]
    Stage.objects.filter(pk=stage.pk).update(is_archived=True)
    stage.refresh_from_db()
    with pytest.raises(ServiceError) as refused:
        _cadence(cast.head, [stage])
    assert refused.value.field == "stages"
    assert not Cadence.objects.exists()


def test_a_rhythm_out_of_bounds_is_refused(cast: Cast) -> None:
    for ratio in (0, 21):
        with pytest.raises(ServiceError) as refused:
            _cadence(cast.head, [], warming_per_closing=ratio)
        assert refused.value.field == "warming_per_closing"


def test_step_numbers_are_unique_and_days_bounded(cast: Cast) -> None:
    cadence = _cadence(cast.head, [])
    step = _step(cast.head, cadence)
    with pytest.raises(ServiceError) as refused:
        _step(cast.head, cadence, position=1)
    assert refused.value.field == "position"
    with pytest.raises(ServiceError) as refused:
        _step(cast.head, cadence, step_id=step.pk, day_offset=400)
    assert refused.value.field == "day_offset"
    with pytest.raises(ServiceError) as refused:
        _step(cast.head, cadence, kind="shouting")
    assert refused.value.field == "kind"
    assert list(cadence.steps.all()) == [step]


def test_a_step_of_another_cadence_is_not_changed_through_this_one(cast: Cast) -> None:
    one = _cadence(cast.head, [], name="One")
    other = _cadence(cast.head, [], name="Other")
    step = _step(cast.head, other)
    with pytest.raises(ServiceError):
        _step(cast.head, one, step_id=step.pk, day_offset=3)
    step.refresh_from_db()
    assert step.day_offset == 0


def test_only_a_step_nothing_was_planned_from_is_removed(cast: Cast) -> None:
    cadence = _cadence(cast.head, [])
    used, unused = _step(cast.head, cadence), _step(cast.head, cadence, day_offset=1)
    TaskFactory(cadence_step=used)
    with pytest.raises(ServiceError):
        cadence_step_remove(by=cast.head, step_id=used.pk)
    cadence_step_remove(by=cast.head, step_id=unused.pk)
    assert list(cadence.steps.all()) == [used]
    assert actions_of(unused) == [AuditAction.CREATE, AuditAction.DELETE]
