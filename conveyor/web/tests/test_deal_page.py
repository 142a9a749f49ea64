from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import LossReasonFactory, PersonFactory
from conveyor.touches.models import Touch

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline) -> Deal:
    return deal_open(
        person=PersonFactory(name="Ivan Petrov"),
        pipeline=pipeline,
        owner=cast.manager,
        by=None,
        amount=Decimal("500"),
    )


def test_deal_page_shows_timeline(cast: Cast, deal: Deal) -> None:
    response = _client_for(cast.manager).get(reverse("web:deal", args=[deal.pk]))
    assert response.status_code == 200
    assert "Ivan Petrov" in response.content.decode()
    assert [e.kind for e in response.context["timeline"]] == ["stage"]


def test_outsider_gets_404_for_a_deal_of_another_team(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.outsider)
    assert client.get(reverse("web:deal", args=[deal.pk])).status_code == 404
    stage = deal.pipeline.stages.get(position=2)
    response = client.post(
        reverse("web:deal-action", args=[deal.pk, "move"]),
        {"stage": stage.pk, "version": 1, "confirmed": "on"},
    )
    assert response.status_code == 404
    deal.refresh_from_db()
    assert deal.stage.position == 1
    assert deal.version == 1


def test_move_through_the_page(cast: Cast, deal: Deal) -> None:
    stage = deal.pipeline.stages.get(position=3)
    response = _client_for(cast.manager).post(
        reverse("web:deal-action", args=[deal.pk, "move"]),
        {"stage": stage.pk, "version": 1, "confirmed": "on"},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage == stage
    assert deal.max_position == 3


def test_stale_version_is_shown_as_a_conflict_and_nothing_changes(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    stage2 = deal.pipeline.stages.get(position=2)
    stage3 = deal.pipeline.stages.get(position=3)
    client.post(
        reverse("web:deal-action", args=[deal.pk, "move"]),
        {"stage": stage2.pk, "version": 1, "confirmed": "on"},
    )
    response = client.post(
        reverse("web:deal-action", args=[deal.pk, "move"]),
        {"stage": stage3.pk, "version": 1, "confirmed": "on"},
    )
    assert response.status_code == 400
    assert "Someone else changed this deal" in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == stage2
    assert StageChange.objects.filter(deal=deal).count() == 2


def test_lose_needs_a_reason_and_then_closes(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    url = reverse("web:deal-action", args=[deal.pk, "lose"])
    assert client.post(url, {"version": 1}).status_code == 400
    reason = LossReasonFactory(name="No budget")
    assert client.post(url, {"version": 1, "reason": reason.pk}).status_code == 302
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert deal.lost_reason == reason


def test_win_and_log_touch(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    response = client.post(
        reverse("web:deal-action", args=[deal.pk, "touch"]),
        {"kind": "closing", "channel": "call", "step": "invoice", "outcome": "advanced"},
    )
    assert response.status_code == 302
    assert Touch.objects.get(deal=deal).outcome == "advanced"
    response = client.post(
        reverse("web:deal-action", args=[deal.pk, "win"]), {"version": 1, "amount": "750.00"}
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.status == DealStatus.WON
    assert deal.amount == Decimal("750.00")
    assert deal.purchase_number == 1


def test_closing_touch_without_outcome_is_refused_on_the_field(cast: Cast, deal: Deal) -> None:
    response = _client_for(cast.manager).post(
        reverse("web:deal-action", args=[deal.pk, "touch"]),
        {"kind": "closing", "channel": "call", "step": "demo"},
    )
    assert response.status_code == 400
    assert response.context["touch_form"].errors["outcome"]
    assert not Touch.objects.exists()


def test_deal_page_query_count_does_not_grow_with_the_timeline(cast: Cast, deal: Deal) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conveyor.touches.services import touch_log

    client = _client_for(cast.manager)
    url = reverse("web:deal", args=[deal.pk])
    with CaptureQueriesContext(connection) as short:
        client.get(url)
    for _ in range(15):
        touch_log(by=cast.manager, kind="warming", deal=deal, note="checking in")
    with CaptureQueriesContext(connection) as long:
        assert client.get(url).status_code == 200
    assert len(long) == len(short)
