"""`conveyor restore FILE --yes`: replace the database's content with a backup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.core.backup import backup_restore
from conveyor.core.errors import ServiceError


class Command(BaseCommand):
    help = "Restore a backup made by `conveyor backup`, replacing everything in the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--yes", action="store_true", help="confirm: the current data is replaced"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            raise CommandError("This replaces every record in the database; add --yes to go on.")
        try:
            backup_restore(path=options["file"])
        except ServiceError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Restored {options['file']}")
