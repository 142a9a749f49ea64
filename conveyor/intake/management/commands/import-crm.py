"""`conveyor import-crm FILE --from pipedrive|hubspot|amocrm|csv [--dry-run] ...`.

Prints the plan (detected encoding and delimiter, the column mapping, what would be created,
linked as a duplicate or refused, with the reasons per row; `-v 2` lists every row), then
imports unless `--dry-run`.
A refused row stops the whole import (exit status 1, nothing written) unless `--skip-bad-rows`,
which imports the good rows and writes the rejected ones to a CSV report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.core.errors import ServiceError
from conveyor.intake.crm_import.planning import Plan
from conveyor.intake.crm_import.profiles import (
    FIELDS,
    SOURCES,
    mapping_from_json,
    mapping_from_pairs,
)
from conveyor.intake.crm_import.services import (
    ImportRefused,
    ImportResult,
    crm_import_plan,
    crm_import_run,
)
from conveyor.intake.crm_import.summary import plan_summary, row_note

# Enough rows to see the pattern of what is wrong; the rest are counted (and in the report).
SHOW_ROWS = 50


class Command(BaseCommand):
    help = (
        "Import deals, people and companies from a Pipedrive, HubSpot or amoCRM/Kommo deals "
        "export, or from any CSV with a column mapping. Deals imported before are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The exported CSV file.")
        parser.add_argument(
            "--from", dest="source", choices=SOURCES, required=True, help="the CRM it comes from"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would happen; write nothing"
        )
        parser.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="import the good rows and write the refused ones to a report "
            "(default: a refused row stops the import)",
        )
        parser.add_argument(
            "--report",
            type=Path,
            help="where the report of rejected rows goes (default: next to FILE)",
        )
        parser.add_argument(
            "--create-missing",
            action="store_true",
            help="create the pipelines, stages and loss reasons the file names but Conveyor lacks",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="read FIELD from COLUMN (repeatable; FIELD= leaves it out). Fields: "
            + ", ".join(field.key for field in FIELDS),
        )
        parser.add_argument(
            "--mapping", type=Path, help='a JSON file {"field": "Column", ...} (before --map)'
        )
        parser.add_argument("--pipeline", default="", help="pipeline for rows that name none")
        parser.add_argument(
            "--default-loss-reason",
            default="",
            help="loss reason for lost deals that give none",
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        path: Path = options["file"]
        mapping: dict[str, str] = {}
        try:
            if options["mapping"] is not None:
                mapping.update(mapping_from_json(options["mapping"].read_text(encoding="utf-8")))
            mapping.update(mapping_from_pairs(options["map"]))
        except OSError as exc:
            raise CommandError(f"Cannot read {options['mapping']}: {exc.strerror}") from exc
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        kwargs: dict[str, Any] = {
            "path": path,
            "source": options["source"],
            "by": None,
            "mapping": mapping,
            "create_missing": options["create_missing"],
            "default_pipeline": options["pipeline"],
            "default_loss_reason": options["default_loss_reason"],
        }
        as_json = options["format"] == "json"
        if options["dry_run"]:
            try:
                plan = crm_import_plan(**kwargs)
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
            self._show(plan, None, as_json=as_json, dry_run=True)
            return
        try:
            result = crm_import_run(
                **kwargs, skip_bad_rows=options["skip_bad_rows"], report_path=options["report"]
            )
        except ImportRefused as exc:
            self._show(exc.plan, None, as_json=as_json, dry_run=False)
            raise CommandError(exc.message) from exc
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self._show(result.plan, result, as_json=as_json, dry_run=False)

    def _show(
        self, plan: Plan, result: ImportResult | None, *, as_json: bool, dry_run: bool
    ) -> None:
        summary = plan_summary(plan, result, dry_run=dry_run, show_rows=SHOW_ROWS)
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False))
            return
        write = self.stdout.write
        table = summary["file"]
        write(
            f"{table['name']}: {table['rows']:,} rows, {table['encoding']}, "
            f"delimiter {table['delimiter']!r}, source {summary['source']}"
        )
        write("Columns:")
        for key, column in summary["mapping"].items():
            write(f"  {key:<18} <- {column}")
        for warning in summary["warnings"]:
            write(self.style.WARNING(f"Note: {warning}"))
        counts = summary["counts"]
        verb = "Would create" if dry_run or result is None else "Created"
        write(
            f"{verb} {counts['create']:,} deals "
            f"(people: {counts['people_new']:,} new, {counts['people_existing']:,} linked to "
            f"existing people, {counts['people_duplicate']:,} linked as duplicates of earlier "
            f"rows; {counts['companies_new']:,} new companies); "
            f"{counts['exists']:,} imported before (skipped); {counts['refuse']:,} refused."
        )
        missing = summary["missing"]
        for label, names in (
            ("pipelines", missing["pipelines"]),
            ("stages", missing["stages"]),
            ("loss reasons", missing["loss_reasons"]),
        ):
            if names and result is None:
                state = "to create" if plan.create_missing else "missing (use --create-missing)"
                write(f"Missing {label} {state}: {', '.join(names)}")
        if self.verbosity >= 2:
            # Every row and what happens to it (what the dry run is for on a small file).
            for planned in plan.rows:
                write(f"  line {planned.line}: {row_note(planned)}")
        else:
            for row in summary["duplicates"]:
                write(f"  line {row['line']}: person {row['person']}")
        if summary["refused"]:
            write(self.style.ERROR("Refused rows:"))
            for row in summary["refused"]:
                for issue in row["issues"]:
                    where = f"column {issue['column']}: " if issue["column"] else ""
                    write(f"  line {row['line']}: {where}{issue['message']}")
            hidden = counts["refuse"] - len(summary["refused"])
            if hidden > 0:
                write(f"  ... and {hidden:,} more")
        if result is not None:
            done = summary["result"]
            for label, names in (
                ("pipelines", done["pipelines_created"]),
                ("stages", done["stages_created"]),
                ("loss reasons", done["loss_reasons_created"]),
            ):
                if names:
                    write(f"Created {label}: {', '.join(names)}")
            if result.report is not None:
                write(self.style.WARNING(f"Rejected rows written to {result.report}"))
            write(
                self.style.SUCCESS(
                    f"Imported {done['deals']:,} deals in {done['seconds']:.1f} s "
                    f"({done['rows_per_second']:,.0f} rows/s)."
                )
            )
