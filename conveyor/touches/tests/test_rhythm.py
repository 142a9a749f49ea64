"""The warming:closing rhythm of a deal and its two gentle warnings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_win
from conveyor.pipelines.tests.support import T0, open_deal
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Cadence, TouchKind
from conveyor.touches.selectors import rhythm
from conveyor.touches.services import touch_log

if TYPE_CHECKING:
    from conftest import Cast


def _touches(deal: Deal, cast: Cast, kinds: str, start: int = 0) -> None:
    for n, letter in enumerate(kinds, start=start):
        closing = letter == "C"
        touch_log(
            by=cast.manager,
            deal=deal,
            kind=TouchKind.CLOSING if closing else TouchKind.WARMING,
            step="meeting" if closing else "",
            outcome="not_advanced" if closing else "",
            at=T0 + dt.timedelta(hours=n + 1),
        )


def test_counts_and_the_early_closing_warning(cast: Cast, deal: Deal) -> None:
    _touches(deal, cast, "WWC")
    pace = rhythm(deal)
    assert (pace.warming, pace.closing, pace.per_closing) == (2, 1, 5)
    assert pace.warming_before_last_closing == 2
    assert pace.closing_too_early


def test_five_warming_touches_before_closing_raise_no_warning(cast: Cast, deal: Deal) -> None:
    _touches(deal, cast, "CWWWWWC")
    pace = rhythm(deal)
    assert pace.warming_before_last_closing == 5
    assert not pace.closing_too_early


def test_the_default_cadence_sets_the_rhythm(cast: Cast, deal: Deal) -> None:
    Cadence.objects.create(name="Short", warming_per_closing=2, is_default=True)
    _touches(deal, cast, "WWC")
    assert rhythm(deal).per_closing == 2
    assert not rhythm(deal).closing_too_early


def test_a_first_sale_past_twelve_touches_is_flagged(cast: Cast, deal: Deal) -> None:
    _touches(deal, cast, "W" * 12)
    assert not rhythm(deal).too_many_touches
    _touches(deal, cast, "W", start=12)
    assert rhythm(deal).too_many_touches


def test_a_repeat_sale_is_not_flagged(cast: Cast, deal: Deal, pipeline: Pipeline) -> None:
    earlier = open_deal(deal.person, pipeline, owner=cast.manager)
    deal_win(deal_id=earlier.pk, version=earlier.version, by=None, amount=Decimal(1))
    _touches(deal, cast, "W" * 13)
    assert not rhythm(deal).too_many_touches


def test_a_deal_without_touches_has_an_even_rhythm(cast: Cast, pipeline: Pipeline) -> None:
    deal = open_deal(PersonFactory(owner=cast.manager), pipeline, owner=cast.manager)
    pace = rhythm(deal)
    assert (pace.total, pace.closing_too_early, pace.too_many_touches) == (0, False, False)
