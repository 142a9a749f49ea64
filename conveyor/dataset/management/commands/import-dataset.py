"""`conveyor import-dataset DIR`: load a DESIGN §5 dataset folder, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.dataset.importer import DatasetInvalid, import_dataset

# Enough to see the pattern of what is wrong; the rest is counted.
SHOW_ERRORS = 100


class Command(BaseCommand):
    help = (
        "Import a dataset folder (users.csv, deals.csv, ... as in DESIGN §5) in one transaction. "
        "Records whose id was imported before are skipped, so a second run changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dir", type=Path, help="The dataset folder.")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])
        try:
            result = import_dataset(options["dir"], stdout=self.stdout if verbosity >= 2 else None)
        except DatasetInvalid as exc:
            for error in exc.errors[:SHOW_ERRORS]:
                self.stderr.write(str(error))
            hidden = exc.total - min(len(exc.errors), SHOW_ERRORS)
            if hidden > 0:
                self.stderr.write(f"... and {hidden:,} more")
            raise CommandError(
                f"{exc.total:,} error(s) in {options['dir']}; nothing was imported."
            ) from exc
        if verbosity < 1:
            return
        self.stdout.write(f"{'file':<18} {'read':>12} {'inserted':>12} {'skipped':>12}")
        for name, count in result.files.items():
            self.stdout.write(
                f"{name:<18} {count.read:>12,} {count.inserted:>12,} {count.skipped:>12,}"
            )
        for what, number in result.derived.items():
            if number:
                self.stdout.write(f"also created: {number:,} {what}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows:,} rows in {result.seconds:.1f} s "
                f"({result.rows_per_second:,.0f} rows/s)."
            )
        )
