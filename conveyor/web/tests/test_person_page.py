"""The person page: details, lifecycle, deals, purchases, referrals, one timeline across deals,
touch logging and referral linking, within the access rule and in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.people.models import Person
from conveyor.people.services import person_link_referral, person_update
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_lose, deal_move, deal_open, deal_win
from conveyor.testing.factories import (
    CompanyFactory,
    LossReasonFactory,
    PersonFactory,
    pipeline_with_stages,
)
from conveyor.touches.models import Touch
from conveyor.touches.services import task_schedule, touch_log

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(person: Person) -> str:
    return reverse("web:person", args=[person.pk])


@pytest.fixture
def anna(cast: Cast) -> Person:
    return PersonFactory(
        name="Anna Keller",
        email="anna@example.org",
        phone="+359888123456",
        owner=cast.manager,
        company=CompanyFactory(name="Keller Bakery"),
        source="trade fair",
    )


def _open(person: Person, pipeline: Pipeline, owner: User, title: str, amount: str) -> Deal:
    return deal_open(
        person=person,
        pipeline=pipeline,
        owner=owner,
        by=None,
        title=title,
        amount=Decimal(amount),
        at=timezone.now() - dt.timedelta(days=30),
    )


def test_both_names_lead_to_the_same_page() -> None:
    assert reverse("web:person", args=[7]) == reverse("web:person-erase", args=[7]) == "/people/7/"


def test_the_page_shows_details_deals_purchases_and_lifecycle(
    cast: Cast, anna: Person, pipeline: Pipeline
) -> None:
    first = _open(anna, pipeline, cast.manager, "Starter kit", "300")
    deal_win(deal_id=first.pk, version=1, by=cast.manager)
    second = _open(anna, pipeline, cast.manager, "Refill", "120.50")
    deal_win(deal_id=second.pk, version=1, by=cast.manager)
    stage3 = pipeline.stages.get(position=3)
    current = _open(anna, pipeline, cast.manager, "Oven upgrade", "5000")
    deal_move(deal_id=current.pk, stage=stage3, version=1, by=cast.manager)
    lost = _open(anna, pipeline, cast.manager, "Catering", "800")
    deal_lose(deal_id=lost.pk, version=1, by=cast.manager, reason=LossReasonFactory(name="Price"))

    response = _client(cast.manager).get(_url(anna))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Anna Keller", "anna@example.org", "+359888123456", "Keller Bakery"):
        assert text in html
    for text in ("trade fair", "Cold", "Maria Manager"):
        assert text in html
    assert response.context["lifecycle"] == "repeat_customer"
    assert "Repeat customer" in html
    assert [deal.title for deal in response.context["open_deals"]] == ["Oven upgrade"]
    assert "3. Received the offer" in html
    assert [(d.purchase_number, d.title) for d in response.context["purchases"]] == [
        (1, "Starter kit"),
        (2, "Refill"),
    ]
    assert "120.50" in html
    assert [deal.title for deal in response.context["lost_deals"]] == ["Catering"]
    assert "Price" in html
    # The personal-data and history blocks moved into the page.
    assert "Download JSON" in html
    assert "History of changes" in html


def test_one_timeline_across_all_deals_newest_first(
    cast: Cast, anna: Person, pipeline: Pipeline
) -> None:
    other_pipeline = pipeline_with_stages(["Asked again", "Ordered"])
    first = _open(anna, pipeline, cast.manager, "Starter kit", "300")
    repeat = _open(anna, other_pipeline, cast.manager, "Refill", "100")
    touch_log(by=cast.manager, deal=first, kind="warming", note="Sent the brochure")
    touch_log(by=cast.manager, person=anna, kind="warming", note="Met at the fair")
    task_schedule(
        by=cast.manager,
        assignee=cast.manager,
        deal=repeat,
        title="Call about the refill",
        due_at=timezone.now() + dt.timedelta(days=2),
    )

    response = _client(cast.manager).get(_url(anna))

    timeline = response.context["timeline"]
    assert [entry.kind for entry in timeline] == ["task", "touch", "touch", "stage", "stage"]
    assert {entry.item.deal for entry in timeline if entry.kind == "stage"} == {first, repeat}
    html = response.content.decode()
    for text in ("Sent the brochure", "Met at the fair", "Call about the refill"):
        assert text in html


def test_deals_and_their_history_outside_the_viewers_reach_stay_hidden(
    cast: Cast, anna: Person, pipeline: Pipeline
) -> None:
    """The person is the manager's; a deal of theirs handed to another team is not."""
    _open(anna, pipeline, cast.manager, "Ours", "100")
    theirs = _open(anna, pipeline, cast.outsider, "Other team's", "900")
    touch_log(by=cast.outsider, deal=theirs, kind="warming", note="Their private note")

    response = _client(cast.manager).get(_url(anna))

    html = response.content.decode()
    assert "Ours" in html
    assert "Other team" not in html
    assert "Their private note" not in html
    assert all(entry.item.deal != theirs for entry in response.context["timeline"])


