"""The intake issue's promise, end to end: one client reaching us by web form, API, e-mail,
a manual entry and a CRM import shows up once per request, each with its channel and source,
all linked to one person; replays of each add nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.services import token_create
from conveyor.intake.crm_import.services import crm_import_run
from conveyor.intake.mail import lead_from_message
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import form_create, lead_accept, lead_receive
from conveyor.intake.tests.crmfiles import deal_row, pipedrive_file, sales_pipeline
from conveyor.intake.tests.mailutil import build_message
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal

pytestmark = pytest.mark.django_db

PHONE = "+49 30 1234567"
EMAIL = "anna@acme.example"


def _send_everything(cast: Cast, tmp_path: Path) -> str:
    """Send Anna's five requests; the API token used."""
    pipeline = sales_pipeline()
    # A manual entry first; accepting it makes Anna a known person.
    manual = lead_receive(
        channel=LeadChannel.MANUAL, name="Anna Keller", phone=PHONE, email=EMAIL, source="call"
    )
    lead_accept(lead_id=manual.pk, by=cast.owner, pipeline=pipeline, owner=cast.manager)

    form = form_create(name="Contact us", by=cast.owner, pipeline=pipeline)
    posted = Client().post(
        f"/f/{form.key}",
        data=json.dumps(
            {
                "name": "Anna K.",
                "email": "ANNA@acme.example",
                "utm_source": "google",
                "utm_campaign": "spring",
            }
        ),
        content_type="application/json",
        headers={"Idempotency-Key": "form-1"},
    )
    assert posted.status_code == 201, posted.content

    raw = token_create(user=cast.manager, name="site").raw
    assert _api_send(raw) == 201

    lead_from_message(
        build_message(sender=f"Anna Keller <{EMAIL}>", message_id="<anna-1@acme.example>"),
        max_attachment_bytes=1000,
        max_total_bytes=1000,
    )

    crm_import_run(
        path=pipedrive_file(tmp_path, [deal_row(**{"Deal - Owner": "Maria Manager"})]),
        source="pipedrive",
        by=None,
    )
    return raw


def _api_send(raw: str) -> int:
    response = Client().post(
        "/api/v1/leads",
        data=json.dumps(
            {
                "name": "Anna Keller",
                "phone": "+49301234567",
                "source": "partner",
                "utm": {"utm_source": "newsletter"},
            }
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}", "Idempotency-Key": "api-1"},
    )
    return int(response.status_code)


def test_every_channel_lands_once_and_links_one_person(
    cast: Cast, tmp_path: Path, settings: Settings
) -> None:
    settings.REDIS_URL = ""
    _send_everything(cast, tmp_path)

    leads = Lead.objects.order_by("pk")
    assert [lead.channel for lead in leads] == [
        LeadChannel.MANUAL,
        LeadChannel.WEB_FORM,
        LeadChannel.API,
        LeadChannel.EMAIL,
        LeadChannel.IMPORT,
    ]
    person = Person.objects.get()
    assert {lead.person_id for lead in leads} == {person.pk}
    by_channel = {lead.channel: lead for lead in leads}
    assert by_channel[LeadChannel.WEB_FORM].utm == {
        "utm_source": "google",
        "utm_campaign": "spring",
    }
    assert by_channel[LeadChannel.WEB_FORM].source == "Contact us"
    assert by_channel[LeadChannel.API].utm == {"utm_source": "newsletter"}
    assert by_channel[LeadChannel.API].source == "partner"
    assert by_channel[LeadChannel.IMPORT].source.lower() == "pipedrive"
    # The accepted and the imported requests sit in the funnel with their owners.
    owners = {deal.owner.email for deal in Deal.objects.select_related("owner")}
    assert owners == {cast.manager.email}


def test_replaying_every_channel_adds_nothing(
    cast: Cast, tmp_path: Path, settings: Settings
) -> None:
    settings.REDIS_URL = ""
    raw = _send_everything(cast, tmp_path)
    counts = (Lead.objects.count(), Person.objects.count(), Deal.objects.count())

    form_key = Lead.objects.get(channel=LeadChannel.WEB_FORM).form.key  # type: ignore[union-attr]
    Client().post(
        f"/f/{form_key}",
        data=json.dumps(
            {
                "name": "Anna K.",
                "email": "ANNA@acme.example",
                "utm_source": "google",
                "utm_campaign": "spring",
            }
        ),
        content_type="application/json",
        headers={"Idempotency-Key": "form-1"},
    )
    assert _api_send(raw) == 201  # the stored first answer, replayed
    lead_from_message(
        build_message(sender=f"Anna Keller <{EMAIL}>", message_id="<anna-1@acme.example>"),
        max_attachment_bytes=1000,
        max_total_bytes=1000,
    )
    crm_import_run(
        path=pipedrive_file(
            tmp_path, [deal_row(**{"Deal - Owner": "Maria Manager"})], name="again.csv"
        ),
        source="pipedrive",
        by=None,
    )
    assert (Lead.objects.count(), Person.objects.count(), Deal.objects.count()) == counts
