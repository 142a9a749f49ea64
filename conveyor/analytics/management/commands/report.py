"""`conveyor report <name> --from YYYY-MM-DD --to YYYY-MM-DD [--pipeline NAME] --format json|csv`.

A thin shell around the report registry (`conveyor.analytics.reports.REPORTS`): it parses and
checks the arguments, runs the report function and prints its dict as JSON or as CSV.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.analytics.reports import REPORTS, Report, to_csv
from conveyor.pipelines.models import Pipeline

FORMATS = ("json", "csv")


def parse_date(option: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date in the form YYYY-MM-DD.") from None


def find_pipeline(name: str) -> Pipeline:
    try:
        return Pipeline.objects.get(name=name)
    except Pipeline.DoesNotExist:
        names = list(Pipeline.objects.order_by("name").values_list("name", flat=True))
        existing = ", ".join(repr(n) for n in names) if names else "none yet"
        raise CommandError(f"No pipeline named {name!r}. Existing pipelines: {existing}.") from None


class Command(BaseCommand):
    help = "Print a report (DESIGN §5) as JSON or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        reports = parser.add_subparsers(
            dest="report", metavar="name", required=True, help="the report to print"
        )
        for report in REPORTS.values():
            sub = reports.add_parser(report.name, help=report.help, description=report.help)
            if report.needs_pipeline:
                sub.add_argument(
                    "--pipeline", required=True, metavar="NAME", help="the pipeline's name"
                )
            sub.add_argument(
                "--from",
                dest="date_from",
                required=True,
                metavar="YYYY-MM-DD",
                help="first day of the window",
            )
            sub.add_argument(
                "--to",
                dest="date_to",
                required=True,
                metavar="YYYY-MM-DD",
                help="the day after the window's last day",
            )
            sub.add_argument("--format", choices=FORMATS, default="json", help="default: json")

    def handle(self, *args: Any, **options: Any) -> None:
        report: Report = REPORTS[options["report"]]
        date_from = parse_date("--from", options["date_from"])
        date_to = parse_date("--to", options["date_to"])
        if date_from >= date_to:
            raise CommandError(
                f"--from ({date_from}) must be before --to ({date_to}); the window is [from, to)."
            )
        kwargs: dict[str, Any] = {"date_from": date_from, "date_to": date_to}
        if report.needs_pipeline:
            kwargs["pipeline"] = find_pipeline(options["pipeline"])
        data = report.run(**kwargs)
        if options["format"] == "csv":
            self.stdout.write(to_csv(*report.csv(data)), ending="")
        else:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
