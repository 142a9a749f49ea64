"""The IMAP poller: every unseen message in the intake mailbox becomes a lead.

A message is marked \\Seen only after its lead is committed; one that cannot be recorded stays
unseen (and so is tried again on the next pass) and is logged, so nothing is lost.
"""

from __future__ import annotations

import imaplib
import logging
from dataclasses import dataclass
from typing import Any

from conveyor.core.errors import ServiceError
from conveyor.intake.mail import lead_from_message
from conveyor.people.privacy import ContactSuppressed

logger = logging.getLogger(__name__)


@dataclass
class PollResult:
    """One pass: leads recorded (or found already recorded), messages left unseen, and messages
    from erased people's addresses (marked seen, nothing recorded)."""

    recorded: int = 0
    failed: int = 0
    suppressed: int = 0


def _check(response: tuple[str, Any], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {data!r}")
    return data


def imap_poll(
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    mailbox: str,
    ssl: bool,
    max_attachment_bytes: int,
    max_total_bytes: int,
    timeout: float = 60,
) -> PollResult:
    """Fetch the mailbox's unseen messages, record each as a lead, then mark it seen.

    Connection and login problems raise imaplib.IMAP4.error or OSError; a single message that
    cannot be recorded is only counted in `failed`.
    """
    result = PollResult()
    client_class = imaplib.IMAP4_SSL if ssl else imaplib.IMAP4
    with client_class(host, port, timeout=timeout) as client:
        _check(client.login(user, password), "LOGIN")
        _check(client.select(mailbox), f"SELECT {mailbox}")
        uids = _check(client.uid("SEARCH", "UNSEEN"), "SEARCH")
        for uid in (uids[0] or b"").decode().split():
            # BODY.PEEK leaves the message unseen until its lead is safely committed.
            data = _check(client.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
            raw = next(
                (item[1] for item in data if isinstance(item, tuple) and len(item) > 1), None
            )
            if not isinstance(raw, bytes):
                logger.warning("IMAP message %s: no body returned, left unseen", uid)
                result.failed += 1
                continue
            try:
                lead = lead_from_message(
                    raw, max_attachment_bytes=max_attachment_bytes, max_total_bytes=max_total_bytes
                )
            except ContactSuppressed:
                # An erased person wrote again: nothing is recorded, and the message is marked
                # seen so it is not read on every pass. The address is not logged.
                _check(client.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "STORE")
                logger.info("IMAP message %s from a suppressed address, not recorded", uid)
                result.suppressed += 1
                continue
            except ServiceError as error:
                logger.warning("IMAP message %s refused, left unseen: %s", uid, error)
                result.failed += 1
                continue
            except Exception:
                # Deliberately broad: one bad message must not stop the others.
                logger.exception("IMAP message %s could not be recorded, left unseen", uid)
                result.failed += 1
                continue
            _check(client.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "STORE")
            logger.info("IMAP message %s recorded as lead %s", uid, lead.pk)
            result.recorded += 1
    return result
