"""`conveyor person export ID --format json|csv [--output FILE]` and
`conveyor person erase ID --yes [--reason R] [--by EMAIL]`: one person's personal data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.accounts.selectors import active_user_by_email
from conveyor.core.errors import ServiceError
from conveyor.people.models import Person
from conveyor.people.privacy import export_csv, export_json, person_export
from conveyor.people.services import person_erase


class Command(BaseCommand):
    help = "Export or erase one person's personal data."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", metavar="command", required=True)
        export = commands.add_parser(
            "export",
            help="everything recorded about one person",
            description=(
                "The person, their company and referrals, deals with their stage history, "
                "touches, tasks and leads: JSON (one document) or CSV (a zip, one file a table)."
            ),
        )
        export.add_argument("id", type=int, metavar="ID")
        export.add_argument("--format", choices=["json", "csv"], default="json")
        export.add_argument(
            "--output", metavar="FILE", help="write here (default: standard output; CSV needs it)"
        )
        erase = commands.add_parser(
            "erase",
            help="anonymise a person and suppress their e-mail and phone",
            description=(
                "Clear the person's name, contacts and the personal text of their history, keep "
                "the numbers, and put the e-mail and phone on the suppression list so intake "
                "does not record them again. Cannot be undone."
            ),
        )
        erase.add_argument("id", type=int, metavar="ID")
        erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
        erase.add_argument("--reason", default="", help="why (kept on the suppression list)")
        erase.add_argument(
            "--by",
            metavar="EMAIL",
            help="act as this user (an owner or head; default: the server operator)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "export":
            self._export(options)
        else:
            self._erase(options)

    def _export(self, options: dict[str, Any]) -> None:
        try:
            document = person_export(person_id=options["id"], user=None)
        except Person.DoesNotExist:
            raise CommandError(f"Person {options['id']} does not exist.") from None
        output = options["output"]
        if options["format"] == "csv":
            if not output:
                raise CommandError("CSV is a zip file: give it a name with --output FILE.")
            Path(output).write_bytes(export_csv(document))
        elif output:
            Path(output).write_text(export_json(document) + "\n", encoding="utf-8")
        else:
            self.stdout.write(export_json(document))
        if output:
            self.stderr.write(f"Person {options['id']} exported to {output}.")

    def _erase(self, options: dict[str, Any]) -> None:
        if not options["yes"]:
            raise CommandError("Erasing cannot be undone: add --yes to go ahead.")
        by = None
        if options["by"]:
            by = active_user_by_email(options["by"])
            if by is None:
                raise CommandError(f"No active user has the e-mail {options['by']}.")
        try:
            person = person_erase(person_id=options["id"], by=by, reason=options["reason"])
        except ServiceError as error:
            raise CommandError(f"Not erased: {error.message}") from None
        self.stdout.write(f"Erased person {person.pk}; their e-mail and phone are suppressed.")
