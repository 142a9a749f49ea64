"""Stage playbooks: ticking items, and mandatory items holding the deal in its stage."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, PlaybookCheck
from conveyor.pipelines.playbooks import playbook_clean, playbook_items
from conveyor.pipelines.services import deal_move, deal_win, playbook_check
from conveyor.pipelines.tests.support import open_deal, stages_of
from conveyor.testing.factories import PersonFactory

if TYPE_CHECKING:
    from conftest import Cast


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline) -> Deal:
    first = stages_of(pipeline)[0]
    first.playbook = [{"text": "Sent the price list", "mandatory": True}, "Asked about budget"]
    first.save()
    return open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)


def test_items_read_from_strings_and_dicts_and_skip_junk(pipeline: Pipeline) -> None:
    stage = stages_of(pipeline)[0]
    stage.playbook = ["  Call ", {"text": "Send", "mandatory": True}, 42, {"mandatory": True}, ""]
    assert [(i.text, i.mandatory) for i in playbook_items(stage)] == [
        ("Call", False),
        ("Send", True),
    ]


def test_the_settings_textarea_marks_mandatory_items_with_a_bang() -> None:
    assert playbook_clean("! Sent the offer\nAsked for feedback\n\n") == [
        {"text": "Sent the offer", "mandatory": True},
        {"text": "Asked for feedback", "mandatory": False},
    ]
    with pytest.raises(ServiceError, match="twice"):
        playbook_clean("Call\nCall")


def test_a_mandatory_item_holds_the_deal_until_ticked(cast: Cast, deal: Deal) -> None:
    second = stages_of(deal.pipeline)[1]
    with pytest.raises(ServiceError, match="Sent the price list"):
        deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=cast.manager)
    with pytest.raises(ServiceError, match="mandatory"):
        deal_win(deal_id=deal.pk, version=deal.version, by=cast.manager)
    deal.refresh_from_db()
    assert deal.stage == stages_of(deal.pipeline)[0] and deal.status == DealStatus.OPEN
    playbook_check(deal_id=deal.pk, item="Sent the price list", checked=True, by=cast.manager)
    moved = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=cast.manager)
    assert moved.stage == second


def test_moving_back_is_never_held(cast: Cast, pipeline: Pipeline) -> None:
    first, second = stages_of(pipeline)[:2]
    second.playbook = [{"text": "Demo done", "mandatory": True}]
    second.save()
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager, stage=second)
    assert deal_move(deal_id=deal.pk, stage=first, version=deal.version, by=None).stage == first


def test_ticking_twice_keeps_one_tick_and_unticking_removes_it(cast: Cast, deal: Deal) -> None:
    for _ in range(2):
        playbook_check(deal_id=deal.pk, item="Asked about budget", checked=True, by=cast.manager)
    assert PlaybookCheck.objects.filter(deal=deal).count() == 1
    playbook_check(deal_id=deal.pk, item="Asked about budget", checked=False, by=cast.manager)
    assert not PlaybookCheck.objects.filter(deal=deal).exists()


def test_only_the_stages_own_items_can_be_ticked(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError, match="not in the stage"):
        playbook_check(deal_id=deal.pk, item="Something else", checked=True, by=cast.manager)


def test_an_outsider_cannot_tick_a_deal_of_another_team(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError):
        playbook_check(deal_id=deal.pk, item="Asked about budget", checked=True, by=cast.outsider)
    assert not PlaybookCheck.objects.exists()
