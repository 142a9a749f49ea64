"""`person_update_bulk`: a new owner and/or temperature for many people at once, through the
access rule row by row, all or nothing, one audit entry per person changed."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.people.models import Person, Temperature
from conveyor.people.services import person_update_bulk
from conveyor.testing.audit import log_of
from conveyor.testing.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.django_db


def _state() -> dict[int, tuple[int | None, str]]:
    return {
        pk: (owner, temp)
        for pk, owner, temp in Person.objects.values_list("pk", "owner", "temperature")
    }


def test_the_head_hands_team_people_to_a_manager_with_one_entry_each(cast: Cast) -> None:
    people = [
        PersonFactory(owner=cast.head),
        PersonFactory(owner=None),
        PersonFactory(owner=cast.manager),
    ]
    written = person_update_bulk(
        person_ids=[p.pk for p in people], by=cast.head, owner=cast.manager
    )
    assert written == 3
    assert set(Person.objects.values_list("owner", flat=True)) == {cast.manager.pk}
    for person in people[:2]:
        [entry] = log_of(person)
        assert (entry.action, entry.actor_id) == (AuditAction.ASSIGN, cast.head.pk)
        assert entry.changes == {"owner": [person.owner_id, cast.manager.pk]}
    assert log_of(people[2]) == []  # already the manager's: nothing changed, nothing recorded


def test_temperature_and_owner_together_are_one_change_per_person(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager, temperature=Temperature.COLD)
    person_update_bulk(
        person_ids=[person.pk], by=cast.owner, owner=cast.head, temperature=Temperature.HOT
    )
    person.refresh_from_db()
    assert (person.owner_id, person.temperature) == (cast.head.pk, Temperature.HOT)
    [entry] = log_of(person)
    assert entry.action == AuditAction.UPDATE
    assert entry.changes == {
        "owner": [cast.manager.pk, cast.head.pk],
        "temperature": [Temperature.COLD, Temperature.HOT],
    }


def test_a_manager_warms_up_their_own_people_and_keeps_the_owner(cast: Cast) -> None:
    mine = [PersonFactory(owner=cast.manager) for _ in range(3)]
    person_update_bulk(person_ids=[p.pk for p in mine], by=cast.manager, temperature="warm")
    assert set(Person.objects.values_list("owner", "temperature")) == {(cast.manager.pk, "warm")}


def test_one_person_of_another_team_refuses_the_whole_change_and_names_them(cast: Cast) -> None:
    mine = PersonFactory(owner=cast.manager)
    theirs = PersonFactory(owner=cast.outsider)
    before = _state()
    with pytest.raises(PermissionDenied) as refused:
        person_update_bulk(person_ids=[mine.pk, theirs.pk], by=cast.manager, temperature="hot")
    assert f"#{theirs.pk}" in refused.value.message
    assert _state() == before
    assert AuditEntry.objects.count() == 0


def test_a_manager_cannot_touch_people_nobody_owns(cast: Cast) -> None:
    nobodys = PersonFactory(owner=None)
    with pytest.raises(PermissionDenied):
        person_update_bulk(person_ids=[nobodys.pk], by=cast.manager, owner=cast.manager)
    nobodys.refresh_from_db()
    assert nobodys.owner_id is None


def test_handing_people_to_another_heads_manager_is_refused(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager)
    with pytest.raises(PermissionDenied) as refused:
        person_update_bulk(person_ids=[person.pk], by=cast.head, owner=cast.outsider)
    assert refused.value.field == "owner"
    person.refresh_from_db()
    assert person.owner_id == cast.manager.pk


def test_another_heads_manager_cannot_change_the_teams_people(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager)
    with pytest.raises(PermissionDenied):
        person_update_bulk(person_ids=[person.pk], by=cast.outsider, owner=cast.outsider)
    person.refresh_from_db()
    assert person.owner_id == cast.manager.pk


def test_a_deactivated_owner_is_refused(cast: Cast) -> None:
    gone = UserFactory(is_active=False)
    person = PersonFactory(owner=cast.manager)
    with pytest.raises(ServiceError, match="deactivated"):
        person_update_bulk(person_ids=[person.pk], by=cast.owner, owner=gone)
    person.refresh_from_db()
    assert person.owner_id == cast.manager.pk


def test_a_missing_person_is_named_and_nothing_changes(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager)
    with pytest.raises(ServiceError, match=f"#{person.pk + 100}"):
        person_update_bulk(
            person_ids=[person.pk, person.pk + 100], by=cast.owner, temperature="hot"
        )
    person.refresh_from_db()
    assert person.temperature == Temperature.COLD


@pytest.mark.parametrize(
    ("ids", "kwargs", "field"),
    [
        ([], {"temperature": "hot"}, "people"),
        ([1], {}, "owner"),
        ([1], {"temperature": "boiling"}, "temperature"),
    ],
)
def test_nothing_to_do_or_a_bad_temperature_is_refused(
    cast: Cast, ids: list[int], kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        person_update_bulk(person_ids=ids, by=cast.owner, **kwargs)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_the_system_may_change_anyone(cast: Cast) -> None:
    person = PersonFactory(owner=cast.outsider)
    person_update_bulk(person_ids=[person.pk], by=None, owner=cast.manager)
    person.refresh_from_db()
    assert person.owner_id == cast.manager.pk
    assert log_of(person)[0].actor_id is None
