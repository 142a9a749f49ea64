"""`conveyor intake-mail [--loop SECONDS]`: record the IMAP mailbox's unseen messages as leads."""

from __future__ import annotations

import imaplib
import logging
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from conveyor.intake.imap import PollResult, imap_poll

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Poll the IMAP mailbox (CONVEYOR_IMAP_*) once, or every SECONDS with --loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", type=float, metavar="SECONDS", help="keep polling, this many seconds apart"
        )

    def _poll(self) -> PollResult:
        return imap_poll(
            host=settings.CONVEYOR_IMAP_HOST,
            port=settings.CONVEYOR_IMAP_PORT,
            user=settings.CONVEYOR_IMAP_USER,
            password=settings.CONVEYOR_IMAP_PASSWORD,
            mailbox=settings.CONVEYOR_IMAP_MAILBOX,
            ssl=settings.CONVEYOR_IMAP_SSL,
            max_attachment_bytes=settings.CONVEYOR_MAIL_MAX_ATTACHMENT_BYTES,
            max_total_bytes=settings.CONVEYOR_MAIL_MAX_TOTAL_BYTES,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CONVEYOR_IMAP_HOST or not settings.CONVEYOR_IMAP_USER:
            raise CommandError("Set CONVEYOR_IMAP_HOST and CONVEYOR_IMAP_USER first.")
        interval = options["loop"]
        if interval is not None and interval <= 0:
            raise CommandError("--loop needs a positive number of seconds.")
        while True:
            try:
                result = self._poll()
            except (imaplib.IMAP4.error, OSError) as error:
                if interval is None:
                    raise CommandError(f"IMAP: {error}") from None
                # A mail server restart must not end the loop: try again next round.
                logger.warning("IMAP poll failed: %s", error)
            else:
                self.stdout.write(f"recorded {result.recorded}, left unseen {result.failed}")
            if interval is None:
                return
            close_old_connections()
            time.sleep(interval)
