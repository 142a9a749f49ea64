from __future__ import annotations

from decimal import Decimal

import pytest

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.api.tests.conftest import ApiFor
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import LossReasonFactory, PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


def _deal(pipeline: Pipeline, owner: User, amount: str = "100") -> Deal:
    return deal_open(
        person=PersonFactory(owner=owner),
        pipeline=pipeline,
        owner=owner,
        by=None,
        amount=Decimal(amount),
    )


def _stages(pipeline: Pipeline) -> list[int]:
    return list(pipeline.stages.order_by("position").values_list("pk", flat=True))


def test_deal_carries_the_documented_fields(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    body = api_for(cast.manager).get(f"/api/v1/deals/{deal.pk}").json()
    assert {
        "id",
        "person_id",
        "pipeline_id",
        "stage_id",
        "owner_id",
        "status",
        "amount",
        "version",
    } <= set(body)
    assert body["status"] == "open" and body["version"] == 1
    assert Decimal(body["amount"]) == Decimal("100")


def test_list_filters_by_status_and_shows_only_visible_deals(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    mine = _deal(pipeline, cast.manager)
    won = _deal(pipeline, cast.manager)
    api = api_for(cast.manager)
    api.post(f"/api/v1/deals/{won.pk}/win", {"version": won.version})
    _deal(pipeline, cast.outsider)
    rows = api.get("/api/v1/deals", {"status": "open"}).json()["items"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert len(api.get("/api/v1/deals").json()["items"]) == 2
    assert len(api_for(cast.owner).get("/api/v1/deals").json()["items"]) == 3


def test_move_with_the_current_version_moves_and_records_history(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    stage = _stages(pipeline)[2]
    response = api_for(cast.manager).post(
        f"/api/v1/deals/{deal.pk}/move", {"stage_id": stage, "version": 1}
    )
    assert response.status_code == 200
    assert response.json()["stage_id"] == stage and response.json()["version"] == 2
    history = api_for(cast.manager).get(f"/api/v1/deals/{deal.pk}/history").json()
    assert [row["kind"] for row in history] == ["enter", "move"]


def test_stale_version_is_409_and_changes_nothing(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    api = api_for(cast.manager)
    stages = _stages(pipeline)
    api.post(f"/api/v1/deals/{deal.pk}/move", {"stage_id": stages[1], "version": 1})
    stale = api.post(f"/api/v1/deals/{deal.pk}/move", {"stage_id": stages[2], "version": 1})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    deal.refresh_from_db()
    assert deal.stage_id == stages[1] and deal.version == 2
    assert StageChange.objects.filter(deal=deal).count() == 2


def test_move_to_another_pipelines_stage_is_refused(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    foreign = _stages(pipeline_with_stages(["A", "B"]))[1]
    response = api_for(cast.manager).post(
        f"/api/v1/deals/{deal.pk}/move", {"stage_id": foreign, "version": 1}
    )
    assert response.status_code == 422
    assert "stage_id" in response.json()["error"]["fields"]


def test_win_and_lose(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    api = api_for(cast.manager)
    won = _deal(pipeline, cast.manager)
    body = api.post(f"/api/v1/deals/{won.pk}/win", {"version": 1, "amount": "250.50"}).json()
    assert body["status"] == "won" and body["amount"] == "250.50"
    assert body["purchase_number"] == 1
    lost = _deal(pipeline, cast.manager)
    reason = LossReasonFactory(name="Too expensive")
    body = api.post(f"/api/v1/deals/{lost.pk}/lose", {"version": 1, "reason_id": reason.pk}).json()
    assert body["status"] == "lost" and body["lost_reason_id"] == reason.pk
    reopened = api.post(f"/api/v1/deals/{lost.pk}/reopen", {"version": body["version"]})
    assert reopened.json()["status"] == "open"


def test_lose_needs_a_known_reason(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    deal = _deal(pipeline, cast.manager)
    api = api_for(cast.manager)
    missing = api.post(f"/api/v1/deals/{deal.pk}/lose", {"version": 1, "reason_id": 99999})
    assert missing.status_code == 422
    no_field = api.post(f"/api/v1/deals/{deal.pk}/lose", {"version": 1})
    assert no_field.status_code == 422 and "reason_id" in no_field.json()["error"]["fields"]
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_someone_elses_deal_looks_missing_and_stays_unchanged(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.outsider)
    api = api_for(cast.manager)
    assert api.get(f"/api/v1/deals/{deal.pk}").status_code == 404
    moved = api.post(
        f"/api/v1/deals/{deal.pk}/move", {"stage_id": _stages(pipeline)[1], "version": 1}
    )
    assert moved.status_code == 404
    deal.refresh_from_db()
    assert deal.version == 1 and deal.stage.position == 1


def test_head_may_move_a_team_members_deal(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    deal = _deal(pipeline, cast.manager)
    response = api_for(cast.head).post(
        f"/api/v1/deals/{deal.pk}/move", {"stage_id": _stages(pipeline)[1], "version": 1}
    )
    assert response.status_code == 200


def test_open_a_deal(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    person = PersonFactory(owner=cast.manager)
    response = api_for(cast.manager).post(
        "/api/v1/deals", {"person_id": person.pk, "pipeline_id": pipeline.pk, "amount": "99.90"}
    )
    assert response.status_code == 201
    deal = Deal.objects.get(pk=response.json()["id"])
    assert deal.owner == cast.manager and deal.stage.position == 1
    assert deal.amount == Decimal("99.90")


def test_manager_may_not_open_a_deal_for_someone_else(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    person = PersonFactory(owner=cast.manager)
    response = api_for(cast.manager).post(
        "/api/v1/deals",
        {"person_id": person.pk, "pipeline_id": pipeline.pk, "owner_id": cast.outsider.pk},
    )
    assert response.status_code == 403
    assert not Deal.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"pipeline_id": 0},
        {"amount": "-5"},
        {"amount": "abc"},
        {"stage_id": 999999},
    ],
)
def test_bad_deal_input_is_refused(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline, body: dict[str, object]
) -> None:
    person = PersonFactory(owner=cast.manager)
    data: dict[str, object] = {"person_id": person.pk, "pipeline_id": pipeline.pk, **body}
    response = api_for(cast.manager).post("/api/v1/deals", data)
    assert response.status_code == 422
    assert not Deal.objects.exists()
    assert Person.objects.count() == 1


@pytest.mark.parametrize("body", [[None, None], "text", {"version": 1, "refused_by_us": 0}])
def test_body_must_be_an_object_of_the_documented_types(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline, body: object
) -> None:
    deal = _deal(pipeline, cast.manager)
    reason = LossReasonFactory(name="No budget")
    if isinstance(body, dict):
        body = {**body, "reason_id": reason.pk}
    response = api_for(cast.manager).post(f"/api/v1/deals/{deal.pk}/lose", body)
    assert response.status_code == 422
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
