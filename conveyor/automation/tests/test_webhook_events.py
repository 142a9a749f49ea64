"""An endpoint is told every event it may subscribe to as it happens (engine.on_deal_changed,
on_lead_received)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.automation.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from conveyor.intake.models import LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_lose, deal_move, deal_win
from conveyor.pipelines.tests.support import open_deal, stages_of
from conveyor.testing.factories import LossReasonFactory, PersonFactory

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


def _events() -> list[str]:
    return sorted(WebhookDelivery.objects.values_list("event", flat=True))


def test_every_subscribable_event_is_told_as_it_happens(cast: Cast, pipeline: Pipeline) -> None:
    WebhookEndpoint.objects.create(
        name="All", url="https://hooks.example/", secret="x" * 32, events=WebhookEvent.values
    )
    lead_receive(channel=LeadChannel.MANUAL, name="New", phone="+359888000111")
    assert _events() == ["lead_received"]

    won = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    assert _events() == sorted(["lead_received", "deal_created", "stage_entered"])
    won = deal_move(deal_id=won.pk, stage=stages_of(pipeline)[1], version=won.version, by=None)
    deal_win(deal_id=won.pk, version=won.version, by=None)
    lost = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    deal_lose(deal_id=lost.pk, version=lost.version, reason=LossReasonFactory(), by=None)

    assert set(_events()) == set(WebhookEvent.values)
