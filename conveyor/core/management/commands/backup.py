"""`conveyor backup [--output FILE]`: a consistent copy of the whole database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.core.backup import backup_create
from conveyor.core.errors import ServiceError


class Command(BaseCommand):
    help = "Back up the database (SQLite: online backup API; PostgreSQL: pg_dump -Fc)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="default: var/backups/conveyor-<time>")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = backup_create(path=options["output"])
        except ServiceError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Backup written to {path}")
