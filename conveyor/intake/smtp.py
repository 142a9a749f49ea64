"""The SMTP listener's handler (aiosmtpd): mail to the intake addresses becomes leads.

aiosmtpd runs an asyncio loop; the Django ORM is synchronous, so each message is recorded through
`sync_to_async(..., thread_sensitive=True)`, one message at a time on one thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiosmtpd.controller import Controller
from asgiref.sync import sync_to_async
from django.db import connections

from conveyor.core.errors import ServiceError
from conveyor.intake.mail import lead_from_message
from conveyor.people.privacy import ContactSuppressed

logger = logging.getLogger(__name__)


class IntakeHandler:
    """Accepts RCPT only for `addresses`; records every accepted message as a lead."""

    def __init__(
        self, *, addresses: Iterable[str], max_attachment_bytes: int, max_total_bytes: int
    ) -> None:
        self.addresses = {address.strip().lower() for address in addresses if address.strip()}
        self.max_attachment_bytes = max_attachment_bytes
        self.max_total_bytes = max_total_bytes

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.strip().lower() not in self.addresses:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            lead_id = await sync_to_async(self._record, thread_sensitive=True)(
                raw, list(envelope.rcpt_tos)
            )
        except ContactSuppressed:
            # An erased person's address: accepted and dropped, so the sender learns nothing
            # and nothing is recorded; the address is not logged either.
            logger.info("e-mail from a suppressed address, not recorded")
            return "250 OK"
        except ServiceError as error:
            # Refused for good (no usable sender): the sending server bounces it, so the
            # sender hears about it and nothing disappears silently.
            logger.warning("e-mail from %s refused: %s", envelope.mail_from, error.message)
            return f"550 5.6.0 {error.message}"
        except Exception:
            # A database outage or a bug: a temporary failure makes the sender retry later.
            logger.exception("e-mail from %s could not be recorded", envelope.mail_from)
            return "451 4.3.0 Could not record the message, try again later"
        return f"250 OK lead {lead_id}"

    def _record(self, raw: bytes, recipients: list[str]) -> int:
        try:
            lead = lead_from_message(
                raw,
                max_attachment_bytes=self.max_attachment_bytes,
                max_total_bytes=self.max_total_bytes,
                recipients=recipients,
            )
        finally:
            # Mail arrives seldom compared with web requests: a connection held between messages
            # would mostly sit idle and go stale (or block dropping a test database).
            connections.close_all()
        return lead.pk


def intake_controller(
    *,
    host: str,
    port: int,
    addresses: Iterable[str],
    max_attachment_bytes: int,
    max_total_bytes: int,
    max_message_bytes: int,
) -> Controller:
    """An aiosmtpd Controller (not started) serving the intake handler on host:port."""
    handler = IntakeHandler(
        addresses=addresses,
        max_attachment_bytes=max_attachment_bytes,
        max_total_bytes=max_total_bytes,
    )
    return Controller(handler, hostname=host, port=port, data_size_limit=max_message_bytes)
