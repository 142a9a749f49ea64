"""The qualification and routing settings services: question_save (options and scoring checked
against the kind, and scored as saved) and routing_rule_save (rules routing can follow)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.intake.models import (
    LeadChannel,
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.qualification import score_answers
from conveyor.intake.services import lead_receive, question_save, routing_rule_save
from conveyor.pipelines.models import Pipeline, Process, Segment
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import PipelineFactory, SegmentFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


def _question(segment: Segment, **overrides: Any) -> dict[str, Any]:
    return {
        "question_id": None,
        "segment": segment,
        "position": None,
        "text": "When do you start?",
        "kind": QuestionKind.CHOICE,
        "options": ["This week", "This month", "Later"],
        "scoring": {"This week": 10, "This month": "5"},
        "is_required": True,
        **overrides,
    }


def _rule(cast: Cast, home: Pipeline, **overrides: Any) -> dict[str, Any]:
    return {
        "rule_id": None,
        "name": "Everything to team A",
        "position": 1,
        "is_active": True,
        "segment": home.segment,
        "form": None,
        "source": "",
        "min_score": None,
        "question": None,
        "answer": "",
        "pipeline": home,
        "owner_strategy": OwnerStrategy.ROUND_ROBIN,
        "team": cast.head.team,
        "fixed_owner": None,
        "auto_accept": False,
        **overrides,
    }


def test_a_manager_saves_no_question_or_rule(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(PermissionDenied):
        question_save(by=cast.manager, **_question(pipeline.segment))
    with pytest.raises(PermissionDenied):
        routing_rule_save(by=cast.manager, **_rule(cast, pipeline))
    assert not QualificationQuestion.objects.exists()
    assert not RoutingRule.objects.exists()


def test_a_saved_question_scores_answers_as_written(cast: Cast, pipeline: Pipeline) -> None:
    question = question_save(by=cast.head, **_question(pipeline.segment))
    assert (question.position, question.scoring) == (1, {"This week": 10, "This month": 5})
    score = score_answers([question], {str(question.pk): "This week"})
    assert score.points == 10
    assert actions_of(question) == [AuditAction.CREATE]
    second = question_save(by=cast.head, **_question(pipeline.segment, text="Budget?"))
    assert second.position == 2


@pytest.mark.parametrize(
    ("kind", "options", "scoring"),
    [
        (QuestionKind.CHOICE, [], {}),
        (QuestionKind.CHOICE, ["A", "A"], {}),
        (QuestionKind.CHOICE, ["A"], {"B": 3}),
        (QuestionKind.CHOICE, ["A"], {"A": "lots"}),
        (QuestionKind.YES_NO, ["yes"], {}),
        (QuestionKind.YES_NO, [], {"maybe": 1}),
        (QuestionKind.NUMBER, [], [[10, 1, 5]]),
        (QuestionKind.NUMBER, [], [["a", 1, 5]]),
        (QuestionKind.NUMBER, [], [[1, 5]]),
        (QuestionKind.TEXT, [], {"long": 2}),
        # More points than a lead's score could ever add up (it is a 32-bit integer).
        (QuestionKind.CHOICE, ["A"], {"A": 100_001}),
        (QuestionKind.NUMBER, [], [[1, 5, -100_001]]),
        (QuestionKind.TEXT, [], {"answered": "2147483647"}),
    ],
)
def test_options_and_scoring_that_do_not_fit_the_kind_are_refused(
    cast: Cast, pipeline: Pipeline, kind: str, options: list[Any], scoring: Any
) -> None:
    with pytest.raises(ServiceError) as refused:
        question_save(
            by=cast.head, **_question(pipeline.segment, kind=kind, options=options, scoring=scoring)
        )
    assert refused.value.field == "scoring"
    assert not QualificationQuestion.objects.exists()


def test_a_question_keeps_its_segment_and_its_number_is_its_own(
    cast: Cast, pipeline: Pipeline
) -> None:
    first = question_save(by=cast.head, **_question(pipeline.segment))
    second = question_save(by=cast.head, **_question(pipeline.segment, text="Budget?"))
    with pytest.raises(ServiceError) as refused:
        question_save(
            by=cast.head, **_question(pipeline.segment, question_id=second.pk, position=1)
        )
    assert refused.value.field == "position"
    with pytest.raises(ServiceError) as refused:
        question_save(by=cast.head, **_question(SegmentFactory(), question_id=first.pk))
    assert refused.value.field == "segment"
    question_save(
        by=cast.owner,
        **_question(
            pipeline.segment,
            question_id=first.pk,
            kind=QuestionKind.NUMBER,
            options=[],
            scoring=[[0, 9.5, 1]],
        ),
    )
    first.refresh_from_db()
    assert (first.kind, first.options, first.scoring) == ("number", [], [[0, 9.5, 1]])
    assert log_of(first)[-1].changes["kind"] == ["choice", "number"]


def test_a_saved_routing_rule_routes_the_next_lead(cast: Cast, pipeline: Pipeline) -> None:
    rule = routing_rule_save(by=cast.head, **_rule(cast, pipeline, source=" site "))
    assert (rule.source, rule.fixed_owner) == ("site", None)
    lead = lead_receive(
        channel=LeadChannel.API,
        name="Ivan",
        phone="+359888123456",
        source="site",
        segment=pipeline.segment,
    )
    lead.refresh_from_db()
    assert (lead.routed_pipeline, lead.routed_owner) == (pipeline, cast.manager)
    assert actions_of(rule) == [AuditAction.CREATE]


def test_rules_route_into_active_conversion_pipelines_of_their_segment(
    cast: Cast, pipeline: Pipeline
) -> None:
    repeat = PipelineFactory(segment=pipeline.segment, process=Process.ACCOUNT_MANAGEMENT)
    closed = PipelineFactory(segment=pipeline.segment, is_active=False)
    elsewhere = pipeline_with_stages()
    for target in (repeat, closed, elsewhere):
        with pytest.raises(ServiceError) as refused:
            routing_rule_save(by=cast.head, **_rule(cast, pipeline, pipeline=target))
        assert refused.value.field == "pipeline"
    assert not RoutingRule.objects.exists()


def test_a_question_and_its_answer_come_together(cast: Cast, pipeline: Pipeline) -> None:
    question = question_save(by=cast.head, **_question(pipeline.segment))
    other = question_save(by=cast.head, **_question(SegmentFactory()))
    for question_, answer, field in (
        (question, "", "answer"),
        (None, "This week", "question"),
        (other, "This week", "question"),
    ):
        with pytest.raises(ServiceError) as refused:
            routing_rule_save(
                by=cast.head, **_rule(cast, pipeline, question=question_, answer=answer)
            )
        assert refused.value.field == field
    rule = routing_rule_save(
        by=cast.head, **_rule(cast, pipeline, question=question, answer=" This week ")
    )
    assert rule.answer == "This week"


def test_owner_strategies_need_their_team_or_manager(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(ServiceError) as refused:
        routing_rule_save(by=cast.owner, **_rule(cast, pipeline, team=None))
    assert refused.value.field == "team"
    with pytest.raises(ServiceError) as refused:
        routing_rule_save(
            by=cast.owner, **_rule(cast, pipeline, owner_strategy=OwnerStrategy.FIXED)
        )
    assert refused.value.field == "fixed_owner"
    rule = routing_rule_save(
        by=cast.owner,
        **_rule(cast, pipeline, owner_strategy=OwnerStrategy.FIXED, fixed_owner=cast.outsider),
    )
    assert (rule.fixed_owner, rule.team) == (cast.outsider, None)


def test_head_routes_only_to_their_teams_and_people(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(PermissionDenied) as refused:
        routing_rule_save(by=cast.head, **_rule(cast, pipeline, team=cast.outsider.team))
    assert refused.value.field == "team"
    with pytest.raises(PermissionDenied) as refused:
        routing_rule_save(
            by=cast.head,
            **_rule(cast, pipeline, owner_strategy=OwnerStrategy.FIXED, fixed_owner=cast.outsider),
        )
    assert refused.value.field == "fixed_owner"
    assert not RoutingRule.objects.exists()
