"""Case-insensitive lookups fold every script on both databases (core/lookups.py)."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.people.models import Company, Person
from conveyor.people.selectors import people_list
from conveyor.people.services import person_create
from conveyor.testing.factories import CompanyFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Person]:
    return {
        "ivan": PersonFactory(name="Иван Петров", email="ivan@example.com"),
        "maria": PersonFactory(name="Мария Иванова", email="maria@example.com"),
        "georgi": PersonFactory(name="ГЕОРГИ ДИМИТРОВ", email="g@example.com"),
        "anna": PersonFactory(name="Anna Schmidt", email="anna@example.com"),
    }


def _names(**lookup: str) -> set[str]:
    return set(Person.objects.filter(**lookup).values_list("name", flat=True))


def test_icontains_finds_cyrillic_whatever_its_case(people: dict[str, Person]) -> None:
    assert _names(name__icontains="иван") == {"Иван Петров", "Мария Иванова"}
    assert _names(name__icontains="ИВАН") == {"Иван Петров", "Мария Иванова"}
    assert _names(name__icontains="георги") == {"ГЕОРГИ ДИМИТРОВ"}


def test_the_other_case_insensitive_lookups_fold_cyrillic_too(people: dict[str, Person]) -> None:
    assert _names(name__iexact="иван петров") == {"Иван Петров"}
    assert _names(name__istartswith="мария") == {"Мария Иванова"}
    assert _names(name__iendswith="димитров") == {"ГЕОРГИ ДИМИТРОВ"}


def test_ascii_lookups_and_like_wildcards_behave_as_before(people: dict[str, Person]) -> None:
    assert _names(name__icontains="SCHMIDT") == {"Anna Schmidt"}
    PersonFactory(name="Иван_Петров 100%")
    # The user's % and _ are literal characters, not wildcards, in the folded comparison too.
    assert _names(name__icontains="н_п") == {"Иван_Петров 100%"}
    assert _names(name__icontains="0% и") == set()
    assert _names(name__icontains="100%") == {"Иван_Петров 100%"}


def test_case_sensitive_lookups_stay_case_sensitive(people: dict[str, Person]) -> None:
    assert _names(name__exact="иван петров") == set()


def test_the_people_search_finds_a_russian_name_typed_in_lower_case(
    cast: Cast, people: dict[str, Person]
) -> None:
    found = people_list(cast.owner, search="петров")
    assert [person.name for person in found] == ["Иван Петров"]


def test_a_company_typed_in_another_case_is_the_same_company(cast: Cast) -> None:
    company = CompanyFactory(name="Ромашка Трейд")
    person = person_create(
        name="Олга", email="olga@example.com", company_name="РОМАШКА трейд", by=cast.owner
    )
    assert person.company == company
    assert Company.objects.count() == 1
