"""The SMTP listener, for real: aiosmtpd on loopback, mail sent with smtplib."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pytest_django import Settings

from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.smtp import intake_controller
from conveyor.intake.tests.mailutil import build_message

# The handler records leads from the controller's thread: the data must really be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server(settings: Settings, tmp_path: Path) -> Iterator[Controller]:
    settings.MEDIA_ROOT = tmp_path / "media"
    controller = intake_controller(
        host="127.0.0.1",
        port=_free_port(),
        addresses=["Leads@Example.com", "sales@example.com"],
        max_attachment_bytes=1000,
        max_total_bytes=2000,
        max_message_bytes=20_000,
    )
    controller.start()
    yield controller
    controller.stop()


def _client(controller: Controller) -> smtplib.SMTP:
    return smtplib.SMTP(controller.hostname, controller.port, timeout=10)


def test_mail_to_the_intake_address_becomes_a_lead(smtp_server: Controller, tmp_path: Path) -> None:
    raw = build_message(attachments=[("brief.txt", b"20 desks", "text/plain")])
    with _client(smtp_server) as client:
        refused = client.sendmail("ana@example.org", ["leads@example.com"], raw)
    assert refused == {}
    lead = Lead.objects.get()
    assert lead.channel == LeadChannel.EMAIL
    assert lead.name == "Ana Petrova"
    assert lead.email == "ana@example.org"
    assert lead.payload["subject"] == "Quote for 20 desks"
    assert lead.payload["note"] == "Hello, please send a quote."
    assert lead.payload["recipients"] == ["leads@example.com"]
    [attachment] = lead.payload["attachments"]
    assert (tmp_path / "media" / attachment["path"]).read_bytes() == b"20 desks"


def test_the_same_message_delivered_twice_is_one_lead(smtp_server: Controller) -> None:
    raw = build_message()
    with _client(smtp_server) as client:
        client.sendmail("ana@example.org", ["leads@example.com"], raw)
        client.sendmail("ana@example.org", ["sales@example.com"], raw)
    assert Lead.objects.count() == 1


def test_rcpt_to_another_address_is_refused(smtp_server: Controller) -> None:
    with _client(smtp_server) as client:
        client.ehlo()
        client.mail("ana@example.org")
        code, _message = client.rcpt("someone-else@example.com")
        assert code == 550
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("ana@example.org", ["other@example.com"], build_message())
    assert not Lead.objects.exists()


def test_message_without_a_usable_sender_is_bounced(smtp_server: Controller) -> None:
    with _client(smtp_server) as client, pytest.raises(smtplib.SMTPDataError) as error:
        client.sendmail("", ["leads@example.com"], build_message(sender=""))
    assert error.value.smtp_code == 550
    assert not Lead.objects.exists()


def test_message_over_the_size_limit_is_refused(smtp_server: Controller) -> None:
    raw = build_message(text="x" * 30_000)
    with _client(smtp_server) as client, pytest.raises(smtplib.SMTPException):
        client.sendmail("ana@example.org", ["leads@example.com"], raw)
    assert not Lead.objects.exists()


def test_mail_from_an_erased_persons_address_is_accepted_and_not_recorded(
    smtp_server: Controller,
) -> None:
    from conveyor.people.services import person_erase
    from conveyor.testing.factories import PersonFactory

    person = PersonFactory(email="ana@example.org")
    person_erase(person_id=person.pk, by=None)
    with _client(smtp_server) as client:
        refused = client.sendmail("ana@example.org", ["leads@example.com"], build_message())
    assert refused == {}
    assert not Lead.objects.exists()
