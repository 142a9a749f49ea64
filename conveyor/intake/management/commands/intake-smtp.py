"""`conveyor intake-smtp [--host H] [--port P]`: receive e-mail for the intake addresses."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from conveyor.intake.smtp import intake_controller


class Command(BaseCommand):
    help = "Run an SMTP listener that records mail to CONVEYOR_INTAKE_ADDRESSES as leads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=2525, help="port to listen on")

    def handle(self, *args: Any, **options: Any) -> None:
        controller = intake_controller(
            host=options["host"],
            port=options["port"],
            addresses=settings.CONVEYOR_INTAKE_ADDRESSES,
            max_attachment_bytes=settings.CONVEYOR_MAIL_MAX_ATTACHMENT_BYTES,
            max_total_bytes=settings.CONVEYOR_MAIL_MAX_TOTAL_BYTES,
            max_message_bytes=settings.CONVEYOR_MAIL_MAX_MESSAGE_BYTES,
        )
        controller.start()
        addresses = ", ".join(settings.CONVEYOR_INTAKE_ADDRESSES)
        self.stdout.write(
            f"Receiving mail for {addresses} on {options['host']}:{options['port']} (Ctrl-C stops)"
        )
        try:
            # The controller serves from its own thread; this one only waits for Ctrl-C.
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