def test_referrals_both_ways_link_only_to_visible_people(cast: Cast, anna: Person) -> None:
    referrer = PersonFactory(name="Boris Baker", owner=cast.manager)
    friend = PersonFactory(name="Clara Client", owner=cast.manager)
    stranger = PersonFactory(name="Dora Distant", owner=cast.outsider)
    person_link_referral(person_id=anna.pk, referred_by_id=referrer.pk, by=None)
    person_link_referral(person_id=friend.pk, referred_by_id=anna.pk, by=None)
    person_link_referral(person_id=stranger.pk, referred_by_id=anna.pk, by=None)

    html = _client(cast.manager).get(_url(anna)).content.decode()

    assert f'href="/people/{referrer.pk}/">Boris Baker</a>' in html
    assert f'href="/people/{friend.pk}/">Clara Client</a>' in html
    assert "Dora Distant" in html
    assert f'href="/people/{stranger.pk}/"' not in html


def test_linking_who_referred_them_from_the_page(cast: Cast, anna: Person) -> None:
    boris = PersonFactory(name="Boris Baker", owner=cast.manager)
    client = _client(cast.manager)

    found = client.get(_url(anna), {"referrer_q": "Boris"})
    assert [p.pk for p in found.context["referrer_candidates"]] == [boris.pk]

    response = client.post(
        reverse("web:person-referral", args=[anna.pk]), {"referred_by": boris.pk}
    )
    assert response.status_code == 302
    assert Person.objects.get(pk=anna.pk).referred_by == boris


def test_a_referrer_the_user_may_not_see_is_refused(cast: Cast, anna: Person) -> None:
    hidden = PersonFactory(name="Hidden Referrer", owner=cast.outsider)
    response = _client(cast.manager).post(
        reverse("web:person-referral", args=[anna.pk]), {"referred_by": hidden.pk}
    )

    assert response.status_code == 400
    assert "not yours to see" in response.content.decode()
    assert Person.objects.get(pk=anna.pk).referred_by is None


def test_a_touch_logged_from_the_page_lands_on_the_chosen_open_deal(
    cast: Cast, anna: Person, pipeline: Pipeline
) -> None:
    _open(anna, pipeline, cast.manager, "First", "100")
    second = _open(anna, pipeline, cast.manager, "Second", "200")
    response = _client(cast.manager).post(
        reverse("web:person-touch", args=[anna.pk]),
        {"deal": second.pk, "kind": "warming", "channel": "call", "note": "Asked about sizes"},
    )

    assert response.status_code == 302
    assert response["Location"] == _url(anna)
    touch = Touch.objects.get()
    assert (touch.deal, touch.person, touch.user) == (second, anna, cast.manager)


def test_an_advanced_closing_touch_offers_the_move_on_the_deal_page(
    cast: Cast, anna: Person, pipeline: Pipeline
) -> None:
    deal = _open(anna, pipeline, cast.manager, "First", "100")
    response = _client(cast.manager).post(
        reverse("web:person-touch", args=[anna.pk]),
        {
            "deal": deal.pk,
            "kind": "closing",
            "channel": "call",
            "step": "demo",
            "outcome": "advanced",
        },
    )

    assert response["Location"] == f"/deals/{deal.pk}/?offer=move#move"


@pytest.mark.parametrize("which", ["closed", "someone else's"])
def test_a_touch_on_a_deal_that_is_not_an_open_deal_of_this_person_is_refused(
    cast: Cast, anna: Person, pipeline: Pipeline, which: str
) -> None:
    _open(anna, pipeline, cast.manager, "Open one", "100")
    if which == "closed":
        target = _open(anna, pipeline, cast.manager, "Won one", "100")
        deal_win(deal_id=target.pk, version=1, by=cast.manager)
    else:
        other = PersonFactory(owner=cast.manager)
        target = _open(other, pipeline, cast.manager, "Not hers", "100")
    response = _client(cast.manager).post(
        reverse("web:person-touch", args=[anna.pk]),
        {"deal": target.pk, "kind": "warming", "channel": "call"},
    )

    assert response.status_code == 400
    assert response.context["touch_form"].errors["deal"]
    assert not Touch.objects.exists()


