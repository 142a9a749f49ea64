"""The person admin refuses the referral loops the service refuses (people/admin.py)."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.testing.admin import admin_save
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_the_admin_refuses_a_referral_loop(cast: Cast) -> None:
    top = PersonFactory(name="Top")
    middle = PersonFactory(name="Middle", referred_by=top)
    bottom = PersonFactory(name="Bottom", referred_by=middle)

    answer = admin_save(cast.owner, top, referred_by=str(bottom.pk))

    assert answer.status_code == 200
    assert "Top already stands above Bottom" in answer.content.decode()
    top.refresh_from_db()
    assert top.referred_by is None


def test_the_admin_refuses_a_person_referring_themselves(cast: Cast) -> None:
    person = PersonFactory(name="Solo")
    answer = admin_save(cast.owner, person, referred_by=str(person.pk))
    assert answer.status_code == 200
    assert "cannot refer themselves" in answer.content.decode()
    person.refresh_from_db()
    assert person.referred_by is None


def test_the_admin_still_takes_a_referrer_outside_the_chain(cast: Cast) -> None:
    person, referrer = PersonFactory(), PersonFactory()
    answer = admin_save(cast.owner, person, referred_by=str(referrer.pk))
    assert answer.status_code == 302
    person.refresh_from_db()
    assert person.referred_by == referrer
