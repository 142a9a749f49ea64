"""`conveyor people merge --keep ID --drop ID [--by EMAIL]`: join a duplicate into a person."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.accounts.selectors import active_user_by_email
from conveyor.core.errors import ServiceError
from conveyor.people.services import person_merge


class Command(BaseCommand):
    help = "Manage people."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", metavar="command", required=True)
        merge = commands.add_parser(
            "merge",
            help="merge a duplicate into another person",
            description=(
                "Move every deal, touch, task, lead and referral of the duplicate to the person "
                "kept, fill the kept person's empty details from it, then delete the duplicate."
            ),
        )
        merge.add_argument("--keep", type=int, required=True, metavar="ID", help="who stays")
        merge.add_argument(
            "--drop", type=int, required=True, metavar="ID", help="the duplicate, deleted after"
        )
        merge.add_argument(
            "--by",
            metavar="EMAIL",
            help="act as this user, within what they may see (default: the server operator)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        by = None
        if options["by"]:
            by = active_user_by_email(options["by"])
            if by is None:
                raise CommandError(f"No active user has the e-mail {options['by']}.")
        try:
            keep = person_merge(keep_id=options["keep"], merge_id=options["drop"], by=by)
        except ServiceError as error:
            raise CommandError(f"Not merged: {error.message}") from None
        self.stdout.write(f"Merged person {options['drop']} into {keep.pk} ({keep.name}).")
