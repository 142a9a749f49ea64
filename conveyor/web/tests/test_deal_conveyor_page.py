"""The deal page and board as the conveyor's workbench: exit criteria, playbooks, the rhythm,
the offers after a closing touch, quick touches from the board and the attention list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.pipelines.models import Deal, Pipeline, PlaybookCheck
from conveyor.pipelines.services import deal_open
from conveyor.pipelines.tests.support import stages_of
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Cadence, CadenceStep, Task, Touch

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline) -> Deal:
    return deal_open(
        person=PersonFactory(name="Ivan Petrov", owner=cast.manager),
        pipeline=pipeline,
        owner=cast.manager,
        by=None,
        amount=Decimal("500"),
    )


def _move(client: Client, deal: Deal, position: int, **extra: str) -> object:
    stage = deal.pipeline.stages.get(position=position)
    return client.post(
        reverse("web:deal-action", args=[deal.pk, "move"]),
        {"stage": stage.pk, "version": deal.version, **extra},
    )


def test_moving_on_asks_to_confirm_the_clients_action(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    page = client.get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert "Did the client do it? Client did something" in page
    response = _move(client, deal, 2)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "Confirm the client&#x27;s action first" in response.content.decode()  # type: ignore[attr-defined]
    deal.refresh_from_db()
    assert deal.stage.position == 1
    assert _move(client, deal, 2, confirmed="on").status_code == 302  # type: ignore[attr-defined]
    deal.refresh_from_db()
    assert deal.stage.position == 2
    # Back to an earlier stage: nothing to confirm.
    assert _move(client, deal, 1).status_code == 302  # type: ignore[attr-defined]


def test_a_mandatory_playbook_item_is_shown_and_holds_the_move(cast: Cast, deal: Deal) -> None:
    stage = deal.stage
    stage.playbook = [{"text": "Sent the price list", "mandatory": True}]
    stage.save()
    client = _client_for(cast.manager)
    page = client.get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert "Playbook items not ticked yet" in page and "Sent the price list" in page
    response = _move(client, deal, 2, confirmed="on")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "Tick the mandatory playbook items first" in response.content.decode()  # type: ignore[attr-defined]
    check = client.post(
        reverse("web:deal-action", args=[deal.pk, "check"]),
        {"item": "Sent the price list", "checked": "on"},
    )
    assert check.status_code == 302
    assert PlaybookCheck.objects.filter(deal=deal, user=cast.manager).count() == 1
    assert _move(client, deal, 2, confirmed="on").status_code == 302  # type: ignore[attr-defined]


def _touch(client: Client, deal: Deal, **data: str) -> object:
    return client.post(reverse("web:deal-action", args=[deal.pk, "touch"]), data)


def test_an_advanced_closing_touch_offers_the_next_stage(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    response = _touch(
        client, deal, kind="closing", channel="call", step="meeting", outcome="advanced"
    )
    url = response.url  # type: ignore[attr-defined]
    assert url.endswith("?offer=move#move")
    page = client.get(url)
    assert page.context["move_form"].initial["stage"] == stages_of(deal.pipeline)[1].pk
    assert "offered" in page.content.decode()


def test_a_refused_closing_touch_offers_the_loss_dialog(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    response = _touch(
        client, deal, kind="closing", channel="call", step="invoice", outcome="refused"
    )
    assert response.url.endswith("?offer=lose#lose")  # type: ignore[attr-defined]


def test_an_early_closing_touch_gets_a_gentle_warning(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    _touch(client, deal, kind="warming", channel="call")
    response = _touch(
        client, deal, kind="closing", channel="call", step="meeting", outcome="not_advanced"
    )
    page = client.get(response.url).content.decode()  # type: ignore[attr-defined]
    assert "Only 1 warming touch before this closing one" in page
    assert "1 warming : 1 closing" in page


def test_the_page_shows_where_the_deal_is_in_its_cadence(cast: Cast, pipeline: Pipeline) -> None:
    cadence = Cadence.objects.create(name="Warm-up")
    for position in (1, 2):
        CadenceStep.objects.create(
            cadence=cadence,
            position=position,
            day_offset=position,
            kind="warming",
            script=f"Say hello {position}",
        )
    cadence.stages.add(stages_of(pipeline)[0])
    deal = deal_open(
        person=PersonFactory(owner=cast.manager), pipeline=pipeline, owner=cast.manager, by=None
    )
    first = Task.objects.filter(deal=deal).order_by("due_at").first()
    assert first is not None
    Task.objects.filter(pk=first.pk).update(done_at=timezone.now())
    page = _client_for(cast.manager).get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert "Cadence “Warm-up”: 1 of 2 steps done" in page
    assert "Say hello 2" in page


def test_a_warming_touch_from_a_board_card_goes_back_to_the_board(cast: Cast, deal: Deal) -> None:
    client = _client_for(cast.manager)
    board = reverse("web:board")
    assert "Log warming touch" in client.get(board).content.decode()
    response = _touch(
        client, deal, kind="warming", channel="message", note="Sent a link", next=board
    )
    assert response.url == board  # type: ignore[attr-defined]
    touch = Touch.objects.get(deal=deal)
    assert (touch.kind, touch.channel, touch.note) == ("warming", "message", "Sent a link")


def test_a_foreign_next_address_is_ignored(cast: Cast, deal: Deal) -> None:
    response = _touch(
        _client_for(cast.manager),
        deal,
        kind="warming",
        channel="call",
        next="https://evil.example/",
    )
    assert response.url == reverse("web:deal", args=[deal.pk])  # type: ignore[attr-defined]


def test_rotting_and_stalled_cards_are_flagged(cast: Cast, deal: Deal) -> None:
    stage = deal.stage
    stage.rot_days = 3
    stage.save()
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=timezone.now() - dt.timedelta(days=4))
    page = _client_for(cast.manager).get(reverse("web:board")).content.decode()
    assert "deal-card rotting stalled" in page
    assert "Rotting: too long in this stage" in page


def test_the_attention_list_shows_stalled_and_rotting_deals_one_can_see(
    cast: Cast, pipeline: Pipeline
) -> None:
    first = stages_of(pipeline)[0]
    first.rot_days = 2
    first.save()
    old = timezone.now() - dt.timedelta(days=5)

    def open_for(owner: object, name: str, at: dt.datetime) -> Deal:
        return deal_open(
            person=PersonFactory(name=name, owner=owner),
            pipeline=pipeline,
            owner=owner,
            by=None,
            at=at,
        )  # type: ignore[arg-type]

    rotting = open_for(cast.manager, "Rotting Rita", old)
    planned = open_for(cast.manager, "Planned Pavel", timezone.now())
    Task.objects.create(deal=planned, assignee=cast.manager, title="Call", due_at=timezone.now())
    open_for(cast.outsider, "Foreign Fedor", old)

    client = _client_for(cast.head)
    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("web:attention"))
    page = response.content.decode()
    assert response.context["stalled"] == [rotting]
    assert response.context["rotting"] == [rotting]
    assert "Planned Pavel" not in page and "Foreign Fedor" not in page
    for n in range(10):
        open_for(cast.manager, f"More {n}", old)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("web:attention"))
    assert len(many) == len(few)
