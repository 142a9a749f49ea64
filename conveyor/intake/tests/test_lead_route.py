from __future__ import annotations

from typing import Any

import pytest
from pytest_django import Settings

from conftest import Cast
from conveyor.core.errors import ServiceError
from conveyor.intake import services
from conveyor.intake.models import (
    Lead,
    LeadChannel,
    LeadStatus,
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.services import (
    QualificationError,
    form_create,
    form_submit,
    lead_accept,
    lead_qualify,
    lead_receive,
    lead_route,
)
from conveyor.people.models import Temperature
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.factories import DealFactory, PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thresholds(settings: Settings) -> None:
    settings.CONVEYOR_WARM_SCORE = 10
    settings.CONVEYOR_HOT_SCORE = 20
    settings.REDIS_URL = ""


@pytest.fixture
def questions(pipeline: Pipeline) -> list[QualificationQuestion]:
    segment = pipeline.segment
    return [
        QualificationQuestion.objects.create(
            segment=segment,
            position=1,
            text="How many people will use it?",
            kind=QuestionKind.NUMBER,
            scoring=[[1, 2, 0], [3, 20, 10], [21, 1000, 5]],
            is_required=True,
        ),
        QualificationQuestion.objects.create(
            segment=segment,
            position=2,
            text="When do you want to start?",
            kind=QuestionKind.CHOICE,
            options=["This week", "Later"],
            scoring={"This week": 10, "Later": 0},
        ),
    ]


def _rule(cast: Cast, pipeline: Pipeline, **kwargs: Any) -> RoutingRule:
    data: dict[str, Any] = {"name": "Rule", "pipeline": pipeline, "team": cast.manager.team}
    data.update(kwargs)
    return RoutingRule.objects.create(**data)


def _lead(pipeline: Pipeline, **kwargs: Any) -> Lead:
    data: dict[str, Any] = {
        "channel": LeadChannel.API,
        "name": "Ivan Petrov",
        "phone": "+359888123456",
        "segment": pipeline.segment,
    }
    data.update(kwargs)
    return lead_receive(**data)


def test_no_rule_leaves_the_lead_in_the_inbox_unrouted(cast: Cast, pipeline: Pipeline) -> None:
    _rule(cast, pipeline, source="google")
    lead = _lead(pipeline, source="facebook")
    assert lead.status == LeadStatus.INBOX
    assert lead.routed_owner is None and lead.routed_pipeline is None
    assert lead.routing_note == "No routing rule matches."


def test_rule_matches_by_source(cast: Cast, pipeline: Pipeline) -> None:
    _rule(cast, pipeline, source="Google")
    lead = _lead(pipeline, source="google")
    assert lead.status == LeadStatus.INBOX
    assert lead.routed_owner == cast.manager
    assert lead.routed_pipeline == pipeline
    assert lead.routing_note == "Routed by rule “Rule”."


def test_rule_matches_by_form(cast: Cast, pipeline: Pipeline) -> None:
    form = form_create(name="Contact", by=cast.owner, pipeline=pipeline)
    other = form_create(name="Other", by=cast.owner, pipeline=pipeline)
    _rule(cast, pipeline, form=other, name="Other form")
    _rule(cast, pipeline, form=form, name="Contact form", position=2)
    lead = _lead(pipeline, form=form)
    assert lead.routing_note == "Routed by rule “Contact form”."


def test_rule_matches_by_score_and_answer(
    cast: Cast, pipeline: Pipeline, questions: list[QualificationQuestion]
) -> None:
    number, when = questions
    _rule(cast, pipeline, name="Hot", min_score=20)
    _rule(cast, pipeline, name="Starts now", position=2, question=when, answer="this week")
    hot = _lead(pipeline, answers={str(number.pk): "5", str(when.pk): "This week"})
    assert (hot.score, hot.temperature) == (20, Temperature.HOT)
    assert hot.routing_note == "Routed by rule “Hot”."
    soon = _lead(
        pipeline, phone="+359888000001", answers={str(number.pk): 1, str(when.pk): "This week"}
    )
    assert (soon.score, soon.temperature) == (10, Temperature.WARM)
    assert soon.routing_note == "Routed by rule “Starts now”."
    later = _lead(
        pipeline, phone="+359888000002", answers={str(number.pk): 1, str(when.pk): "Later"}
    )
    assert later.temperature == Temperature.COLD
    assert later.routing_note == "No routing rule matches."


def test_first_active_matching_rule_by_position_wins(cast: Cast, pipeline: Pipeline) -> None:
    _rule(cast, pipeline, name="Switched off", position=1, is_active=False)
    _rule(cast, pipeline, name="Second", position=3)
    _rule(
        cast,
        pipeline,
        name="First",
        position=2,
        owner_strategy=OwnerStrategy.FIXED,
        fixed_owner=cast.outsider,
        team=None,
    )
    lead = _lead(pipeline)
    assert lead.routing_note == "Routed by rule “First”."
    assert lead.routed_owner == cast.outsider


def test_a_segment_rule_applies_to_its_segment_only(cast: Cast, pipeline: Pipeline) -> None:
    other = pipeline_with_stages(name="Other funnel")
    _rule(cast, other, segment=other.segment)
    assert _lead(pipeline).routing_note == "No routing rule matches."
    assert _lead(other, phone="+359888000003").routed_pipeline == other


def test_everyone_full_stays_in_the_inbox_with_the_reason(cast: Cast, pipeline: Pipeline) -> None:
    cast.manager.capacity = 1
    cast.manager.save()
    DealFactory(owner=cast.manager, pipeline=pipeline)
    _rule(cast, pipeline, auto_accept=True)
    lead = _lead(pipeline)
    assert lead.status == LeadStatus.INBOX
    assert lead.routed_owner is None
    assert lead.routed_pipeline == pipeline
    assert lead.routing_note == "Rule “Rule”: everyone it may assign is at capacity."


def test_auto_accept_opens_the_deal_with_the_picked_owner(cast: Cast, pipeline: Pipeline) -> None:
    _rule(cast, pipeline, auto_accept=True)
    lead = _lead(pipeline)
    assert lead.status == LeadStatus.ACCEPTED
    assert lead.deal is not None
    assert lead.deal.owner == cast.manager
    assert lead.deal.pipeline == pipeline
    assert lead.deal.stage == pipeline.stages.get(position=1)
    assert lead.routing_note == "Accepted by rule “Rule”."


def test_routed_lead_waits_and_accepting_uses_the_proposal(cast: Cast, pipeline: Pipeline) -> None:
    target = pipeline_with_stages(segment=pipeline.segment, name="ZZZ routed")
    _rule(cast, target)
    lead = _lead(pipeline)
    assert lead.status == LeadStatus.INBOX and Deal.objects.count() == 0
    deal = lead_accept(lead_id=lead.pk, by=cast.head)
    assert deal.owner == cast.manager
    assert deal.pipeline == target


def test_accepting_with_an_explicit_choice_overrides_routing(
    cast: Cast, pipeline: Pipeline
) -> None:
    target = pipeline_with_stages(segment=pipeline.segment, name="ZZZ routed")
    _rule(cast, target)
    lead = _lead(pipeline)
    deal = lead_accept(lead_id=lead.pk, by=cast.head, pipeline=pipeline, owner=cast.head)
    assert (deal.owner, deal.pipeline) == (cast.head, pipeline)


def test_a_routing_error_never_loses_the_lead(
    cast: Cast, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.is_active = False
    pipeline.save()
    _rule(cast, pipeline, auto_accept=True)
    lead = _lead(pipeline)
    assert lead.status == LeadStatus.INBOX
    assert "not an active conversion pipeline" in lead.routing_note

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "lead_route", broken)
    lead = _lead(pipeline, phone="+359888000004")
    assert Lead.objects.filter(pk=lead.pk, status=LeadStatus.INBOX).exists()
    assert lead.routing_note == "Not routed: routing failed, see the server log."


def test_a_failed_auto_accept_rolls_back_only_the_routing(
    cast: Cast, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rule(cast, pipeline, auto_accept=True)

    def refuse(**kwargs: Any) -> None:
        raise ServiceError("This pipeline is closed for new deals.")

    monkeypatch.setattr(services, "deal_open", refuse)
    lead = _lead(pipeline)
    assert lead.status == LeadStatus.INBOX
    assert lead.routed_owner is None
    assert lead.routing_note == "Not routed: This pipeline is closed for new deals."
    assert Deal.objects.count() == 0


def test_suspected_spam_is_not_routed(cast: Cast, pipeline: Pipeline) -> None:
    _rule(cast, pipeline, auto_accept=True)
    lead = _lead(pipeline, is_suspected_spam=True)
    assert lead.status == LeadStatus.INBOX and lead.routed_owner is None
    assert lead.routing_note == "Suspected spam: not routed."


def test_route_refuses_a_lead_out_of_the_inbox(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    lead_accept(lead_id=lead.pk, by=cast.manager)
    with pytest.raises(ServiceError):
        lead_route(lead_id=lead.pk)


def test_qualify_stores_answers_and_warms_the_person(
    cast: Cast, pipeline: Pipeline, questions: list[QualificationQuestion]
) -> None:
    person = PersonFactory(phone="+359888123456", temperature=Temperature.WARM)
    lead = _lead(pipeline)
    number, when = questions
    lead = lead_qualify(lead_id=lead.pk, answers={str(number.pk): "4"}, by=cast.manager)
    assert lead.payload["answers"] == {str(number.pk): 4}
    assert (lead.score, lead.temperature) == (10, Temperature.WARM)
    lead = lead_qualify(
        lead_id=lead.pk, answers={str(number.pk): "4", str(when.pk): "This week"}, by=None
    )
    person.refresh_from_db()
    assert person.temperature == Temperature.HOT
    # A lower score later does not cool a person down.
    lead_qualify(lead_id=lead.pk, answers={str(number.pk): "1"}, by=None)
    person.refresh_from_db()
    assert person.temperature == Temperature.HOT


def test_invalid_answers_change_nothing(
    cast: Cast, pipeline: Pipeline, questions: list[QualificationQuestion]
) -> None:
    lead = _lead(pipeline)
    with pytest.raises(QualificationError) as caught:
        lead_qualify(lead_id=lead.pk, answers={str(questions[1].pk): "Never"}, by=None)
    assert set(caught.value.errors) == {str(questions[0].pk), str(questions[1].pk)}
    lead.refresh_from_db()
    assert lead.score == 0 and lead.temperature == "" and "answers" not in lead.payload


def test_form_answers_are_scored_before_routing(
    cast: Cast, pipeline: Pipeline, questions: list[QualificationQuestion]
) -> None:
    form = form_create(name="Contact", by=cast.owner, pipeline=pipeline, min_fill_seconds=0)
    _rule(cast, pipeline, min_score=10, auto_accept=True)
    number = questions[0]
    params: dict[str, Any] = {
        "key": form.key,
        "ip": "10.0.0.1",
        "referrer": "",
        "user_agent": "test",
        "idempotency_key": "",
    }
    bad = form_submit(
        data={"name": "Ivan", "phone": "+359888123456", f"q_{number.pk}": "x"}, **params
    )
    assert not bad.ok and set(bad.errors) == {f"q_{number.pk}"}
    assert Lead.objects.count() == 0
    result = form_submit(
        data={"name": "Ivan", "phone": "+359888123456", f"q_{number.pk}": "12"}, **params
    )
    assert result.lead is not None
    assert result.lead.score == 10
    assert result.lead.status == LeadStatus.ACCEPTED
    # Without any q_ field the form works as before, even with a required question.
    plain = form_submit(data={"name": "Olga", "phone": "+359888000005"}, **params)
    assert plain.lead is not None and plain.lead.temperature == ""
