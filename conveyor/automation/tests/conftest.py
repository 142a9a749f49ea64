"""Fixtures of the e-mail tests: a real SMTP server (aiosmtpd) on loopback, a client and a deal."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage as ParsedMessage
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from pytest_django import Settings

from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.pipelines.tests.support import T0
from conveyor.testing.factories import CompanyFactory, PersonFactory

if TYPE_CHECKING:
    from conftest import Cast

# --- The SMTP server ------------------------------------------------------------------------


@dataclass
class Inbox:
    """What the test SMTP server received, and how it is told to answer."""

    envelopes: list[Any] = field(default_factory=list)
    refuse_rcpt: str = ""  # e.g. "550 5.1.1 No such user"
    data_reply: str = ""  # e.g. "550 5.7.1 Rejected" or "451 4.3.0 Try later"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[ParsedMessage]:
        return [
            email.message_from_bytes(envelope.content, policy=email.policy.default)
            for envelope in self.envelopes
        ]

    def only(self) -> ParsedMessage:
        [message] = self.messages()
        return message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_port(settings: Settings) -> int:
    """Django's real SMTP backend (tests default to locmem), pointed at a free loopback port."""
    port = _free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Conveyor <sales@conveyor.example>"
    return port


def smtp_start(inbox: Inbox, port: int) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = smtp_start(inbox, smtp_port)
    yield inbox
    controller.stop()


@pytest.fixture
def person(cast: Cast) -> Person:
    return PersonFactory(
        name="Ана Петрова",
        email="ana@example.org",
        phone="+359888123456",
        company=CompanyFactory(name="Пример ООД"),
        owner=cast.manager,
    )


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    return deal_open(
        person=person,
        pipeline=pipeline,
        owner=cast.manager,
        by=None,
        title="Бюра",
        amount=Decimal("1500.00"),
        currency="EUR",
        at=T0,
    )
