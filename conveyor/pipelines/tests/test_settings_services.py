"""The settings services of the sales process: segment_save, pipeline_save, stage_save,
stage_reorder (with what deals reached recounted) and loss_reason_save."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from conftest import Cast
from conveyor.analytics.queries import funnel
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline, Process, Stage
from conveyor.pipelines.services import (
    deal_move,
    loss_reason_save,
    pipeline_save,
    segment_save,
    stage_reorder,
    stage_save,
)
from conveyor.pipelines.tests.support import T0, hours, open_deal, stages_of
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import DealFactory, SegmentFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


def _stage(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Paid the invoice",
        "exit_criterion": "The money is in",
        "target_action": "Get the payment",
        "probability": Decimal("0.9"),
        "rot_days": 5,
        "is_key_meeting": False,
        "is_archived": False,
        "script": "",
        "playbook": "",
        **overrides,
    }


def test_a_manager_changes_nothing(cast: Cast, pipeline: Pipeline) -> None:
    stage = stages_of(pipeline)[0]
    with pytest.raises(PermissionDenied):
        segment_save(by=cast.manager, segment_id=None, name="X", description="")
    with pytest.raises(PermissionDenied):
        pipeline_save(
            by=cast.manager,
            pipeline_id=pipeline.pk,
            name="X",
            segment=None,
            process=Process.CONVERSION,
            is_active=False,
        )
    with pytest.raises(PermissionDenied):
        stage_save(by=cast.manager, pipeline_id=pipeline.pk, stage_id=stage.pk, **_stage())
    with pytest.raises(PermissionDenied):
        stage_reorder(
            by=cast.manager,
            pipeline_id=pipeline.pk,
            stage_ids=[s.pk for s in reversed(stages_of(pipeline))],
        )
    with pytest.raises(PermissionDenied):
        loss_reason_save(
            by=cast.manager, reason_id=None, name="X", pipeline=None, stages=[], is_active=True
        )
    pipeline.refresh_from_db()
    assert (pipeline.name, pipeline.is_active) != ("X", False)
    assert stages_of(pipeline)[0] == stage
    assert actions_of(pipeline) == []


def test_segment_save_creates_and_renames_with_audit_entries(cast: Cast) -> None:
    segment = segment_save(by=cast.head, segment_id=None, name=" B2B ", description="Firms")
    segment_save(by=cast.owner, segment_id=segment.pk, name="B2B", description="Companies")
    segment.refresh_from_db()
    assert (segment.name, segment.description) == ("B2B", "Companies")
    create, update = log_of(segment)
    assert (create.action, create.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert update.changes == {"description": ["Firms", "Companies"]}


def test_saving_without_a_change_writes_no_entry(cast: Cast) -> None:
    segment = segment_save(by=cast.head, segment_id=None, name="B2B", description="")
    segment_save(by=cast.head, segment_id=segment.pk, name="B2B", description="")
    assert actions_of(segment) == [AuditAction.CREATE]


def test_a_taken_name_is_refused_on_the_name(cast: Cast) -> None:
    SegmentFactory(name="Retail")
    with pytest.raises(ServiceError) as refused:
        segment_save(by=cast.head, segment_id=None, name="Retail", description="")
    assert refused.value.field == "name"


def test_pipeline_save_refuses_an_unknown_process(cast: Cast) -> None:
    with pytest.raises(ServiceError) as refused:
        pipeline_save(
            by=cast.head,
            pipeline_id=None,
            name="P",
            segment=None,
            process="sideways",
            is_active=True,
        )
    assert refused.value.field == "process"
    assert not Pipeline.objects.filter(name="P").exists()


def test_a_new_stage_goes_after_every_stage_archived_ones_included(
    cast: Cast, pipeline: Pipeline
) -> None:
    last = stages_of(pipeline)[-1]
    Stage.objects.filter(pk=last.pk).update(is_archived=True)
    stage = stage_save(
        by=cast.head,
        pipeline_id=pipeline.pk,
        stage_id=None,
        **_stage(playbook="!Sent the invoice\nCalled"),
    )
    assert stage.position == 5
    assert stage.playbook == [
        {"text": "Sent the invoice", "mandatory": True},
        {"text": "Called", "mandatory": False},
    ]
    assert actions_of(stage) == [AuditAction.CREATE]


def test_a_stage_of_another_pipeline_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    other = pipeline_with_stages()
    with pytest.raises(ServiceError):
        stage_save(
            by=cast.head,
            pipeline_id=other.pk,
            stage_id=stages_of(pipeline)[0].pk,
            **_stage(),
        )


def test_rot_days_of_zero_are_refused(cast: Cast, pipeline: Pipeline) -> None:
    stage = stages_of(pipeline)[0]
    with pytest.raises(ServiceError) as refused:
        stage_save(by=cast.head, pipeline_id=pipeline.pk, stage_id=stage.pk, **_stage(rot_days=0))
    assert refused.value.field == "rot_days"
    stage.refresh_from_db()
    assert stage.name == "Left a request"


def test_a_probability_above_one_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    stage = stages_of(pipeline)[0]
    with pytest.raises(ServiceError) as refused:
        stage_save(
            by=cast.head,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            **_stage(probability=Decimal("1.5")),
        )
    assert refused.value.field == "probability"


def test_a_stage_holding_open_deals_is_not_archived(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    stage = stages_of(pipeline)[0]
    open_deal(person, pipeline, owner=cast.manager)
    with pytest.raises(ServiceError) as refused:
        stage_save(
            by=cast.head,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            **_stage(name=stage.name, is_archived=True),
        )
    assert refused.value.field == "is_archived"
    stage.refresh_from_db()
    assert not stage.is_archived


def test_a_stage_back_from_the_archive_whose_place_is_taken_goes_to_the_end(
    cast: Cast, pipeline: Pipeline
) -> None:
    second = stages_of(pipeline)[1]
    stage_save(
        by=cast.head,
        pipeline_id=pipeline.pk,
        stage_id=second.pk,
        **_stage(name=second.name, is_archived=True),
    )
    stage_reorder(
        by=cast.head, pipeline_id=pipeline.pk, stage_ids=[s.pk for s in stages_of(pipeline)]
    )
    second.refresh_from_db()
    assert second.position == 2  # archived stages keep theirs
    assert [s.position for s in stages_of(pipeline)] == [1, 2, 3]
    back = stage_save(
        by=cast.head, pipeline_id=pipeline.pk, stage_id=second.pk, **_stage(name=second.name)
    )
    assert (back.position, back.is_archived) == (4, False)
    assert [s.name for s in stages_of(pipeline)][-1] == second.name


def test_stage_reorder_renumbers_and_audits_each_stage_moved(
    cast: Cast, pipeline: Pipeline
) -> None:
    a, b, c, d = stages_of(pipeline)
    stage_reorder(by=cast.head, pipeline_id=pipeline.pk, stage_ids=[a.pk, c.pk, b.pk, d.pk])
    assert [s.pk for s in stages_of(pipeline)] == [a.pk, c.pk, b.pk, d.pk]
    assert actions_of(a) == []
    [entry] = log_of(c)
    assert (entry.action, entry.changes) == (AuditAction.UPDATE, {"position": [3, 2]})


def test_stage_reorder_needs_every_open_stage_once(cast: Cast, pipeline: Pipeline) -> None:
    a, b, c, d = stages_of(pipeline)
    for order in ([a.pk, b.pk, c.pk], [a.pk, a.pk, b.pk, c.pk, d.pk], [d.pk, c.pk, b.pk, 999]):
        with pytest.raises(ServiceError) as refused:
            stage_reorder(by=cast.head, pipeline_id=pipeline.pk, stage_ids=order)
        assert refused.value.field == "order"
    assert [s.pk for s in stages_of(pipeline)] == [a.pk, b.pk, c.pk, d.pk]


def test_stage_reorder_recounts_what_deals_reached_so_the_funnel_follows(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    a, b, c, d = stages_of(pipeline)
    went_far = open_deal(person, pipeline, owner=cast.manager)
    deal_move(deal_id=went_far.pk, stage=c, version=went_far.version, by=None, at=hours(1))
    stayed = open_deal(person, pipeline, owner=cast.manager, at=hours(2))
    assert (Deal.objects.get(pk=went_far.pk).max_position, stayed.max_position) == (3, 1)
    # c moves to the front: the deal that was at c reached position 1 only, the one at a now 2.
    stage_reorder(by=cast.head, pipeline_id=pipeline.pk, stage_ids=[c.pk, a.pk, b.pk, d.pk])
    assert Deal.objects.get(pk=went_far.pk).max_position == 2  # it was in a (now 2) and c (1)
    assert Deal.objects.get(pk=stayed.pk).max_position == 2
    report = funnel(
        pipeline=pipeline, date_from=T0.date(), date_to=T0.date() + dt.timedelta(days=1)
    )
    reached = {row["stage"]: row["reached"] for row in report["stages"]}
    assert reached == {c.name: 2, a.name: 2, b.name: 0, d.name: 0}
    [entry] = [e for e in log_of(stayed) if e.action == AuditAction.UPDATE]
    assert entry.changes == {"max_position": [1, 2]}


def test_a_deal_without_history_keeps_its_current_stage_as_reached(
    cast: Cast, pipeline: Pipeline
) -> None:
    a, b, c, d = stages_of(pipeline)
    bare = DealFactory(pipeline=pipeline, stage=b, max_position=2)
    stage_reorder(by=cast.head, pipeline_id=pipeline.pk, stage_ids=[b.pk, a.pk, c.pk, d.pk])
    assert Deal.objects.get(pk=bare.pk).max_position == 1


def test_loss_reason_save_keeps_its_stages_in_its_pipeline(cast: Cast, pipeline: Pipeline) -> None:
    a, b, *_ = stages_of(pipeline)
    reason = loss_reason_save(
        by=cast.head,
        reason_id=None,
        name="Too pricey",
        pipeline=pipeline,
        stages=[a],
        is_active=True,
    )
    loss_reason_save(
        by=cast.head,
        reason_id=reason.pk,
        name="Too pricey",
        pipeline=pipeline,
        stages=[a, b],
        is_active=False,
    )
    reason.refresh_from_db()
    assert (set(reason.stages.all()), reason.is_active) == ({a, b}, False)
    assert log_of(reason)[1].changes == {
        "is_active": [True, False],
        "stages": [[a.pk], sorted([a.pk, b.pk])],
    }
    other = stages_of(pipeline_with_stages())[0]
    with pytest.raises(ServiceError) as refused:
        loss_reason_save(
            by=cast.head,
            reason_id=reason.pk,
            name="Too pricey",
            pipeline=pipeline,
            stages=[other],
            is_active=True,
        )
    assert refused.value.field == "stages"
    assert set(reason.stages.all()) == {a, b}


def test_a_reason_for_every_pipeline_may_name_stages_of_any(cast: Cast, pipeline: Pipeline) -> None:
    other = stages_of(pipeline_with_stages())[0]
    reason = loss_reason_save(
        by=None,
        reason_id=None,
        name="No answer",
        pipeline=None,
        stages=[stages_of(pipeline)[0], other],
        is_active=True,
    )
    assert reason.stages.count() == 2
