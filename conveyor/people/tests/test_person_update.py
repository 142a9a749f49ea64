"""person_update: partial edits with normalised contacts, no duplicates, the access rule, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pytest_django import Settings

from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.people.models import Company, Person, Temperature
from conveyor.people.services import KEEP, person_erase, person_update
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import CompanyFactory, PersonFactory

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(cast: Cast) -> Person:
    return PersonFactory(
        name="Anna Keller",
        email="anna@example.org",
        phone="+359888123456",
        owner=cast.manager,
        source="website",
    )


def _row(person: Person) -> dict[str, object]:
    return Person.objects.filter(pk=person.pk).values().get()


def test_only_the_fields_given_change_and_one_audit_entry_names_them(
    cast: Cast, anna: Person
) -> None:
    person_update(
        person_id=anna.pk,
        by=cast.manager,
        name="  Anna Keller-Wolf ",
        temperature=Temperature.HOT,
        source=" referral ",
    )

    anna.refresh_from_db()
    assert (anna.name, anna.temperature, anna.source) == ("Anna Keller-Wolf", "hot", "referral")
    assert (anna.email, anna.phone) == ("anna@example.org", "+359888123456")
    [entry] = [e for e in log_of(anna) if e.action == AuditAction.UPDATE]
    assert entry.actor == cast.manager
    # Personal values are never kept in the log, only that they changed.
    assert entry.changes == {"name": None, "source": None, "temperature": ["cold", "hot"]}


def test_nothing_changed_writes_nothing(cast: Cast, anna: Person) -> None:
    before = _row(anna)
    person_update(person_id=anna.pk, by=cast.manager, name="Anna Keller", email="ANNA@example.org")

    assert _row(anna) == before
    assert AuditAction.UPDATE not in actions_of(anna)


def test_contacts_are_normalised(cast: Cast, anna: Person, settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = "BG"
    person_update(
        person_id=anna.pk, by=cast.manager, email=" Anna.K@Example.ORG ", phone="0888 765 432"
    )

    anna.refresh_from_db()
    assert (anna.email, anna.phone) == ("anna.k@example.org", "+359888765432")


def test_a_contact_not_given_stays_exactly_as_stored(cast: Cast) -> None:
    legacy = PersonFactory(owner=cast.manager, email="", phone="0888 12-34")
    person_update(person_id=legacy.pk, by=cast.manager, email="new@example.org")

    legacy.refresh_from_db()
    assert (legacy.email, legacy.phone) == ("new@example.org", "0888 12-34")


def test_clearing_the_only_contact_is_refused_on_that_field(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager, email="only@example.org", phone="")
    with pytest.raises(ServiceError) as refused:
        person_update(person_id=person.pk, by=cast.manager, email="")

    assert refused.value.field == "email"
    assert Person.objects.get(pk=person.pk).email == "only@example.org"


def test_an_email_another_visible_person_has_is_refused_naming_them(
    cast: Cast, anna: Person
) -> None:
    twin = PersonFactory(name="Anna K.", email="twin@example.org", owner=cast.manager)
    before = _row(anna)
    with pytest.raises(ServiceError) as refused:
        person_update(person_id=anna.pk, by=cast.manager, name="Anna", email="TWIN@example.org")

    assert refused.value.field == "email"
    assert f"Anna K. (#{twin.pk}) already has this e-mail address" in refused.value.message
    assert "Merge the two people" in refused.value.message
    assert _row(anna) == before  # the name was not saved either
    assert AuditAction.UPDATE not in actions_of(anna)


def test_a_phone_of_someone_not_visible_is_refused_without_naming_them(
    cast: Cast, anna: Person
) -> None:
    PersonFactory(name="Secret Client", phone="+359888000111", owner=cast.outsider)
    with pytest.raises(ServiceError) as refused:
        person_update(person_id=anna.pk, by=cast.manager, phone="+359 888 000 111")

    assert refused.value.field == "phone"
    assert "Secret Client" not in refused.value.message
    assert "not yours to see" in refused.value.message
    assert Person.objects.get(pk=anna.pk).phone == "+359888123456"


def test_a_contact_of_an_erased_person_is_refused(cast: Cast, anna: Person) -> None:
    gone = PersonFactory(email="gone@example.org", owner=cast.manager)
    person_erase(person_id=gone.pk, by=cast.head)
    with pytest.raises(ServiceError) as refused:
        person_update(person_id=anna.pk, by=cast.manager, email="gone@example.org")

    assert refused.value.field == "email"
    assert Person.objects.get(pk=anna.pk).email == "anna@example.org"


def test_a_company_is_reused_whatever_its_case_and_an_empty_name_clears_it(
    cast: Cast, anna: Person
) -> None:
    acme = CompanyFactory(name="Acme")
    person_update(person_id=anna.pk, by=cast.manager, company_name=" ACME ")
    assert Person.objects.get(pk=anna.pk).company == acme
    assert Company.objects.count() == 1

    person_update(person_id=anna.pk, by=cast.manager, company_name="Globex")
    assert Person.objects.get(pk=anna.pk).company.name == "Globex"  # type: ignore[union-attr]

    person_update(person_id=anna.pk, by=cast.manager, company_name="")
    assert Person.objects.get(pk=anna.pk).company is None


def test_an_unknown_temperature_and_an_empty_name_are_refused(cast: Cast, anna: Person) -> None:
    with pytest.raises(ServiceError) as hot:
        person_update(person_id=anna.pk, by=cast.manager, temperature="boiling")
    assert hot.value.field == "temperature"
    with pytest.raises(ServiceError) as nameless:
        person_update(person_id=anna.pk, by=cast.manager, name="   ")
    assert nameless.value.field == "name"
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"


def test_a_manager_cannot_edit_another_managers_person(cast: Cast, anna: Person) -> None:
    before = _row(anna)
    with pytest.raises(PermissionDenied):
        person_update(person_id=anna.pk, by=cast.outsider, name="Hijacked")

    assert _row(anna) == before
    assert AuditAction.UPDATE not in actions_of(anna)


def test_a_manager_cannot_hand_their_person_to_someone_else(cast: Cast, anna: Person) -> None:
    with pytest.raises(PermissionDenied):
        person_update(person_id=anna.pk, by=cast.manager, owner=cast.head)
    with pytest.raises(PermissionDenied):
        person_update(person_id=anna.pk, by=cast.manager, owner=None)

    assert Person.objects.get(pk=anna.pk).owner == cast.manager


def test_a_head_hands_a_person_within_their_team_only(cast: Cast, anna: Person) -> None:
    person_update(person_id=anna.pk, by=cast.head, owner=cast.head)
    assert Person.objects.get(pk=anna.pk).owner == cast.head
    with pytest.raises(PermissionDenied):
        person_update(person_id=anna.pk, by=cast.head, owner=cast.outsider)
    assert Person.objects.get(pk=anna.pk).owner == cast.head

    person_update(person_id=anna.pk, by=cast.head, owner=None)
    assert Person.objects.get(pk=anna.pk).owner is None
    assert log_of(anna)[-1].changes["owner"] == [cast.head.pk, None]


def test_keep_is_the_default_for_every_field(cast: Cast, anna: Person) -> None:
    before = _row(anna)
    person_update(person_id=anna.pk, by=cast.owner, name=KEEP, owner=KEEP)

    assert _row(anna) == before


def test_a_missing_person_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as refused:
        person_update(person_id=987654, by=cast.owner, name="Nobody")
    assert refused.value.field == "person"
