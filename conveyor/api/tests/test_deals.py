from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.api.tests.conftest import ApiFor
from conveyor.core.models import AuditEntry
from conveyor.core.selectors import audit_entries
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, PlaybookCheck, StageChange
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import LossReasonFactory, PersonFactory, pipeline_with_stages
from conveyor.touches.services import task_schedule

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


# --- PATCH /deals/{id}: the facts the deal page edits in place -----------------------------------


def _facts(deal: Deal) -> tuple[object, ...]:
    deal.refresh_from_db()
    return (deal.title, deal.amount, deal.currency, deal.owner_id, deal.version)


def test_change_only_the_fields_sent(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    deal = _deal(pipeline, cast.manager)
    currency = deal.currency
    response = api_for(cast.manager).patch(
        f"/api/v1/deals/{deal.pk}", {"version": 1, "title": " Fleet "}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Fleet" and body["version"] == 2
    assert Decimal(body["amount"]) == Decimal("100") and body["currency"] == currency
    assert _facts(deal) == ("Fleet", Decimal("100"), currency, cast.manager.pk, 2)
    audit = api_for(cast.manager).get(f"/api/v1/deals/{deal.pk}/audit").json()["items"]
    # A title may name the client: the log says it changed, never what it said.
    assert audit[0]["action"] == "update" and audit[0]["changes"] == {"title": None}
    assert audit[0]["actor_id"] == cast.manager.pk


def test_change_amount_and_currency(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    deal = _deal(pipeline, cast.manager)
    response = api_for(cast.manager).patch(
        f"/api/v1/deals/{deal.pk}",
        {"version": 1, "amount": "1234.50", "currency": "usd"},
    )
    assert response.status_code == 200, response.content
    assert _facts(deal) == ("", Decimal("1234.50"), "USD", cast.manager.pk, 2)


def test_head_hands_a_deal_over_with_its_open_tasks(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    task = task_schedule(
        by=None,
        assignee=cast.manager,
        title="Call",
        deal=deal,
        due_at=timezone.now() + dt.timedelta(days=1),
    )
    response = api_for(cast.head).patch(
        f"/api/v1/deals/{deal.pk}",
        {"version": 1, "title": "Fleet", "owner_id": cast.head.pk},
    )
    assert response.status_code == 200, response.content
    assert response.json()["owner_id"] == cast.head.pk
    # The facts and the owner are two changes, as on the deal page: two versions, two entries.
    assert _facts(deal)[3:] == (cast.head.pk, 3) and deal.title == "Fleet"
    task.refresh_from_db()
    assert task.assignee_id == cast.head.pk
    assert [entry.action for entry in audit_entries(deal)[:2]] == ["assign", "update"]


def test_a_refused_hand_over_undoes_the_rest_of_the_change(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    api = api_for(cast.manager)
    before, entries = _facts(deal), AuditEntry.objects.count()
    response = api.patch(
        f"/api/v1/deals/{deal.pk}",
        {"version": 1, "title": "Mine no more", "owner_id": cast.outsider.pk},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert _facts(deal) == before
    assert AuditEntry.objects.count() == entries


def test_a_stale_edit_is_409_and_changes_nothing(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.manager)
    api = api_for(cast.manager)
    first = api.patch(f"/api/v1/deals/{deal.pk}", {"version": 1, "title": "A"})
    assert first.status_code == 200
    stale = api.patch(f"/api/v1/deals/{deal.pk}", {"version": 1, "amount": "5"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    assert _facts(deal)[:2] == ("A", Decimal("100")) and deal.version == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "E1R"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"title": "x" * 201}, "title"),
        ({"owner_id": 999999}, "owner_id"),
        ({"title": None}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({}, "version"),
    ],
)
def test_bad_edits_name_their_field_and_change_nothing(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline, body: dict[str, object], field: str
) -> None:
    deal = _deal(pipeline, cast.manager)
    before = _facts(deal)
    data = {"version": 1, **body} if field != "version" else body
    response = api_for(cast.manager).patch(f"/api/v1/deals/{deal.pk}", data)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["fields"]
    assert _facts(deal) == before


def test_someone_elses_deal_cannot_be_edited(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    deal = _deal(pipeline, cast.outsider)
    before = _facts(deal)
    response = api_for(cast.manager).patch(
        f"/api/v1/deals/{deal.pk}", {"version": 1, "title": "Mine"}
    )
    assert response.status_code == 404
    assert _facts(deal) == before


# --- POST /deals/{id}/checks: the playbook the deal page ticks -----------------------------------


@pytest.fixture
def playbook_deal(cast: Cast, pipeline: Pipeline) -> Deal:
    deal = _deal(pipeline, cast.manager)
    deal.stage.playbook = [{"text": "Ask the budget", "mandatory": True}, "Send the deck"]
    deal.stage.save(update_fields=["playbook"])
    return deal


def test_tick_and_untick_a_playbook_item(cast: Cast, api_for: ApiFor, playbook_deal: Deal) -> None:
    api = api_for(cast.manager)
    url = f"/api/v1/deals/{playbook_deal.pk}/checks"
    ticked = api.post(url, {"item": "Ask the budget"})
    assert ticked.status_code == 200, ticked.content
    assert ticked.json() == [
        {"text": "Ask the budget", "mandatory": True, "checked": True},
        {"text": "Send the deck", "mandatory": False, "checked": False},
    ]
    check = PlaybookCheck.objects.get()
    assert (check.deal_id, check.item, check.user_id) == (
        playbook_deal.pk,
        "Ask the budget",
        cast.manager.pk,
    )
    unticked = api.post(url, {"item": "Ask the budget", "checked": False})
    assert unticked.status_code == 200
    assert [item["checked"] for item in unticked.json()] == [False, False]
    assert not PlaybookCheck.objects.exists()


def test_a_mandatory_item_ticked_over_the_api_lets_the_deal_move_on(
    cast: Cast, api_for: ApiFor, playbook_deal: Deal, pipeline: Pipeline
) -> None:
    api = api_for(cast.manager)
    move = {"stage_id": _stages(pipeline)[1], "version": 1}
    assert api.post(f"/api/v1/deals/{playbook_deal.pk}/move", move).status_code == 422
    api.post(f"/api/v1/deals/{playbook_deal.pk}/checks", {"item": "Ask the budget"})
    assert api.post(f"/api/v1/deals/{playbook_deal.pk}/move", move).status_code == 200


def test_an_item_not_in_the_playbook_is_refused(
    cast: Cast, api_for: ApiFor, playbook_deal: Deal
) -> None:
    response = api_for(cast.manager).post(
        f"/api/v1/deals/{playbook_deal.pk}/checks", {"item": "Dance"}
    )
    assert response.status_code == 422
    assert "item" in response.json()["error"]["fields"]
    assert not PlaybookCheck.objects.exists()


def test_someone_elses_playbook_cannot_be_ticked(
    cast: Cast, api_for: ApiFor, playbook_deal: Deal
) -> None:
    response = api_for(cast.outsider).post(
        f"/api/v1/deals/{playbook_deal.pk}/checks", {"item": "Ask the budget"}
    )
    assert response.status_code == 404
    assert not PlaybookCheck.objects.exists()
