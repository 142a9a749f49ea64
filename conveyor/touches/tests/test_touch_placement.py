"""Where a touch falls in its deal's history, and a won deal's touches to the win
(`conveyor.touches.placement`), kept by every write that changes them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_lose, deal_move, deal_reopen, deal_transfer, deal_win
from conveyor.pipelines.tests.support import assert_history_keys, hours, open_deal, stages_of
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages
from conveyor.touches.models import Touch, TouchKind
from conveyor.touches.services import touch_log

pytestmark = pytest.mark.django_db


def _touch(deal: Deal, at: dt.datetime) -> Touch:
    return touch_log(by=None, kind=TouchKind.WARMING, deal=deal, at=at)


def _placed(touch: Touch) -> tuple[int | None, int | None, dt.datetime | None]:
    touch.refresh_from_db()
    return touch.stage_id, touch.deal_pipeline_id, touch.deal_opened_at


def _count(deal: Deal) -> int | None:
    deal.refresh_from_db()
    return deal.touches_to_win


def test_a_touch_falls_in_the_stage_its_deal_was_in(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    first, second, *_ = stages_of(pipeline)
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=None, at=hours(2))
    logged_late = _touch(deal, hours(1))  # logged after the move, dated before it
    at_the_move = _touch(deal, hours(2))  # the stay [entered, left) holds its start
    before_opening = _touch(deal, hours(-1))
    assert _placed(logged_late) == (first.pk, pipeline.pk, deal.opened_at)
    assert _placed(at_the_move) == (second.pk, pipeline.pk, deal.opened_at)
    assert _placed(before_opening) == (None, pipeline.pk, deal.opened_at)
    assert_history_keys(deal)


def test_a_touch_without_a_deal_has_no_place(cast: Cast, person: Person) -> None:
    touch = touch_log(by=None, kind=TouchKind.WARMING, person=person, at=hours(1))
    assert _placed(touch) == (None, None, None)


def test_a_change_dated_before_later_touches_takes_them_along(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    _first, second, *_ = stages_of(pipeline)
    deal = open_deal(person, pipeline, owner=cast.manager)
    ahead = _touch(deal, hours(3))
    later = _touch(deal, hours(5))
    deal = deal_move(deal_id=deal.pk, stage=second, version=deal.version, by=None, at=hours(2))
    assert _placed(ahead)[0] == second.pk
    deal = deal_lose(
        deal_id=deal.pk, version=deal.version, by=None, reason=LossReasonFactory(), at=hours(4)
    )
    # After the close a touch belongs to no stage; the one before it keeps its stage.
    assert (_placed(ahead)[0], _placed(later)[0]) == (second.pk, None)
    assert_history_keys(deal)


def test_a_won_deal_counts_its_touches_up_to_the_win(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    _touch(deal, hours(1))
    _touch(deal, hours(2))
    assert _count(deal) is None  # open: no count
    deal = deal_win(deal_id=deal.pk, version=deal.version, by=None, at=hours(3))
    assert _count(deal) == 2
    _touch(deal, hours(3))  # at the win itself: counts
    _touch(deal, hours(2.5))  # logged late, dated before the win: counts
    _touch(deal, hours(4))  # after the win: not to the win
    assert _count(deal) == 4
    deal = deal_reopen(deal_id=deal.pk, version=deal.version, by=None, at=hours(5))
    assert _count(deal) is None
    deal = deal_win(deal_id=deal.pk, version=deal.version, by=None, at=hours(6))
    assert _count(deal) == 5
    assert_history_keys(deal)


def test_a_transfer_takes_the_touches_into_the_new_pipelines_cohort(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    other = pipeline_with_stages(["Met", "Paid"])
    deal = open_deal(person, pipeline, owner=cast.manager)
    before = _touch(deal, hours(1))
    deal = deal_transfer(
        deal_id=deal.pk, pipeline=other, version=deal.version, by=None, at=hours(2)
    )
    after = _touch(deal, hours(3))
    # The old stay's touch keeps its (old pipeline's) stage: the reports leave it out there.
    assert _placed(before) == (stages_of(pipeline)[0].pk, other.pk, deal.opened_at)
    assert _placed(after) == (stages_of(other)[0].pk, other.pk, deal.opened_at)
    assert_history_keys(deal)


@pytest.fixture
def admin(cast: Cast) -> Client:
    cast.owner.is_staff = cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    return client


def test_touches_are_neither_added_nor_changed_in_the_admin(
    cast: Cast, pipeline: Pipeline, person: Person, admin: Client
) -> None:
    touch = _touch(open_deal(person, pipeline, owner=cast.manager), hours(1))
    assert admin.get(reverse("admin:touches_touch_add")).status_code == 403
    page = admin.get(reverse("admin:touches_touch_change", args=[touch.pk]))
    assert page.status_code == 200 and b'name="at"' not in page.content  # shown, read-only


def test_deleting_touches_in_the_admin_counts_the_won_deal_again(
    cast: Cast, pipeline: Pipeline, person: Person, admin: Client
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    touches = [_touch(deal, hours(n)) for n in (1, 2, 3)]
    deal = deal_win(deal_id=deal.pk, version=deal.version, by=None, at=hours(4))
    assert _count(deal) == 3
    response = admin.post(
        reverse("admin:touches_touch_delete", args=[touches[0].pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert _count(deal) == 2
    response = admin.post(
        reverse("admin:touches_touch_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [t.pk for t in touches[1:]],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert _count(deal) == 0
    assert_history_keys(deal)
