"""`conveyor generate-dataset OUT --deals N [--seed S]`: write a §5 dataset folder."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.dataset.generate import generate_dataset


class Command(BaseCommand):
    help = "Write a believable sales company as a dataset folder (DESIGN §5)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="Folder to write (created if missing).")
        parser.add_argument("--deals", type=int, required=True, help="How many deals.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same files.")
        parser.add_argument(
            "--start",
            type=date.fromisoformat,
            default=None,
            help="First day (YYYY-MM-DD); default: the period ends where this month begins.",
        )
        parser.add_argument("--months", type=int, default=24, help="Length of the period.")
        parser.add_argument(
            "--plain-names",
            action="store_true",
            help="Name people 'Person 1', 'Person 2'... instead of realistic names.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = generate_dataset(
                options["out"],
                deals=options["deals"],
                seed=options["seed"],
                start=options["start"],
                months=options["months"],
                realistic_names=not options["plain_names"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for name, count in result.counts.items():
            self.stdout.write(f"{name:<18} {count:>12,}")
        rate = result.total_rows / result.seconds if result.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {result.total_rows:,} rows ({result.start} .. {result.end}) to "
                f"{options['out']} in {result.seconds:.1f} s ({rate:,.0f} rows/s)."
            )
        )
