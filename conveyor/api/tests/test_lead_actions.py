"""POST /api/v1/leads/{id}/accept, /merge and /reject: the web inbox's actions over the API, by
the token's user, through the same services (access, audit), with the API's error shape."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Cast
from conveyor.accounts.models import TokenScope
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.core.audit import record_type
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import lead_accept, lead_receive
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(cast: Cast, api_for: ApiFor) -> Api:
    return api_for(cast.manager)


@pytest.fixture
def lead() -> Lead:
    return lead_receive(channel=LeadChannel.MANUAL, name="Ivan Petrov", phone="+359888123456")


def _state() -> list[Any]:
    return [
        list(Lead.objects.order_by("pk").values_list("pk", "status", "person_id", "deal_id")),
        Deal.objects.count(),
        Person.objects.count(),
        AuditEntry.objects.count(),
    ]


def _lead_audit(lead: Lead) -> list[tuple[str, int | None]]:
    return list(
        AuditEntry.objects.filter(record_type=record_type(Lead), record_id=lead.pk)
        .order_by("pk")
        .values_list("action", "actor_id")
    )


def test_accept_opens_a_deal_owned_by_the_caller_and_answers_lead_and_deal(
    cast: Cast, api: Api, lead: Lead, pipeline: Pipeline
) -> None:
    response = api.post(f"/api/v1/leads/{lead.pk}/accept", {"pipeline_id": pipeline.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    deal = Deal.objects.get(pk=body["deal"]["id"])
    assert (deal.pipeline, deal.owner, deal.stage.position) == (pipeline, cast.manager, 1)
    assert body["deal"]["version"] == deal.version
    assert body["lead"]["status"] == "accepted" and body["lead"]["deal_id"] == deal.pk
    assert deal.person.phone == "+359888123456"
    assert (AuditAction.ACCEPT, cast.manager.pk) in _lead_audit(lead)


def test_accept_gives_the_deal_to_the_owner_named(
    cast: Cast, api_for: ApiFor, lead: Lead, pipeline: Pipeline
) -> None:
    body = (
        api_for(cast.head)
        .post(
            f"/api/v1/leads/{lead.pk}/accept",
            {"pipeline_id": pipeline.pk, "owner_id": cast.manager.pk},
        )
        .json()
    )
    assert Deal.objects.get(pk=body["deal"]["id"]).owner == cast.manager


def test_accept_without_a_pipeline_for_a_lead_without_segment_is_refused(
    api: Api, lead: Lead
) -> None:
    before = _state()
    response = api.post(f"/api/v1/leads/{lead.pk}/accept", {})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "pipeline": ["The lead's segment has no conversion pipeline: choose a pipeline."]
    }
    assert _state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [({"pipeline_id": 999_999}, "pipeline_id"), ({"owner_id": 999_999}, "owner_id")],
)
def test_accept_with_an_unknown_pipeline_or_owner_is_invalid(
    api: Api, lead: Lead, body: dict[str, int], field: str
) -> None:
    response = api.post(f"/api/v1/leads/{lead.pk}/accept", body)
    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == [field]
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.INBOX


def test_accept_for_another_teams_manager_is_forbidden(
    cast: Cast, api_for: ApiFor, lead: Lead, pipeline: Pipeline
) -> None:
    outsider = api_for(cast.outsider)  # token creation is audited: before the snapshot
    before = _state()
    response = outsider.post(
        f"/api/v1/leads/{lead.pk}/accept",
        {"pipeline_id": pipeline.pk, "owner_id": cast.manager.pk},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert _state() == before


def test_merge_records_the_lead_as_a_repeat_request_of_the_person(
    cast: Cast, api: Api, lead: Lead
) -> None:
    person = PersonFactory(owner=cast.manager)
    response = api.post(f"/api/v1/leads/{lead.pk}/merge", {"person_id": person.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["person_id"], body["deal_id"]) == ("merged", person.pk, None)
    assert Deal.objects.count() == 0
    assert (AuditAction.MERGE, cast.manager.pk) in _lead_audit(lead)


def test_merge_into_a_person_the_caller_may_not_see_is_refused(
    cast: Cast, api_for: ApiFor, lead: Lead
) -> None:
    person = PersonFactory(owner=cast.manager)
    outsider = api_for(cast.outsider)
    before = _state()
    response = outsider.post(f"/api/v1/leads/{lead.pk}/merge", {"person_id": person.pk})
    assert response.status_code == 422
    assert "person" in response.json()["error"]["fields"]
    assert _state() == before


def test_merge_needs_a_person(api: Api, lead: Lead) -> None:
    response = api.post(f"/api/v1/leads/{lead.pk}/merge", {})
    assert response.status_code == 422
    assert "person_id" in response.json()["error"]["fields"]


def test_reject_marks_the_lead_as_spam_and_keeps_it(cast: Cast, api: Api, lead: Lead) -> None:
    response = api.post(f"/api/v1/leads/{lead.pk}/reject")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected_spam"
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.REJECTED_SPAM
    assert (AuditAction.REJECT, cast.manager.pk) in _lead_audit(lead)


@pytest.fixture
def handled(cast: Cast, pipeline: Pipeline) -> Lead:
    """A lead already accepted into a deal of the manager (team A)."""
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Done", phone="+359888000999")
    lead_accept(lead_id=lead.pk, by=cast.owner, pipeline=pipeline, owner=cast.manager)
    return Lead.objects.get(pk=lead.pk)


@pytest.mark.parametrize(
    ("action", "body"),
    [("accept", {}), ("merge", {"person_id": 1}), ("reject", {})],
)
def test_another_teams_manager_gets_404_for_a_handled_lead_and_nothing_changes(
    cast: Cast, api_for: ApiFor, handled: Lead, action: str, body: dict[str, int]
) -> None:
    PersonFactory(owner=cast.outsider)
    outsider = api_for(cast.outsider)
    before = _state()
    response = outsider.post(f"/api/v1/leads/{handled.pk}/{action}", body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _state() == before


@pytest.mark.parametrize(
    ("action", "body"),
    [("accept", {}), ("merge", {"person_id": 1}), ("reject", {})],
)
def test_an_already_accepted_lead_is_refused(
    cast: Cast, api: Api, handled: Lead, action: str, body: dict[str, int]
) -> None:
    body = {"person_id": handled.person_id} if action == "merge" else body
    before = _state()
    response = api.post(f"/api/v1/leads/{handled.pk}/{action}", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and "no longer in the inbox" in error["message"]
    assert _state() == before


def test_an_unknown_lead_is_404(api: Api) -> None:
    assert api.post("/api/v1/leads/999999/reject").status_code == 404


@pytest.mark.parametrize("scopes", [(TokenScope.READ,), (TokenScope.INTAKE,)])
@pytest.mark.parametrize("action", ["accept", "merge", "reject"])
def test_tokens_without_the_write_scope_are_refused(
    cast: Cast, api_for: ApiFor, lead: Lead, action: str, scopes: tuple[str, ...]
) -> None:
    narrow = api_for(cast.manager, scopes=scopes)
    before = _state()
    response = narrow.post(
        f"/api/v1/leads/{lead.pk}/{action}", {"person_id": 1} if action == "merge" else {}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert _state() == before


def test_a_retried_accept_with_the_same_key_replays_the_answer_and_opens_one_deal(
    api: Api, lead: Lead, pipeline: Pipeline
) -> None:
    path, body = f"/api/v1/leads/{lead.pk}/accept", {"pipeline_id": pipeline.pk}
    first = api.post(path, body, **{"Idempotency-Key": "accept-1"})
    again = api.post(path, body, **{"Idempotency-Key": "accept-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Deal.objects.count() == 1


def test_a_retried_reject_with_the_same_key_replays_instead_of_refusing(
    api: Api, lead: Lead
) -> None:
    first = api.post(f"/api/v1/leads/{lead.pk}/reject", **{"Idempotency-Key": "spam-1"})
    again = api.post(f"/api/v1/leads/{lead.pk}/reject", **{"Idempotency-Key": "spam-1"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    # Without the key it is a new request; the lead has left the inbox, and a manager no
    # longer sees spam (heads and owners do), so it looks missing.
    assert api.post(f"/api/v1/leads/{lead.pk}/reject").status_code == 404
