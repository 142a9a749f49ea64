"""Settings → loss reasons, qualifying questions and routing rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.core.models import AuditAction
from conveyor.intake.models import (
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.pipelines.models import LossReason, Pipeline
from conveyor.testing.audit import log_of
from conveyor.testing.factories import LossReasonFactory, SegmentFactory, pipeline_with_stages

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
def question(pipeline: Pipeline) -> QualificationQuestion:
    return QualificationQuestion.objects.create(
        segment=pipeline.segment,
        position=1,
        text="When do you start?",
        kind=QuestionKind.CHOICE,
        options=["This week", "Later"],
        scoring={"This week": 10},
    )


@pytest.fixture
def rule(cast: Cast, pipeline: Pipeline) -> RoutingRule:
    return RoutingRule.objects.create(
        name="Team A gets everything",
        pipeline=pipeline,
        owner_strategy=OwnerStrategy.ROUND_ROBIN,
        team=cast.head.team,
    )


def _routing_post(cast: Cast, pipeline: Pipeline, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Hot leads to Maria",
        "position": "1",
        "is_active": "on",
        "pipeline": pipeline.pk,
        "owner_strategy": OwnerStrategy.FIXED,
        "fixed_owner": cast.manager.pk,
        "min_score": "20",
        **overrides,
    }


def test_a_manager_is_refused_every_page_and_nothing_changes(
    cast: Cast, pipeline: Pipeline, question: QualificationQuestion, rule: RoutingRule
) -> None:
    reason = LossReasonFactory(name="Too expensive")
    urls = [
        reverse("web:settings-loss-reasons"),
        reverse("web:settings-loss-reason-new"),
        reverse("web:settings-loss-reason", kwargs={"pk": reason.pk}),
        reverse("web:settings-questions"),
        reverse("web:settings-question-new"),
        reverse("web:settings-question", kwargs={"pk": question.pk}),
        reverse("web:settings-routing"),
        reverse("web:settings-routing-rule-new"),
        reverse("web:settings-routing-rule", kwargs={"pk": rule.pk}),
    ]
    client = _client(cast.manager)
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "Hijacked", "text": "Hijacked"}).status_code == 403, url
    for user in (cast.owner, cast.head):
        for url in urls:
            assert _client(user).get(url).status_code == 200, url
    assert not LossReason.objects.filter(name="Hijacked").exists()
    assert not QualificationQuestion.objects.filter(text="Hijacked").exists()
    assert not RoutingRule.objects.filter(name="Hijacked").exists()


def test_head_creates_a_loss_reason_limited_to_stages_and_it_is_audited(
    cast: Cast, pipeline: Pipeline
) -> None:
    stages = list(pipeline.stages.order_by("position")[:2])
    response = _client(cast.head).post(
        reverse("web:settings-loss-reason-new"),
        {
            "name": "No budget",
            "pipeline": pipeline.pk,
            "stages": [stage.pk for stage in stages],
            "is_active": "on",
        },
    )
    assert response.headers["Location"] == reverse("web:settings-loss-reasons")
    reason = LossReason.objects.get(name="No budget")
    assert set(reason.stages.all()) == set(stages)
    [entry] = log_of(reason)
    assert entry.action == AuditAction.CREATE
    assert entry.changes["stages"] == [[], sorted(stage.pk for stage in stages)]


def test_a_stage_of_another_pipeline_is_shown_on_the_field_and_nothing_saved(
    cast: Cast, pipeline: Pipeline
) -> None:
    reason = LossReasonFactory(name="No budget", pipeline=pipeline)
    other = pipeline_with_stages()
    response = _client(cast.head).post(
        reverse("web:settings-loss-reason", kwargs={"pk": reason.pk}),
        {
            "name": "No money",
            "pipeline": pipeline.pk,
            "stages": [other.stages.get(position=1).pk],
            "is_active": "on",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["stages"] == [
        "Choose stages of the reason's own pipeline only."
    ]
    reason.refresh_from_db()
    assert (reason.name, list(reason.stages.all())) == ("No budget", [])
    assert log_of(reason) == []


def test_switching_a_reason_off_keeps_it_in_the_list(cast: Cast) -> None:
    reason = LossReasonFactory(name="Went silent")
    response = _client(cast.owner).post(
        reverse("web:settings-loss-reason", kwargs={"pk": reason.pk}), {"name": "Went silent"}
    )
    assert response.status_code == 302
    reason.refresh_from_db()
    assert reason.is_active is False
    page = _client(cast.owner).get(reverse("web:settings-loss-reasons")).content.decode()
    assert "Went silent" in page


def test_head_writes_a_choice_question_with_points(cast: Cast, pipeline: Pipeline) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-question-new"),
        {
            "segment": pipeline.segment_id,
            "text": "How big is the team?",
            "kind": QuestionKind.CHOICE,
            "scoring": "1-5 people = 2\n6-50 people = 8\nJust me",
            "is_required": "on",
        },
    )
    assert response.status_code == 302
    question = QualificationQuestion.objects.get(text="How big is the team?")
    assert question.position == 1
    assert question.options == ["1-5 people", "6-50 people", "Just me"]
    assert question.scoring == {"1-5 people": 2, "6-50 people": 8}
    page = _client(cast.head).get(reverse("web:settings-question", kwargs={"pk": question.pk}))
    assert page.context["form"]["scoring"].value() == "1-5 people = 2\n6-50 people = 8\nJust me"


def test_number_bands_are_read_from_the_box(cast: Cast, pipeline: Pipeline) -> None:
    _client(cast.head).post(
        reverse("web:settings-question-new"),
        {
            "segment": pipeline.segment_id,
            "text": "Budget?",
            "kind": QuestionKind.NUMBER,
            "scoring": "0..999 = 0\n1000..4999,5 = 5",
            "position": "4",
        },
    )
    question = QualificationQuestion.objects.get(text="Budget?")
    assert (question.position, question.scoring) == (4, [[0, 999, 0], [1000, 4999.5, 5]])


def test_a_band_upside_down_is_shown_on_the_field_and_nothing_saved(
    cast: Cast, question: QualificationQuestion
) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-question", kwargs={"pk": question.pk}),
        {"text": "Budget?", "kind": QuestionKind.NUMBER, "scoring": "100..10 = 5"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["scoring"] == [
        "A band's minimum is above its maximum: 100..10"
    ]
    question.refresh_from_db()
    assert (question.text, question.kind) == ("When do you start?", QuestionKind.CHOICE)


def test_a_question_stays_in_its_segment(cast: Cast, question: QualificationQuestion) -> None:
    segment_id = question.segment_id
    other = SegmentFactory()
    response = _client(cast.head).post(
        reverse("web:settings-question", kwargs={"pk": question.pk}),
        {
            "segment": other.pk,
            "text": "When?",
            "kind": QuestionKind.CHOICE,
            "scoring": "Now = 5",
        },
    )
    assert response.status_code == 302  # the disabled field keeps the question's segment
    question.refresh_from_db()
    assert (question.segment_id, question.text) == (segment_id, "When?")


def test_head_routes_hot_leads_to_a_manager_of_their_team(cast: Cast, pipeline: Pipeline) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-routing-rule-new"), _routing_post(cast, pipeline)
    )
    assert response.headers["Location"] == reverse("web:settings-routing")
    rule = RoutingRule.objects.get(name="Hot leads to Maria")
    assert (rule.fixed_owner, rule.team, rule.min_score) == (cast.manager, None, 20)
    assert log_of(rule)[0].actor_id == cast.head.pk


def test_head_may_not_route_to_another_heads_manager(cast: Cast, pipeline: Pipeline) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-routing-rule-new"),
        _routing_post(cast, pipeline, fixed_owner=cast.outsider.pk),
    )
    assert response.status_code == 400
    assert "fixed_owner" in response.context["form"].errors
    assert not RoutingRule.objects.exists()


def test_a_question_without_its_answer_is_refused_on_the_answer(
    cast: Cast, pipeline: Pipeline, question: QualificationQuestion, rule: RoutingRule
) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-routing-rule", kwargs={"pk": rule.pk}),
        _routing_post(cast, pipeline, question=question.pk, answer=""),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["answer"] == ["Give the answer the question must get."]
    rule.refresh_from_db()
    assert (rule.name, rule.question_id) == ("Team A gets everything", None)


def test_the_lists_run_the_same_queries_for_one_or_many(
    cast: Cast, pipeline: Pipeline, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.head)
    LossReasonFactory(pipeline=pipeline).stages.add(pipeline.stages.get(position=1))
    QualificationQuestion.objects.create(
        segment=pipeline.segment, position=1, text="Q", kind=QuestionKind.TEXT
    )
    RoutingRule.objects.create(
        name="R", pipeline=pipeline, owner_strategy=OwnerStrategy.FIXED, fixed_owner=cast.manager
    )
    urls = [
        reverse("web:settings-loss-reasons"),
        reverse("web:settings-questions"),
        reverse("web:settings-routing"),
    ]
    few = {}
    for url in urls:
        with django_assert_max_num_queries(10) as counted:
            client.get(url)
        few[url] = len(counted)
    for n in range(2, 8):
        other = pipeline_with_stages()
        reason = LossReasonFactory(pipeline=other)
        reason.stages.add(*other.stages.all())
        LossReasonFactory()
        QualificationQuestion.objects.create(
            segment=other.segment, position=n, text=f"Q{n}", kind=QuestionKind.YES_NO
        )
        RoutingRule.objects.create(
            name=f"R{n}",
            pipeline=other,
            segment=other.segment,
            owner_strategy=OwnerStrategy.ROUND_ROBIN,
            team=cast.head.team,
            question=QualificationQuestion.objects.get(text=f"Q{n}"),
            answer="yes",
        )
    for url in urls:
        assert _queries(client, url) == few[url], url