def test_a_closing_touch_without_outcome_is_refused_on_the_field(
    cast: Cast, anna: Person, pipeline: Pipeline
) -> None:
    deal = _open(anna, pipeline, cast.manager, "First", "100")
    response = _client(cast.manager).post(
        reverse("web:person-touch", args=[anna.pk]),
        {"deal": deal.pk, "kind": "closing", "channel": "call", "step": "demo"},
    )

    assert response.status_code == 400
    assert response.context["touch_form"].errors["outcome"]
    assert not Touch.objects.exists()


@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("get", "web:person", []),
        ("post", "web:person-touch", []),
        ("post", "web:person-referral", []),
        ("get", "web:person-edit", ["name"]),
        ("post", "web:person-edit", ["name"]),
    ],
)
def test_a_manager_of_another_team_gets_404_and_changes_nothing(
    cast: Cast, anna: Person, pipeline: Pipeline, method: str, name: str, args: list[str]
) -> None:
    deal = _open(anna, pipeline, cast.manager, "First", "100")
    data = {"deal": deal.pk, "kind": "warming", "channel": "call", "name": "Hijacked"}
    data["referred_by"] = PersonFactory(owner=cast.outsider).pk
    client = _client(cast.outsider)
    response = getattr(client, method)(reverse(name, args=[anna.pk, *args]), data)

    assert response.status_code == 404
    assert b"Anna" not in response.content
    anna.refresh_from_db()
    assert (anna.name, anna.referred_by) == ("Anna Keller", None)
    assert not Touch.objects.exists()


def test_a_name_with_markup_is_shown_as_text(cast: Cast, pipeline: Pipeline) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    person = PersonFactory(name=payload, owner=cast.manager, source=payload)
    _open(person, pipeline, cast.manager, payload, "100")

    html = _client(cast.manager).get(_url(person)).content.decode()

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_the_owner_field_is_editable_for_heads_not_for_managers(cast: Cast, anna: Person) -> None:
    edit_owner = reverse("web:person-edit", args=[anna.pk, "owner"])
    edit_name = reverse("web:person-edit", args=[anna.pk, "name"])
    as_manager = _client(cast.manager).get(_url(anna)).content.decode()
    as_head = _client(cast.head).get(_url(anna)).content.decode()

    assert edit_name in as_manager
    assert edit_owner not in as_manager
    assert edit_owner in as_head
    assert "web/inplace.js" in as_head


def _deal_with_touches(person: Person, pipeline: Pipeline, owner: User, n: int) -> None:
    deal = _open(person, pipeline, owner, f"Deal {n}", "100")
    for i in range(3):
        touch_log(by=owner, deal=deal, kind="warming", note=f"Touch {n}.{i}")
    task_schedule(
        by=owner,
        assignee=owner,
        deal=deal,
        title=f"Next step {n}",
        due_at=timezone.now() + dt.timedelta(days=1),
    )


@pytest.mark.parametrize("viewer", ["manager", "head"])
def test_the_page_runs_the_same_queries_for_one_deal_and_for_ten(
    cast: Cast,
    anna: Person,
    pipeline: Pipeline,
    django_assert_num_queries: object,
    viewer: str,
) -> None:
    """Session, user, person, deals, lifecycle, leads, referrals, the timeline's three, history
    (entries, count, the users its entries name), agenda and inbox counts, and the owner
    choices (heads only: managers cannot hand people over)."""
    expected = {"manager": 15, "head": 16}[viewer]
    person_update(person_id=anna.pk, by=cast.head, owner=cast.head)
    person_update(person_id=anna.pk, by=cast.head, owner=cast.manager)
    person_link_referral(
        person_id=PersonFactory(owner=cast.manager).pk, referred_by_id=anna.pk, by=None
    )
    _deal_with_touches(anna, pipeline, cast.manager, 0)
    client = _client(getattr(cast, viewer))
    with django_assert_num_queries(expected):  # type: ignore[operator]
        assert client.get(_url(anna)).status_code == 200
    for n in range(1, 10):
        _deal_with_touches(anna, pipeline, cast.manager, n)
        person_link_referral(
            person_id=PersonFactory(owner=cast.manager).pk, referred_by_id=anna.pk, by=None
        )
    with django_assert_num_queries(expected):  # type: ignore[operator]
        response = client.get(_url(anna))
    assert len(response.context["open_deals"]) == 10
    assert len(response.context["referrals"]) == 10
