"""`conveyor report <name> --from YYYY-MM-DD --to YYYY-MM-DD [filters] --format json|csv|xlsx`.

A thin shell around the report registry (`conveyor.analytics.reports.REPORTS`): it parses and
checks the arguments, runs the report function and prints its dict as JSON or its main table as
CSV. Filters name things as people see them: `--pipeline NAME`, `--segment NAME`, `--team NAME`,
`--manager E-MAIL`, `--source TEXT`. The command line sees everything (no viewer).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Model

from conveyor.accounts.models import Team, User
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import REPORTS, Report, report_csv, report_xlsx, to_csv
from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Pipeline, Segment

FORMATS = ("json", "csv", "xlsx")
METAVARS = {"date": "YYYY-MM-DD", "pipeline": "NAME"}


def parse_date(option: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date in the form YYYY-MM-DD.") from None


def _find(model: type[Model], field: str, value: str, what: str) -> Any:
    try:
        return model._default_manager.get(**{field: value})
    except model.DoesNotExist:  # type: ignore[attr-defined]
        names = list(model._default_manager.order_by(field).values_list(field, flat=True))
        existing = ", ".join(repr(n) for n in names) if names else "none yet"
        raise CommandError(f"No {what} named {value!r}. Existing {what}s: {existing}.") from None


def flag(option: str) -> str:
    """The command-line flag of a report option; a pipeline is named, so `_id` goes."""
    return "--" + option.removesuffix("_id").replace("_", "-")


def find_pipeline(name: str) -> Pipeline:
    found: Pipeline = _find(Pipeline, "name", name, "pipeline")
    return found


class Command(BaseCommand):
    help = "Print a report (DESIGN §4, §5) as JSON or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        reports = parser.add_subparsers(
            dest="report", metavar="name", required=True, help="the report to print"
        )
        for report in REPORTS.values():
            sub = reports.add_parser(report.name, help=report.help, description=report.help)
            sub.add_argument(
                "--pipeline",
                required=report.needs_pipeline,
                metavar="NAME",
                help="the pipeline's name" + (" (required)" if report.needs_pipeline else ""),
            )
            sub.add_argument("--segment", metavar="NAME", help="only this segment")
            sub.add_argument("--team", metavar="NAME", help="only this team's deals")
            sub.add_argument("--manager", metavar="E-MAIL", help="only this manager's deals")
            sub.add_argument("--source", metavar="TEXT", default="", help="only this lead source")
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
            for name, option in report.options.items():
                sub.add_argument(
                    flag(name),
                    dest=f"option_{name}",
                    metavar=(
                        "|".join(option.choices)
                        if option.choices
                        else METAVARS.get(option.kind, "INT")
                    ),
                    help=f"{option.help} (default: {option.default})",
                )
            sub.add_argument("--format", choices=FORMATS, default="json", help="default: json")
            sub.add_argument(
                "--output", metavar="FILE", help="write to FILE (required for xlsx: every table)"
            )

    def handle(self, *args: Any, **options: Any) -> None:
        report: Report = REPORTS[options["report"]]
        date_from = parse_date("--from", options["date_from"])
        date_to = parse_date("--to", options["date_to"])
        if date_from >= date_to:
            raise CommandError(
                f"--from ({date_from}) must be before --to ({date_to}); the window is [from, to)."
            )
        filters = ReportFilter(
            date_from=date_from,
            date_to=date_to,
            pipeline=find_pipeline(options["pipeline"]) if options["pipeline"] else None,
            segment=(
                _find(Segment, "name", options["segment"], "segment")
                if options["segment"]
                else None
            ),
            team=_find(Team, "name", options["team"], "team") if options["team"] else None,
            manager=(
                _find(User, "email", options["manager"], "manager") if options["manager"] else None
            ),
            source=options["source"] or "",
        )
        chosen: dict[str, Any] = {}
        for name, option in report.options.items():
            raw = options.get(f"option_{name}")
            if raw is None:
                continue
            if option.kind == "pipeline":  # named, as --pipeline is
                chosen[name] = find_pipeline(raw).pk
                continue
            try:
                chosen[name] = option.parse(raw)
            except ValueError:
                raise CommandError(f"{flag(name)}: {raw!r} is not valid.") from None
        if options["format"] == "xlsx" and not options["output"]:
            raise CommandError("--format xlsx writes a workbook: give --output FILE.")
        try:
            data = report.execute(filters, **chosen)
        except ServiceError as error:
            raise CommandError(f"{flag(error.field or '')}: {error.message}") from None
        if options["format"] == "xlsx":
            Path(options["output"]).write_bytes(report_xlsx(report, data))
            return
        if options["output"]:
            text = (
                to_csv(*report_csv(report, data))
                if options["format"] == "csv"
                else json.dumps(data, ensure_ascii=False, indent=2) + "\n"
            )
            Path(options["output"]).write_text(text, encoding="utf-8")
            return
        if options["format"] == "csv":
            self.stdout.write(to_csv(*report_csv(report, data)), ending="")
        else:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
