"""`conveyor demo [--if-empty] [--deals N]`: build the demo company in the current database."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandParser

from conveyor.dataset.demo import DEFAULT_DEALS, demo_build


class Command(BaseCommand):
    help = "Fill the database with a demo sales company whose history ends today."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already has deals (safe to run on every start).",
        )
        parser.add_argument("--deals", type=int, default=DEFAULT_DEALS, help="How many deals.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same company.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_build(
            deals=options["deals"],
            seed=options["seed"],
            if_empty=options["if_empty"],
            # OutputWrapper writes like a text stream; the importer only calls write().
            stdout=cast("TextIO", self.stdout),
        )
        if result.skipped:
            self.stdout.write("Demo skipped: the database already has deals.")
            return
        c = result.counts
        lines = [
            f"{c['segments']} segments, {c['pipelines']} pipelines, {c['users']} users",
            f"{c['people']:,} people, {c['deals']:,} deals: {c['open']:,} open, "
            f"{c['won']:,} won ({c['repeat_purchases']:,} repeat purchases), {c['lost']:,} lost",
            f"{c['touches']:,} touches; open tasks: {c['tasks_overdue']:,} overdue, "
            f"{c['tasks_today']:,} today, {c['tasks_upcoming']:,} upcoming; "
            f"{c['stalled']:,} stalled deals",
        ]
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Demo company built in {result.seconds:.1f} s."))
