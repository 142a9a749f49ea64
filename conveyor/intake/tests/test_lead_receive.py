from __future__ import annotations

import pytest
from django.test import override_settings

from conveyor.core.errors import ServiceError
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import lead_receive
from conveyor.people.models import Person
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


@override_settings(CONVEYOR_PHONE_REGION="BG")
def test_lead_matching_person_by_phone_written_differently_is_linked() -> None:
    person = PersonFactory(phone="+359888123456", email="")
    lead = lead_receive(channel=LeadChannel.WEB_FORM, name="Ivan", phone="0888 12-34-56")
    assert lead.status == LeadStatus.INBOX
    assert lead.phone == "+359888123456"
    assert lead.person_id == person.pk
    assert Person.objects.count() == 1


def test_lead_matching_person_by_email_case_is_linked() -> None:
    person = PersonFactory(email="ana@example.org")
    lead = lead_receive(channel=LeadChannel.EMAIL, name="Ana", email="  Ana@Example.ORG ")
    assert lead.email == "ana@example.org"
    assert lead.person_id == person.pk


def test_new_contact_is_not_linked() -> None:
    lead = lead_receive(channel=LeadChannel.MANUAL, name="New", phone="+359888000111")
    assert lead.person_id is None


def test_same_idempotency_key_twice_gives_one_lead() -> None:
    first = lead_receive(
        channel=LeadChannel.API, name="Ivan", email="i@x.org", idempotency_key="k1"
    )
    second = lead_receive(
        channel=LeadChannel.API, name="Ivan again", email="i@x.org", idempotency_key="k1"
    )
    assert second.pk == first.pk
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Ivan"}, "phone"),
        ({"name": "  ", "phone": "+359888123456"}, "name"),
        ({"name": "Ivan", "email": "not-an-email"}, "email"),
        ({"name": "Ivan", "phone": "+359888123456", "channel": "fax"}, "channel"),
    ],
)
def test_invalid_leads_are_refused(kwargs: dict[str, str], field: str) -> None:
    kwargs = {"channel": LeadChannel.MANUAL, **kwargs}
    with pytest.raises(ServiceError) as error:
        lead_receive(**kwargs)  # type: ignore[arg-type]
    assert error.value.field == field
    assert Lead.objects.count() == 0


def test_note_is_kept_in_payload() -> None:
    lead = lead_receive(
        channel=LeadChannel.CALL, name="Ivan", phone="+359888123456", note="Call at 5"
    )
    assert lead.payload["note"] == "Call at 5"
