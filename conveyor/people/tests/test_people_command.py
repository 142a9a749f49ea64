from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from conftest import Cast
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.people.models import Person
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _merge(*args: str) -> str:
    out = io.StringIO()
    call_command("people", "merge", *args, stdout=out)
    return out.getvalue()


def test_merge_moves_the_history_and_prints_what_it_did(cast: Cast) -> None:
    keep = PersonFactory(name="Ivan Petrov")
    drop = PersonFactory(phone="+359888123456")
    lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    output = _merge("--keep", str(keep.pk), "--drop", str(drop.pk))
    assert output.strip() == f"Merged person {drop.pk} into {keep.pk} (Ivan Petrov)."
    assert list(Person.objects.all()) == [keep]
    assert Lead.objects.get().person_id == keep.pk


def test_acting_as_a_user_who_may_see_both(cast: Cast) -> None:
    keep = PersonFactory(owner=cast.manager)
    drop = PersonFactory(owner=cast.manager)
    _merge("--keep", str(keep.pk), "--drop", str(drop.pk), "--by", "MANAGER@example.com")
    assert list(Person.objects.all()) == [keep]


def test_a_user_without_access_is_refused_and_nothing_changes(cast: Cast) -> None:
    keep = PersonFactory(owner=cast.manager)
    drop = PersonFactory(owner=cast.outsider)
    with pytest.raises(CommandError, match="Not merged: You do not have access") as caught:
        _merge("--keep", str(keep.pk), "--drop", str(drop.pk), "--by", cast.manager.email)
    assert caught.value.returncode != 0
    assert Person.objects.count() == 2


@pytest.mark.parametrize(
    ("keep", "drop", "message"),
    [
        ("same", "same", "cannot be merged into themselves"),
        ("same", "missing", r"This person does not exist\."),
    ],
)
def test_a_refused_merge_exits_non_zero_with_the_reason(
    cast: Cast, keep: str, drop: str, message: str
) -> None:
    person = PersonFactory()
    ids = {"same": str(person.pk), "missing": str(person.pk + 100)}
    with pytest.raises(CommandError, match=message) as caught:
        _merge("--keep", ids[keep], "--drop", ids[drop])
    assert caught.value.returncode != 0
    assert Person.objects.filter(pk=person.pk).exists()


def test_an_unknown_acting_user_is_refused(cast: Cast) -> None:
    keep, drop = PersonFactory(), PersonFactory()
    with pytest.raises(CommandError, match=r"No active user has the e-mail nobody@example\.com"):
        _merge("--keep", str(keep.pk), "--drop", str(drop.pk), "--by", "nobody@example.com")
    assert Person.objects.count() == 2
