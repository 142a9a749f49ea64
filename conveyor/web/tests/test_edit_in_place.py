"""Edit in place on the person and deal pages: the plain edit page (no JavaScript), the field
alone for the script (`X-Requested-With`), errors on the field, conflicts, access."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.testing.audit import actions_of
from conveyor.testing.factories import PersonFactory
from conveyor.touches.services import touch_log

pytestmark = pytest.mark.django_db

SCRIPT = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def anna(cast: Cast) -> Person:
    return PersonFactory(
        name="Anna Keller", email="anna@example.org", phone="+359888123456", owner=cast.manager
    )


@pytest.fixture
def deal(cast: Cast, anna: Person, pipeline: Pipeline) -> Deal:
    return deal_open(
        person=anna, pipeline=pipeline, owner=cast.manager, by=None, amount=Decimal("500")
    )


def _person_edit(person: Person, field: str) -> str:
    return reverse("web:person-edit", args=[person.pk, field])


def _deal_edit(deal: Deal, field: str) -> str:
    return reverse("web:deal-edit", args=[deal.pk, field])


# --- The person page ------------------------------------------------------------------------------


def test_each_detail_shows_as_text_with_an_edit_link_to_its_plain_page(
    cast: Cast, anna: Person
) -> None:
    html = _client(cast.manager).get(reverse("web:person", args=[anna.pk])).content.decode()

    for field in ("name", "email", "phone", "company", "temperature", "source"):
        assert f'href="{_person_edit(anna, field)}"' in html
    assert 'data-inplace="email"' in html


def test_without_javascript_the_edit_page_shows_the_form_and_saving_goes_back(
    cast: Cast, anna: Person
) -> None:
    client = _client(cast.manager)
    page = client.get(_person_edit(anna, "email"))
    assert page.status_code == 200
    assert 'value="anna@example.org"' in page.content.decode()

    response = client.post(_person_edit(anna, "email"), {"email": " Anna.K@Example.org "})

    assert response.status_code == 302
    assert response["Location"] == reverse("web:person", args=[anna.pk])
    assert Person.objects.get(pk=anna.pk).email == "anna.k@example.org"


def test_the_script_gets_the_field_alone_with_its_new_text(cast: Cast, anna: Person) -> None:
    response = _client(cast.manager).post(
        _person_edit(anna, "company"), {"company": "Keller Bakery"}, **SCRIPT
    )

    assert response.status_code == 200
    assert response["X-Inplace"] == "1"
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="inplace"')
    assert '<span class="inplace-value">Keller Bakery</span>' in html
    assert "<html" not in html
    assert Person.objects.get(pk=anna.pk).company.name == "Keller Bakery"  # type: ignore[union-attr]


def test_a_duplicate_email_is_shown_on_the_field_and_nothing_is_saved(
    cast: Cast, anna: Person
) -> None:
    twin = PersonFactory(name="Anna K.", email="twin@example.org", owner=cast.manager)
    response = _client(cast.manager).post(
        _person_edit(anna, "email"), {"email": "twin@example.org"}, **SCRIPT
    )

    assert response.status_code == 400
    form = response.context["field"].form
    assert form.errors["email"] == [
        f"Anna K. (#{twin.pk}) already has this e-mail address. Merge the two people "
        "instead of entering it twice."
    ]
    html = response.content.decode()
    assert 'value="twin@example.org"' in html  # what was typed stays in the form
    assert "hidden" not in html.split("<form", 1)[1].split(">", 1)[0]  # the form stays open
    assert Person.objects.get(pk=anna.pk).email == "anna@example.org"
    assert AuditAction.UPDATE not in actions_of(anna)


def test_the_plain_page_shows_the_error_too(cast: Cast, anna: Person) -> None:
    response = _client(cast.manager).post(_person_edit(anna, "name"), {"name": "   "})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"


def test_a_manager_cannot_edit_another_managers_person(cast: Cast, anna: Person) -> None:
    response = _client(cast.outsider).post(
        _person_edit(anna, "name"), {"name": "Hijacked"}, **SCRIPT
    )

    assert response.status_code == 404
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"


def test_a_manager_cannot_hand_their_person_to_someone_else(cast: Cast, anna: Person) -> None:
    response = _client(cast.manager).post(
        _person_edit(anna, "owner"), {"owner": cast.head.pk}, **SCRIPT
    )

    assert response.status_code == 400
    assert response.context["field"].form.errors["owner"]
    assert Person.objects.get(pk=anna.pk).owner == cast.manager


def test_a_head_hands_a_person_to_a_team_member(cast: Cast) -> None:
    person = PersonFactory(owner=cast.head)
    response = _client(cast.head).post(
        _person_edit(person, "owner"), {"owner": cast.manager.pk}, **SCRIPT
    )

    assert response.status_code == 200
    assert "Maria Manager" in response.content.decode()
    assert Person.objects.get(pk=person.pk).owner == cast.manager


def test_an_unknown_field_is_404(cast: Cast, anna: Person, deal: Deal) -> None:
    client = _client(cast.manager)
    assert client.get(_person_edit(anna, "external_id")).status_code == 404
    assert client.post(_deal_edit(deal, "status"), {"version": 1}).status_code == 404


def test_a_name_with_markup_comes_back_escaped(cast: Cast, anna: Person) -> None:
    payload = '<img src=x onerror="alert(1)">'
    response = _client(cast.manager).post(_person_edit(anna, "name"), {"name": payload}, **SCRIPT)

    html = response.content.decode()
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert Person.objects.get(pk=anna.pk).name == payload
    page = _client(cast.manager).get(reverse("web:person", args=[anna.pk])).content.decode()
    assert "<img src=x" not in page


# --- The deal page --------------------------------------------------------------------------------


def test_the_deal_page_offers_title_amount_and_currency_and_loads_the_script(
    cast: Cast, deal: Deal
) -> None:
    html = _client(cast.manager).get(reverse("web:deal", args=[deal.pk])).content.decode()

    for field in ("title", "amount", "currency"):
        assert f'href="{_deal_edit(deal, field)}"' in html
    assert f'href="{_deal_edit(deal, "owner")}"' not in html  # managers cannot hand deals over
    assert "web/inplace.js" in html
    assert 'data-version="1"' in html
    assert f'href="{reverse("web:person", args=[deal.person_id])}"' in html


def test_saving_an_amount_answers_the_field_with_the_new_version(cast: Cast, deal: Deal) -> None:
    response = _client(cast.manager).post(
        _deal_edit(deal, "amount"), {"amount": "1250.5", "version": 1}, **SCRIPT
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-version="2"' in html
    assert '<input type="hidden" name="version" value="2">' in html
    assert "1,250.50" in html
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("1250.50"), 2)


def test_without_javascript_a_title_is_saved_and_the_deal_page_follows(
    cast: Cast, deal: Deal
) -> None:
    client = _client(cast.manager)
    assert 'name="version"' in client.get(_deal_edit(deal, "title")).content.decode()

    response = client.post(_deal_edit(deal, "title"), {"title": "Oven upgrade", "version": 1})

    assert response.status_code == 302
    assert response["Location"] == reverse("web:deal", args=[deal.pk])
    deal.refresh_from_db()
    assert deal.title == "Oven upgrade"


def test_a_stale_edit_is_a_plain_conflict_and_changes_nothing(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    deal_move(deal_id=deal.pk, stage=pipeline.stages.get(position=2), version=1, by=cast.head)
    response = _client(cast.manager).post(
        _deal_edit(deal, "amount"), {"amount": "1", "version": 1}, **SCRIPT
    )

    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else changed this deal" in html
    # The answer keeps the stale version: saving again without reloading stays a conflict.
    assert '<input type="hidden" name="version" value="1">' in html
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("500.00"), 2)


def test_a_negative_amount_is_refused_on_the_field(cast: Cast, deal: Deal) -> None:
    response = _client(cast.manager).post(
        _deal_edit(deal, "amount"), {"amount": "-5", "version": 1}, **SCRIPT
    )

    assert response.status_code == 400
    assert response.context["field"].form.errors["amount"]
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("500.00"), 1)


def test_a_bad_currency_from_the_service_is_shown_on_the_field(cast: Cast, deal: Deal) -> None:
    response = _client(cast.manager).post(
        _deal_edit(deal, "currency"), {"currency": "E1R", "version": 1}, **SCRIPT
    )

    assert response.status_code == 400
    assert response.context["field"].form.errors["currency"] == [
        "A currency is its three-letter ISO 4217 code, e.g. EUR."
    ]
    deal.refresh_from_db()
    assert deal.currency == "EUR"


def test_a_head_hands_the_deal_over_in_place(cast: Cast, deal: Deal) -> None:
    client = _client(cast.head)
    assert (
        f'href="{_deal_edit(deal, "owner")}"'
        in client.get(reverse("web:deal", args=[deal.pk])).content.decode()
    )

    response = client.post(
        _deal_edit(deal, "owner"), {"owner": cast.head.pk, "version": 1}, **SCRIPT
    )

    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.owner, deal.version) == (cast.head, 2)
    assert actions_of(deal)[-1] == AuditAction.ASSIGN


def test_an_outsider_gets_404_and_the_deal_is_unchanged(cast: Cast, deal: Deal) -> None:
    client = _client(cast.outsider)
    assert client.get(_deal_edit(deal, "amount")).status_code == 404
    response = client.post(_deal_edit(deal, "amount"), {"amount": "1", "version": 1}, **SCRIPT)

    assert response.status_code == 404
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("500.00"), 1)


@pytest.mark.parametrize(("viewer", "expected"), [("manager", 22), ("head", 23)])
def test_the_deal_page_runs_a_fixed_number_of_queries(
    cast: Cast, deal: Deal, django_assert_num_queries: object, viewer: str, expected: int
) -> None:
    """The same count with one touch as with many (heads also get the owner choices)."""
    client = _client(getattr(cast, viewer))
    url = reverse("web:deal", args=[deal.pk])
    touch_log(by=cast.manager, kind="warming", deal=deal, note="first")
    with django_assert_num_queries(expected):  # type: ignore[operator]
        assert client.get(url).status_code == 200
    for n in range(12):
        touch_log(by=cast.manager, kind="warming", deal=deal, note=f"touch {n}")
    with django_assert_num_queries(expected):  # type: ignore[operator]
        assert client.get(url).status_code == 200
