"""After a person is erased, their e-mail and phone (in any format) are not recorded again by any
intake channel: manual and API entry are told which field, the public form thanks as usual, an
e-mail is dropped, and a CRM import refuses the row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.services import token_create
from conveyor.intake.crm_import.services import ImportRefused, crm_import_run
from conveyor.intake.mail import lead_from_message
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import form_create, lead_receive
from conveyor.intake.tests.crmfiles import deal_row, pipedrive_file, sales_pipeline
from conveyor.intake.tests.mailutil import build_message
from conveyor.people.models import Person
from conveyor.people.privacy import ContactSuppressed
from conveyor.people.services import person_erase
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _bulgarian_numbers(settings: Settings) -> None:
    settings.CONVEYOR_PHONE_REGION = "BG"


@pytest.fixture
def erased(cast: Cast) -> Person:
    person = PersonFactory(name="Anna Keller", email="anna@acme.example", phone="+359888123456")
    return person_erase(person_id=person.pk, by=cast.owner, reason="asked")


@pytest.mark.parametrize(
    ("contacts", "field"),
    [
        ({"phone": "0888123456"}, "phone"),
        ({"phone": "+359 88 812 3456"}, "phone"),
        ({"email": " ANNA@Acme.example "}, "email"),
        ({"email": "new@example.org", "phone": "0888 123 456"}, "phone"),
    ],
)
def test_a_manual_lead_with_a_suppressed_contact_is_refused_naming_the_field(
    erased: Person, contacts: dict[str, str], field: str
) -> None:
    with pytest.raises(ContactSuppressed) as error:
        lead_receive(channel=LeadChannel.MANUAL, name="Anna", **contacts)
    assert error.value.field == field
    assert not Lead.objects.exists()


def test_other_contacts_are_still_recorded(erased: Person) -> None:
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Bob", phone="0888999000")
    assert lead.phone == "+359888999000"


def test_the_api_answers_a_field_error_and_records_nothing(erased: Person, cast: Cast) -> None:
    raw = token_create(user=cast.manager, name="site").raw
    response = Client().post(
        "/api/v1/leads",
        data=json.dumps({"name": "Anna", "phone": "+359 88 812 3456"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code in (400, 422), response.content
    assert "phone" in json.dumps(response.json())
    assert not Lead.objects.exists()


def test_the_web_form_thanks_as_usual_and_records_nothing(
    erased: Person, cast: Cast, settings: Settings
) -> None:
    settings.REDIS_URL = ""
    form = form_create(name="Contact us", by=cast.owner, pipeline=sales_pipeline())
    response = Client().post(
        f"/f/{form.key}",
        data=json.dumps({"name": "Anna", "phone": "0888123456"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["ok"] is True
    html = Client().post(f"/f/{form.key}", {"name": "Anna", "email": "anna@acme.example"})
    assert html.status_code == 200
    assert not Lead.objects.exists()


def test_an_email_from_a_suppressed_address_is_not_recorded(erased: Person) -> None:
    raw = build_message(sender="Anna <ANNA@acme.example>", message_id="<again@acme.example>")
    with pytest.raises(ContactSuppressed):
        lead_from_message(raw, max_attachment_bytes=1000, max_total_bytes=1000)
    assert not Lead.objects.exists()


def test_a_crm_import_refuses_the_row_with_the_reason(erased: Person, tmp_path: Path) -> None:
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [deal_row(**{"Person - Email": "", "Person - Phone": "0888 123 456", "Deal - Owner": ""})],
    )
    with pytest.raises(ImportRefused) as error:
        crm_import_run(path=path, source="pipedrive", by=None)
    [row] = error.value.plan.refused
    assert any("erased" in issue.message for issue in row.issues)
    assert Person.objects.count() == 1 and not Lead.objects.exists()
