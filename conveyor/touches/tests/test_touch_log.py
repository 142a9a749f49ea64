"""touch_log: warming touches push for nothing; closing touches name a step and its outcome."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone

from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal
from conveyor.pipelines.tests.support import hours
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Channel, ClosingStep, Direction, Outcome, Touch, TouchKind
from conveyor.touches.services import touch_log

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


def closing(**overrides: Any) -> dict[str, Any]:
    """Arguments of a valid closing touch, with `overrides` applied."""
    return {
        "kind": TouchKind.CLOSING,
        "step": ClosingStep.DEMO,
        "outcome": Outcome.ADVANCED,
        "at": hours(1),
    } | overrides


def test_warming_touch_is_logged_without_step_or_outcome(
    cast: Cast, deal: Deal, person: Person
) -> None:
    touch = touch_log(
        by=cast.manager,
        kind=TouchKind.WARMING,
        deal=deal,
        channel=Channel.EMAIL,
        direction=Direction.INCOMING,
        note="  Sent the case study  ",
        at=hours(1),
    )

    touch.refresh_from_db()
    assert touch.kind == TouchKind.WARMING
    assert touch.deal == deal
    assert touch.person == person  # taken from the deal
    assert touch.user == cast.manager
    assert touch.channel == Channel.EMAIL
    assert touch.direction == Direction.INCOMING
    assert touch.at == hours(1)
    assert (touch.step, touch.outcome) == ("", "")
    assert touch.note == "Sent the case study"


@pytest.mark.parametrize(
    "extra", [{"step": ClosingStep.DEMO}, {"outcome": Outcome.ADVANCED}], ids=["step", "outcome"]
)
def test_warming_touch_with_a_step_or_outcome_is_refused(
    cast: Cast, deal: Deal, extra: dict[str, str]
) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, kind=TouchKind.WARMING, deal=deal, at=hours(1), **extra)

    assert exc.value.field == "kind"
    assert Touch.objects.count() == 0


def test_closing_touch_is_logged_with_step_and_outcome(cast: Cast, deal: Deal) -> None:
    touch = touch_log(by=cast.manager, deal=deal, **closing(step_note="ignored"))

    touch.refresh_from_db()
    assert touch.kind == TouchKind.CLOSING
    assert touch.step == ClosingStep.DEMO
    assert touch.outcome == Outcome.ADVANCED
    assert touch.step_note == ""  # only a custom step carries a description


def test_closing_touch_needs_a_step(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, deal=deal, **closing(step=""))

    assert exc.value.field == "step"
    assert Touch.objects.count() == 0


def test_closing_touch_needs_an_outcome(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, deal=deal, **closing(outcome=""))

    assert exc.value.field == "outcome"
    assert Touch.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"step": "handshake"}, "step"), ({"outcome": "maybe"}, "outcome")],
    ids=["step", "outcome"],
)
def test_closing_touch_with_an_unknown_step_or_outcome_is_refused(
    cast: Cast, deal: Deal, overrides: dict[str, str], field: str
) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, deal=deal, **closing(**overrides))

    assert exc.value.field == field
    assert Touch.objects.count() == 0


@pytest.mark.parametrize("note", ["", "   "])
def test_custom_step_needs_a_description(cast: Cast, deal: Deal, note: str) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, deal=deal, **closing(step=ClosingStep.CUSTOM, step_note=note))

    assert exc.value.field == "step_note"
    assert Touch.objects.count() == 0


def test_custom_step_keeps_its_description(cast: Cast, deal: Deal) -> None:
    touch = touch_log(
        by=cast.manager,
        deal=deal,
        **closing(step=ClosingStep.CUSTOM, step_note="  Site survey  "),
    )

    touch.refresh_from_db()
    assert touch.step == ClosingStep.CUSTOM
    assert touch.step_note == "Site survey"


def test_deal_and_person_must_match(cast: Cast, deal: Deal) -> None:
    stranger = PersonFactory(owner=cast.manager)

    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, kind=TouchKind.WARMING, deal=deal, person=stranger, at=hours(1))

    assert exc.value.field == "person"
    assert Touch.objects.count() == 0


def test_deal_with_its_own_person_is_accepted(cast: Cast, deal: Deal, person: Person) -> None:
    touch = touch_log(
        by=cast.manager, kind=TouchKind.WARMING, deal=deal, person=person, at=hours(1)
    )

    assert (touch.deal, touch.person) == (deal, person)


def test_touch_about_a_person_alone_is_logged(cast: Cast, person: Person) -> None:
    touch = touch_log(by=cast.manager, kind=TouchKind.WARMING, person=person, at=hours(1))

    touch.refresh_from_db()
    assert touch.deal is None
    assert touch.person == person


def test_touch_about_neither_deal_nor_person_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, kind=TouchKind.WARMING, at=hours(1))

    assert exc.value.field == "deal"
    assert Touch.objects.count() == 0


def test_a_touch_in_the_future_is_refused(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(
            by=cast.manager,
            kind=TouchKind.WARMING,
            deal=deal,
            at=timezone.now() + dt.timedelta(hours=1),
        )

    assert exc.value.field == "at"
    assert Touch.objects.count() == 0


def test_a_client_clock_a_minute_fast_is_tolerated(cast: Cast, deal: Deal) -> None:
    touch_log(
        by=cast.manager,
        kind=TouchKind.WARMING,
        deal=deal,
        at=timezone.now() + dt.timedelta(minutes=1),
    )

    assert Touch.objects.count() == 1


def test_time_defaults_to_now(cast: Cast, deal: Deal) -> None:
    before = timezone.now()

    touch = touch_log(by=cast.manager, kind=TouchKind.WARMING, deal=deal)

    assert before <= touch.at <= timezone.now()


def test_naive_time_is_refused(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError) as exc:
        touch_log(
            by=cast.manager, kind=TouchKind.WARMING, deal=deal, at=hours(1).replace(tzinfo=None)
        )

    assert exc.value.field == "at"
    assert Touch.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"kind": "lukewarm"}, "kind"),
        ({"direction": "sideways"}, "direction"),
    ],
)
def test_unknown_choices_are_refused(
    cast: Cast, deal: Deal, overrides: dict[str, str], field: str
) -> None:
    arguments: dict[str, Any] = {"kind": TouchKind.WARMING, "at": hours(1)} | overrides

    with pytest.raises(ServiceError) as exc:
        touch_log(by=cast.manager, deal=deal, **arguments)

    assert exc.value.field == field
    assert Touch.objects.count() == 0


@pytest.mark.parametrize("actor", ["outsider", "other_head"])
def test_users_outside_the_team_cannot_log_touches_on_the_managers_deal(
    cast: Cast, deal: Deal, actor: str
) -> None:
    with pytest.raises(PermissionDenied):
        touch_log(by=getattr(cast, actor), kind=TouchKind.WARMING, deal=deal, at=hours(1))

    assert Touch.objects.count() == 0


def test_the_outsider_cannot_log_touches_on_the_managers_person(cast: Cast, person: Person) -> None:
    with pytest.raises(PermissionDenied):
        touch_log(by=cast.outsider, kind=TouchKind.WARMING, person=person, at=hours(1))

    assert Touch.objects.count() == 0


@pytest.mark.parametrize("actor", ["manager", "head", "owner"])
def test_the_owner_their_head_and_the_account_owner_can_log_touches(
    cast: Cast, deal: Deal, actor: str
) -> None:
    touch = touch_log(by=getattr(cast, actor), kind=TouchKind.WARMING, deal=deal, at=hours(1))

    assert touch.user == getattr(cast, actor)
