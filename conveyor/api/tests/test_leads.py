from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.intake.models import (
    Lead,
    LeadChannel,
    LeadStatus,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.services import lead_accept, lead_receive
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db

LEAD = {"name": "Ivan Petrov", "phone": "+359 88 812 3456"}


@pytest.fixture
def api(cast: Cast, api_for: ApiFor) -> Api:
    return api_for(cast.manager)


def test_lead_is_recorded_in_the_inbox_with_source_and_utm(api: Api) -> None:
    response = api.post(
        "/api/v1/leads",
        {
            **LEAD,
            "email": "IVAN@Example.com",
            "source": "site",
            "company": "Acme",
            "note": "Call after 5",
            "utm": {"utm_source": "google", "utm_campaign": "spring"},
        },
    )
    assert response.status_code == 201
    body = response.json()
    lead = Lead.objects.get(pk=body["id"])
    assert lead.channel == LeadChannel.API and lead.status == LeadStatus.INBOX
    assert (lead.phone, lead.email, lead.source) == ("+359888123456", "ivan@example.com", "site")
    assert lead.utm == {"utm_source": "google", "utm_campaign": "spring"}
    assert lead.payload["company"] == "Acme" and lead.payload["note"] == "Call after 5"
    assert body["phone"] == "+359888123456" and body["status"] == "inbox"


def test_lead_matching_a_person_is_linked_not_duplicated(api: Api) -> None:
    person = PersonFactory(phone="+359888123456")
    body = api.post("/api/v1/leads", LEAD).json()
    assert body["person_id"] == person.pk


def test_routing_rule_accepts_into_the_funnel_with_an_owner(
    cast: Cast, api: Api, pipeline: Pipeline
) -> None:
    RoutingRule.objects.create(
        name="API leads",
        source="api",
        pipeline=pipeline,
        team=cast.manager.team,
        auto_accept=True,
    )
    body = api.post("/api/v1/leads", {**LEAD, "segment_id": pipeline.segment_id}).json()
    assert body["status"] == "accepted"
    deal = Deal.objects.get(pk=body["deal_id"])
    assert deal.pipeline == pipeline and deal.owner == cast.manager


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "+359888123456"}, "name"),
        ({"name": "No contact"}, "phone"),
        ({**LEAD, "email": "not-an-email"}, "email"),
        ({**LEAD, "segment_id": 999999}, "segment_id"),
        ({**LEAD, "received_at": "2026-01-01T10:00:00"}, "received_at"),
        ({**LEAD, "utm": "google"}, "utm"),
    ],
)
def test_bad_fields_get_a_clear_error_and_nothing_is_written(
    api: Api, body: dict[str, object], field: str
) -> None:
    response = api.post("/api/v1/leads", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert not Lead.objects.exists()


def test_invalid_answers_are_refused_per_question(api: Api, pipeline: Pipeline) -> None:
    question = QualificationQuestion.objects.create(
        segment=pipeline.segment,
        position=1,
        text="Seats?",
        kind=QuestionKind.NUMBER,
        scoring=[[1, 10, 5]],
        is_required=True,
    )
    response = api.post(
        "/api/v1/leads",
        {**LEAD, "segment_id": pipeline.segment_id, "answers": {str(question.pk): "many"}},
    )
    assert response.status_code == 422
    assert f"answers.{question.pk}" in response.json()["error"]["fields"]
    assert not Lead.objects.exists()


def test_answers_give_score_and_temperature(api: Api, pipeline: Pipeline) -> None:
    question = QualificationQuestion.objects.create(
        segment=pipeline.segment,
        position=1,
        text="Seats?",
        kind=QuestionKind.NUMBER,
        scoring=[[1, 10, 50]],
    )
    body = api.post(
        "/api/v1/leads",
        {**LEAD, "segment_id": pipeline.segment_id, "answers": {str(question.pk): 5}},
    ).json()
    assert body["score"] == 50 and body["temperature"] == "hot"


def _accepted_lead(cast: Cast, pipeline: Pipeline, owner: User, name: str) -> Lead:
    lead = lead_receive(channel=LeadChannel.MANUAL, name=name, phone=f"+3598880004{len(name):02}")
    lead_accept(lead_id=lead.pk, by=cast.owner, pipeline=pipeline, owner=owner)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.ACCEPTED
    return lead


def test_list_shows_the_inbox_and_own_leads_only(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    mine = _accepted_lead(cast, pipeline, cast.manager, "Mine")
    theirs = _accepted_lead(cast, pipeline, cast.outsider, "Theirs!")
    waiting = lead_receive(channel=LeadChannel.MANUAL, name="Waiting", phone="+359888000999")
    ids = {row["id"] for row in api_for(cast.manager).get("/api/v1/leads").json()["items"]}
    assert ids == {mine.pk, waiting.pk}
    ids = {row["id"] for row in api_for(cast.head).get("/api/v1/leads").json()["items"]}
    assert ids == {mine.pk, waiting.pk}
    ids = {row["id"] for row in api_for(cast.owner).get("/api/v1/leads").json()["items"]}
    assert ids == {mine.pk, waiting.pk, theirs.pk}
    assert api_for(cast.manager).get(f"/api/v1/leads/{theirs.pk}").status_code == 404
    assert api_for(cast.outsider).get(f"/api/v1/leads/{theirs.pk}").status_code == 200


def test_list_filters_by_status_and_channel(cast: Cast, api: Api) -> None:
    lead_receive(channel=LeadChannel.MANUAL, name="Manual", phone="+359888000001")
    api.post("/api/v1/leads", LEAD)
    rows = api.get("/api/v1/leads", {"channel": "api", "status": "inbox"}).json()["items"]
    assert [row["name"] for row in rows] == ["Ivan Petrov"]
    assert api.get("/api/v1/leads", {"status": "nonsense"}).status_code == 422


def test_cursor_pages_through_everything_once(cast: Cast, api: Api) -> None:
    for number in range(7):
        lead_receive(channel=LeadChannel.MANUAL, name=f"L{number}", phone=f"+35988800010{number}")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3, "ordering": "received_at"}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/api/v1/leads", params).json()
        seen += [row["id"] for row in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert sorted(seen) == sorted(Lead.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 501},
        {"limit": 0},
        {"ordering": "name"},
        {"cursor": "forged"},
    ],
)
def test_bad_list_parameters_are_refused(api: Api, params: dict[str, object]) -> None:
    response = api.get("/api/v1/leads", params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


def test_cursor_of_another_ordering_is_refused(cast: Cast, api: Api) -> None:
    for number in range(3):
        lead_receive(channel=LeadChannel.MANUAL, name=f"L{number}", phone=f"+35988800020{number}")
    cursor = api.get("/api/v1/leads", {"limit": 1}).json()["next_cursor"]
    assert api.get("/api/v1/leads", {"cursor": cursor, "ordering": "id"}).status_code == 422


def test_list_runs_a_fixed_number_of_queries(cast: Cast, api: Api) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/leads").status_code == 200
        return len(queries)

    lead_receive(channel=LeadChannel.MANUAL, name="One", phone="+359888000300")
    count()  # the first call also opens the token's rate window and stamps its last use
    few = count()
    for number in range(10):
        lead_receive(channel=LeadChannel.MANUAL, name=f"N{number}", phone=f"+35988800031{number}")
    assert count() == few


def test_a_filter_time_with_an_offset_postgresql_refuses_is_read_as_the_same_moment(
    api: Api,
) -> None:
    # Found by schemathesis: -21:11 is valid ISO 8601 but outside PostgreSQL's offsets.
    response = api.get("/api/v1/leads", {"received_after": "1326-01-08T06:41:21.5-21:11"})
    assert response.status_code == 200


def test_a_filter_time_that_leaves_the_calendar_in_utc_is_a_clear_error(api: Api) -> None:
    response = api.get("/api/v1/leads", {"received_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 422
