"""person_create normalises contacts; person_link_referral refuses self-referral and cycles."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.db import connection
from pytest_django import Settings

from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.people.models import Company, Person, Temperature
from conveyor.people.services import contacts_clean, person_create, person_link_referral
from conveyor.testing.factories import PersonFactory

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def bg_phones(settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = "BG"


# --- person_create ------------------------------------------------------------------------------


def test_person_is_created_with_trimmed_fields(cast: Cast) -> None:
    person = person_create(
        name="  Ivana Petrova ",
        email="ivana@example.org",
        source=" website ",
        temperature=Temperature.WARM,
        by=cast.manager,
        owner=cast.manager,
    )

    person.refresh_from_db()
    assert person.name == "Ivana Petrova"
    assert person.source == "website"
    assert person.temperature == Temperature.WARM
    assert person.owner == cast.manager
    assert person.company is None


def test_email_is_trimmed_and_lower_cased(cast: Cast) -> None:
    person = person_create(name="Ivana", email="  Ivana.Petrova@Example.ORG ", by=None)

    assert Person.objects.get(pk=person.pk).email == "ivana.petrova@example.org"


def test_an_email_without_at_sign_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as exc:
        person_create(name="Ivana", email="ivana.example.org", by=None)

    assert exc.value.field == "email"
    assert Person.objects.count() == 0


@pytest.mark.usefixtures("bg_phones")
@pytest.mark.parametrize(
    "raw", ["0888 123 456", "+359 888 123 456", "00359-888-123-456", "(0888) 12-34-56"]
)
def test_phone_is_normalised_to_e164(cast: Cast, raw: str) -> None:
    person = person_create(name="Ivana", phone=raw, by=None)

    assert Person.objects.get(pk=person.pk).phone == "+359888123456"


def test_a_blank_phone_stays_empty(cast: Cast) -> None:
    person = person_create(name="Ivana", email="i@example.org", phone="   ", by=None)

    assert Person.objects.get(pk=person.pk).phone == ""


def test_company_is_reused_by_name(cast: Cast) -> None:
    first = person_create(name="Ivana", email="i@example.org", company_name="Acme", by=None)
    second = person_create(name="Georgi", email="g@example.org", company_name=" Acme ", by=None)

    assert first.company is not None
    assert first.company == second.company
    assert first.company.name == "Acme"
    assert Company.objects.count() == 1


def test_a_new_company_name_creates_a_company(cast: Cast) -> None:
    person_create(name="Ivana", email="i@example.org", company_name="Acme", by=None)

    other = person_create(name="Georgi", email="g@example.org", company_name="Globex", by=None)

    assert other.company is not None
    assert other.company.name == "Globex"
    assert Company.objects.count() == 2


def test_an_over_long_company_name_is_a_field_error_and_nothing_is_written(cast: Cast) -> None:
    with pytest.raises(ServiceError) as exc:
        person_create(name="Ivana", email="i@example.org", company_name="A" * 201, by=None)

    assert exc.value.field == "company"
    assert Person.objects.count() == 0
    assert Company.objects.count() == 0


def test_a_company_name_at_the_limit_is_kept_whole(cast: Cast) -> None:
    # Spaces around it do not count against the limit: they are trimmed first.
    person = person_create(
        name="Ivana", email="i@example.org", company_name=f" {'A' * 200} ", by=None
    )

    assert person.company is not None
    assert person.company.name == "A" * 200


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused_and_nothing_is_written(cast: Cast, name: str) -> None:
    with pytest.raises(ServiceError) as exc:
        person_create(name=name, email="i@example.org", company_name="Acme", by=None)

    assert exc.value.field == "name"
    assert Person.objects.count() == 0
    assert Company.objects.count() == 0


def test_a_manager_cannot_create_a_person_for_another_teams_manager(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        person_create(name="Ivana", email="i@example.org", by=cast.manager, owner=cast.outsider)

    assert Person.objects.count() == 0


def test_the_head_can_create_a_person_for_a_team_member(cast: Cast) -> None:
    person = person_create(name="Ivana", email="i@example.org", by=cast.head, owner=cast.manager)

    assert person.owner == cast.manager


def test_a_person_without_any_contact_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError):
        person_create(name="Ivana", by=None)

    assert Person.objects.count() == 0


def test_an_unknown_temperature_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as exc:
        person_create(name="Ivana", email="i@example.org", temperature="boiling", by=None)

    assert exc.value.field == "temperature"
    assert Person.objects.count() == 0


# --- person_link_referral -----------------------------------------------------------------------


def test_a_valid_referral_is_stored(cast: Cast) -> None:
    anna = PersonFactory(owner=cast.manager)
    boris = PersonFactory(owner=cast.manager)

    linked = person_link_referral(person_id=boris.pk, referred_by_id=anna.pk, by=cast.manager)

    assert linked.referred_by == anna
    assert Person.objects.get(pk=boris.pk).referred_by == anna
    assert list(anna.referrals.all()) == [boris]


def test_self_referral_is_refused(cast: Cast) -> None:
    anna = PersonFactory(owner=cast.manager)

    with pytest.raises(ServiceError) as exc:
        person_link_referral(person_id=anna.pk, referred_by_id=anna.pk, by=cast.manager)

    assert exc.value.field == "referred_by"
    assert Person.objects.get(pk=anna.pk).referred_by is None


def test_a_referral_cycle_is_refused(cast: Cast) -> None:
    anna = PersonFactory(owner=cast.manager)
    boris = PersonFactory(owner=cast.manager)
    person_link_referral(person_id=boris.pk, referred_by_id=anna.pk, by=cast.manager)

    with pytest.raises(ServiceError) as exc:
        person_link_referral(person_id=anna.pk, referred_by_id=boris.pk, by=cast.manager)

    assert exc.value.field == "referred_by"
    assert Person.objects.get(pk=anna.pk).referred_by is None


def test_a_longer_referral_cycle_is_refused(cast: Cast) -> None:
    anna, boris, vera = (PersonFactory(owner=cast.manager) for _ in range(3))
    person_link_referral(person_id=boris.pk, referred_by_id=anna.pk, by=cast.manager)
    person_link_referral(person_id=vera.pk, referred_by_id=boris.pk, by=cast.manager)

    with pytest.raises(ServiceError):
        person_link_referral(person_id=anna.pk, referred_by_id=vera.pk, by=cast.manager)

    assert Person.objects.get(pk=anna.pk).referred_by is None


def test_relinking_to_another_referrer_is_allowed(cast: Cast) -> None:
    anna, boris, vera = (PersonFactory(owner=cast.manager) for _ in range(3))
    person_link_referral(person_id=vera.pk, referred_by_id=anna.pk, by=cast.manager)

    person_link_referral(person_id=vera.pk, referred_by_id=boris.pk, by=cast.manager)

    assert Person.objects.get(pk=vera.pk).referred_by == boris


def test_the_outsider_cannot_link_the_managers_person(cast: Cast) -> None:
    anna = PersonFactory(owner=cast.outsider)
    boris = PersonFactory(owner=cast.manager)

    with pytest.raises(PermissionDenied):
        person_link_referral(person_id=boris.pk, referred_by_id=anna.pk, by=cast.outsider)

    assert Person.objects.get(pk=boris.pk).referred_by is None


def test_an_unknown_referrer_is_refused_with_a_service_error(cast: Cast) -> None:
    boris = PersonFactory(owner=cast.manager)

    with pytest.raises(ServiceError):
        person_link_referral(person_id=boris.pk, referred_by_id=999_999, by=cast.manager)


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no row locks (SELECT ... FOR UPDATE is a no-op); needs PostgreSQL",
)
def test_linking_a_referral_works_on_postgresql(cast: Cast) -> None:
    anna = PersonFactory(owner=cast.manager)
    boris = PersonFactory(owner=cast.manager)

    person_link_referral(person_id=boris.pk, referred_by_id=anna.pk, by=cast.manager)

    assert Person.objects.get(pk=boris.pk).referred_by == anna


@pytest.mark.parametrize("phone", ["not a phone", "0" * 40, "12"])
def test_a_phone_that_is_no_number_is_refused(phone: str) -> None:
    with pytest.raises(ServiceError) as error:
        contacts_clean(email="", phone=phone, missing_field="phone")
    assert error.value.field == "phone"


@pytest.mark.parametrize(("raw", "kept"), [("0888 123 456", "+359888123456"), ("112", "112")])
def test_short_and_local_numbers_are_kept(raw: str, kept: str, settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = "BG"
    assert contacts_clean(email="", phone=raw, missing_field="phone") == ("", kept)
