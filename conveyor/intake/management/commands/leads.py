"""`conveyor leads list [--status S] --format json|csv`: the intake records, oldest first."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from conveyor.analytics.reports import to_csv
from conveyor.intake.models import LeadStatus
from conveyor.intake.selectors import leads

FORMATS = ("json", "csv")
COLUMNS = ("id", "status", "channel", "received_at", "person_id", "deal_id")


class Command(BaseCommand):
    help = "List intake records (leads) as JSON or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", metavar="command", required=True)
        listing = commands.add_parser("list", help="list leads", description="List leads.")
        listing.add_argument(
            "--status", choices=LeadStatus.values, help="only leads in this status"
        )
        listing.add_argument("--format", choices=FORMATS, default="json", help="default: json")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = [
            {
                "id": lead["id"],
                "status": lead["status"],
                "channel": lead["channel"],
                "received_at": lead["received_at"].isoformat(),
                "person_id": lead["person_id"],
                "deal_id": lead["deal_id"],
            }
            for lead in leads(status=options["status"]).values(*COLUMNS)
        ]
        if options["format"] == "csv":
            table = [["" if row[c] is None else row[c] for c in COLUMNS] for row in rows]
            self.stdout.write(to_csv(COLUMNS, table), ending="")
        else:
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
