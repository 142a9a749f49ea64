"""`/api/v1/questions`, `/routing-rules`, `/lead-forms`: the intake settings over the API, by the
rules of the web's settings screens (owners and heads only; the intake services decide)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.core.models import AuditAction
from conveyor.core.selectors import audit_entries
from conveyor.intake.models import (
    LeadForm,
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.services import (
    form_create,
    form_submit,
    question_save,
    routing_rule_save,
)
from conveyor.pipelines.models import Pipeline, Process
from conveyor.testing.factories import PipelineFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def _question(pipeline: Pipeline, **kwargs: Any) -> QualificationQuestion:
    values: dict[str, Any] = {
        "position": None,
        "text": "Budget approved?",
        "kind": QuestionKind.YES_NO,
        "options": [],
        "scoring": {"yes": 10, "no": 0},
        "is_required": False,
    } | kwargs
    return question_save(by=None, question_id=None, segment=pipeline.segment, **values)


def _rule(cast: Cast, pipeline: Pipeline, **kwargs: Any) -> RoutingRule:
    values: dict[str, Any] = {
        "name": "Site leads",
        "position": 1,
        "is_active": True,
        "segment": None,
        "form": None,
        "source": "site",
        "min_score": None,
        "question": None,
        "answer": "",
        "pipeline": pipeline,
        "owner_strategy": OwnerStrategy.ROUND_ROBIN,
        "team": cast.manager.team,
        "fixed_owner": None,
        "auto_accept": False,
    } | kwargs
    return routing_rule_save(by=None, rule_id=None, **values)


def _fields(response: Any) -> dict[str, list[str]]:
    body = response.json()
    assert body["error"]["code"] in ("invalid", "forbidden"), body
    return dict(body["error"].get("fields", {}))


# --- Qualifying questions -----------------------------------------------------------------------


def test_head_adds_a_choice_question_after_the_segments_last(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    _question(pipeline)
    response = api_for(cast.head).post(
        "/api/v1/questions",
        {
            "segment_id": pipeline.segment_id,
            "text": "  When do you start?  ",
            "kind": "choice",
            "options": ["This week", "This month", "Later"],
            "scoring": {"This week": 10, "This month": 5},
            "is_required": True,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    question = QualificationQuestion.objects.get(pk=body["id"])
    assert (question.position, question.text, question.is_required) == (
        2,
        "When do you start?",
        True,
    )
    assert question.options == ["This week", "This month", "Later"]
    assert question.scoring == {"This week": 10, "This month": 5}
    assert body["posted_as"] == f"q_{question.pk}" and body["segment_id"] == pipeline.segment_id
    entry = audit_entries(question).get()
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_number_question_keeps_its_bands(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    response = api_for(cast.owner).post(
        "/api/v1/questions",
        {
            "segment_id": pipeline.segment_id,
            "text": "Team size?",
            "kind": "number",
            "scoring": [[1, 9, 0], [10, 49.5, 5]],
        },
    )
    assert response.status_code == 201, response.content
    assert QualificationQuestion.objects.get().scoring == [[1, 9, 0], [10, 49.5, 5]]


def test_question_patch_changes_only_the_fields_sent(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    question = _question(pipeline, is_required=True)
    response = api_for(cast.owner).patch(
        f"/api/v1/questions/{question.pk}", {"text": "Budget signed off?"}
    )
    assert response.status_code == 200, response.content
    question.refresh_from_db()
    assert question.text == "Budget signed off?"
    assert (question.kind, question.scoring, question.position, question.is_required) == (
        QuestionKind.YES_NO,
        {"yes": 10, "no": 0},
        1,
        True,
    )
    update = audit_entries(question).first()
    assert update is not None and update.action == AuditAction.UPDATE
    assert set(update.changes) == {"text"}


def test_question_patch_refuses_null_for_a_field_that_cannot_be_empty(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    question = _question(pipeline)
    response = api_for(cast.owner).patch(f"/api/v1/questions/{question.pk}", {"text": None})
    assert response.status_code == 422
    assert "text" in _fields(response)
    question.refresh_from_db()
    assert question.text == "Budget approved?"


def test_scoring_that_does_not_fit_the_kind_is_refused_on_scoring(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    question = _question(pipeline)
    # A yes/no question turned into a choice keeps its yes/no points, which name no option.
    response = api_for(cast.owner).patch(f"/api/v1/questions/{question.pk}", {"kind": "choice"})
    assert response.status_code == 422
    assert set(_fields(response)) == {"scoring"}
    question.refresh_from_db()
    assert question.kind == QuestionKind.YES_NO


def test_a_position_taken_in_the_segment_is_refused_on_position(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    _question(pipeline)
    response = api_for(cast.owner).post(
        "/api/v1/questions",
        {"segment_id": pipeline.segment_id, "position": 1, "text": "Again?", "kind": "text"},
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"position"}
    assert QualificationQuestion.objects.count() == 1


def test_an_unknown_segment_is_refused_on_segment_id(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).post(
        "/api/v1/questions", {"segment_id": 999_999, "text": "Why?", "kind": "text"}
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"segment_id"}


def test_managers_may_neither_read_nor_change_questions(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    question = _question(pipeline)
    api = api_for(cast.manager)
    assert api.get("/api/v1/questions").status_code == 403
    assert api.get(f"/api/v1/questions/{question.pk}").status_code == 403
    response = api.post(
        "/api/v1/questions",
        {"segment_id": pipeline.segment_id, "text": "Mine?", "kind": "text"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    response = api.patch(f"/api/v1/questions/{question.pk}", {"text": "Mine?"})
    assert response.status_code == 403
    question.refresh_from_db()
    assert question.text == "Budget approved?"
    assert QualificationQuestion.objects.count() == 1
    assert audit_entries(question).count() == 1


def test_question_list_filters_by_segment_and_unknown_ids_are_404(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    mine = _question(pipeline)
    other = PipelineFactory()
    _question(other)
    api = api_for(cast.owner)
    assert len(api.get("/api/v1/questions").json()) == 2
    listed = api.get("/api/v1/questions", {"segment_id": pipeline.segment_id}).json()
    assert [item["id"] for item in listed] == [mine.pk]
    missing = api.get("/api/v1/questions/999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.patch("/api/v1/questions/999999", {"text": "X"}).status_code == 404


# --- Routing rules ------------------------------------------------------------------------------


def test_owner_adds_a_rule_giving_leads_to_a_fixed_manager(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    question = _question(pipeline)
    response = api_for(cast.owner).post(
        "/api/v1/routing-rules",
        {
            "name": "Ready to buy",
            "position": 3,
            "segment_id": pipeline.segment_id,
            "question_id": question.pk,
            "answer": "yes",
            "pipeline_id": pipeline.pk,
            "owner_strategy": "fixed",
            "fixed_owner_id": cast.manager.pk,
            "team_id": cast.manager.team_id,
            "auto_accept": True,
        },
    )
    assert response.status_code == 201, response.content
    rule = RoutingRule.objects.get(pk=response.json()["id"])
    assert (rule.fixed_owner_id, rule.question_id, rule.answer, rule.auto_accept) == (
        cast.manager.pk,
        question.pk,
        "yes",
        True,
    )
    # A fixed manager needs no team: the service drops it.
    assert rule.team_id is None and response.json()["team_id"] is None
    assert audit_entries(rule).get().action == AuditAction.CREATE


def test_a_head_routes_only_to_the_teams_they_head(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    assert cast.outsider.team_id is not None
    response = api_for(cast.head).post(
        "/api/v1/routing-rules",
        {"name": "Theirs", "pipeline_id": pipeline.pk, "team_id": cast.outsider.team_id},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not RoutingRule.objects.exists()


def test_an_answer_without_its_question_is_refused_on_question_id(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    response = api_for(cast.owner).post(
        "/api/v1/routing-rules",
        {
            "name": "Half",
            "pipeline_id": pipeline.pk,
            "team_id": cast.manager.team_id,
            "answer": "yes",
        },
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"question_id"}
    assert not RoutingRule.objects.exists()


def test_a_rule_must_route_into_a_conversion_pipeline(cast: Cast, api_for: ApiFor) -> None:
    nurture = PipelineFactory(process=Process.LEAD_GENERATION)
    response = api_for(cast.owner).post(
        "/api/v1/routing-rules",
        {"name": "Wrong", "pipeline_id": nurture.pk, "team_id": cast.manager.team_id},
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"pipeline_id"}


def test_rule_patch_switches_it_off_and_keeps_the_rest(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    rule = _rule(cast, pipeline, min_score=5)
    response = api_for(cast.head).patch(f"/api/v1/routing-rules/{rule.pk}", {"is_active": False})
    assert response.status_code == 200, response.content
    rule.refresh_from_db()
    assert rule.is_active is False
    assert (rule.name, rule.source, rule.min_score, rule.team_id, rule.pipeline_id) == (
        "Site leads",
        "site",
        5,
        cast.manager.team_id,
        pipeline.pk,
    )
    update = audit_entries(rule).first()
    assert update is not None and update.action == AuditAction.UPDATE
    assert set(update.changes) == {"is_active"}


def test_rule_patch_clears_a_condition_sent_as_null(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    rule = _rule(cast, pipeline, min_score=5)
    response = api_for(cast.owner).patch(f"/api/v1/routing-rules/{rule.pk}", {"min_score": None})
    assert response.status_code == 200, response.content
    rule.refresh_from_db()
    assert rule.min_score is None and rule.source == "site"


def test_managers_may_neither_read_nor_change_rules(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    rule = _rule(cast, pipeline)
    api = api_for(cast.manager)
    assert api.get("/api/v1/routing-rules").status_code == 403
    assert api.get(f"/api/v1/routing-rules/{rule.pk}").status_code == 403
    assert api.patch(f"/api/v1/routing-rules/{rule.pk}", {"name": "X"}).status_code == 403
    rule.refresh_from_db()
    assert rule.name == "Site leads"


def test_rules_are_listed_in_routing_order_and_unknown_ids_are_404(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    second = _rule(cast, pipeline, name="Second", position=2, is_active=False)
    first = _rule(cast, pipeline, name="First", position=1)
    api = api_for(cast.owner)
    assert [item["id"] for item in api.get("/api/v1/routing-rules").json()] == [
        first.pk,
        second.pk,
    ]
    assert api.get("/api/v1/routing-rules/999999").status_code == 404


# --- Web forms ----------------------------------------------------------------------------------


def test_head_creates_a_form_and_gets_its_address_and_snippets(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    question = _question(pipeline)
    response = api_for(cast.head).post(
        "/api/v1/lead-forms",
        {
            "name": "Price request",
            "pipeline_id": pipeline.pk,
            "fields": [{"name": "email", "required": True}, {"name": "company"}],
            "thank_you_text": "Thanks!",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    form = LeadForm.objects.get(pk=body["id"])
    assert body["key"] == form.key
    assert body["url"] == f"http://testserver/f/{form.key}"
    assert body["fields"] == [
        {"name": "name", "required": True},
        {"name": "email", "required": True},
        {"name": "company", "required": False},
    ]
    assert body["lead_segment_id"] == pipeline.segment_id and body["lead_count"] == 0
    assert [item["id"] for item in body["questions"]] == [question.pk]
    assert body["url"] in body["iframe_snippet"] and body["iframe_snippet"].startswith("<iframe")
    assert f'name="q_{question.pk}"' in body["html_snippet"]
    assert 'name="email" type="email" required' in body["html_snippet"]
    entry = audit_entries(form).get()
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_form_patch_changes_only_the_fields_sent_and_keeps_the_key(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    form = form_create(
        name="Contact", by=None, pipeline=pipeline, thank_you_text="Thanks", min_fill_seconds=5
    )
    key = form.key
    response = api_for(cast.owner).patch(
        f"/api/v1/lead-forms/{form.pk}",
        {"name": "Call me", "is_active": False},
    )
    assert response.status_code == 200, response.content
    form.refresh_from_db()
    assert (form.name, form.is_active, form.key) == ("Call me", False, key)
    assert (form.pipeline_id, form.thank_you_text, form.min_fill_seconds) == (
        pipeline.pk,
        "Thanks",
        5,
    )
    update = audit_entries(form).first()
    assert update is not None and set(update.changes) == {"name", "is_active"}


def test_a_switched_off_pipeline_is_kept_but_not_newly_chosen(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    form = form_create(name="Contact", by=None, pipeline=pipeline)
    Pipeline.objects.filter(pk=pipeline.pk).update(is_active=False)
    api = api_for(cast.owner)
    kept = api.patch(f"/api/v1/lead-forms/{form.pk}", {"thank_you_text": "Thanks"})
    assert kept.status_code == 200, kept.content
    assert kept.json()["pipeline_id"] == pipeline.pk
    other = form_create(name="Other", by=None)
    refused = api.patch(f"/api/v1/lead-forms/{other.pk}", {"pipeline_id": pipeline.pk})
    assert refused.status_code == 422
    assert set(_fields(refused)) == {"pipeline_id"}
    created = api.post("/api/v1/lead-forms", {"name": "New", "pipeline_id": pipeline.pk})
    assert created.status_code == 422
    other.refresh_from_db()
    assert other.pipeline_id is None


def test_form_refusals_name_the_field_sent(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    api: Api = api_for(cast.owner)
    cases = [
        ({"name": "A", "fields": [{"name": "message"}]}, "fields"),
        ({"name": "A", "redirect_url": "ftp://example.com"}, "redirect_url"),
        (
            {"name": "A", "segment_id": SegmentFactory().pk, "pipeline_id": pipeline.pk},
            "pipeline_id",
        ),
        ({"name": "A", "min_fill_seconds": 601}, "min_fill_seconds"),
        ({"name": "A", "fields": [{"name": "fax"}]}, "fields.0.name"),
    ]
    for body, field in cases:
        response = api.post("/api/v1/lead-forms", body)
        assert response.status_code == 422, (body, response.content)
        assert set(_fields(response)) == {field}, body
    assert not LeadForm.objects.exists()


def test_managers_may_neither_see_nor_change_forms(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    form = form_create(name="Contact", by=None, pipeline=pipeline)
    api = api_for(cast.manager)
    assert api.get("/api/v1/lead-forms").status_code == 403
    assert api.get(f"/api/v1/lead-forms/{form.pk}").status_code == 403
    assert api.post("/api/v1/lead-forms", {"name": "Mine"}).status_code == 403
    response = api.patch(f"/api/v1/lead-forms/{form.pk}", {"is_active": False})
    assert response.status_code == 403
    form.refresh_from_db()
    assert form.is_active is True
    assert LeadForm.objects.count() == 1


def test_form_list_counts_leads_and_unknown_ids_are_404(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    form = form_create(name="Contact", by=None, pipeline=pipeline, min_fill_seconds=0)
    form_submit(
        key=form.key,
        data={"name": "Ivan", "phone": "+359888123456"},
        ip="203.0.113.7",
        referrer="",
        user_agent="test",
        idempotency_key="",
    )
    api = api_for(cast.owner)
    listed = api.get("/api/v1/lead-forms").json()
    assert [(item["id"], item["lead_count"]) for item in listed] == [(form.pk, 1)]
    assert api.get("/api/v1/lead-forms/999999").status_code == 404


def test_a_forms_snippets_are_the_web_pages_own_and_read_its_questions_once(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    _question(pipeline)
    form = form_create(
        name="Quote <b>", by=None, pipeline=pipeline, thank_you_text="Thanks", min_fill_seconds=5
    )
    api = api_for(cast.head)
    with CaptureQueriesContext(connection) as queries:
        body = api.get(f"/api/v1/lead-forms/{form.pk}").json()
    asked = [
        q["sql"] for q in queries.captured_queries if "intake_qualificationquestion" in q["sql"]
    ]
    assert len(asked) == 1
    page = Client()
    page.force_login(cast.head)
    shown = page.get(reverse("web:lead-form", args=[form.pk])).context
    assert (body["iframe_snippet"], body["html_snippet"]) == (
        shown["iframe_snippet"],
        shown["html_snippet"],
    )
    assert "Quote &lt;b&gt;" in body["iframe_snippet"]
