"""`conveyor form create --name N [--pipeline P]`: create a web-to-lead form, print its key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.analytics.management.commands.report import find_pipeline
from conveyor.core.errors import ServiceError
from conveyor.intake.services import form_create


class Command(BaseCommand):
    help = "Manage web-to-lead forms."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", metavar="command", required=True)
        create = commands.add_parser(
            "create", help="create a form", description="Create a web form and print its key."
        )
        create.add_argument("--name", required=True, help="the form's name")
        create.add_argument(
            "--pipeline", metavar="NAME", help="the pipeline whose segment its leads land in"
        )
        create.add_argument("--thank-you", default="", help="text shown after sending")
        create.add_argument("--redirect", default="", help="http(s) address to send visitors to")

    def handle(self, *args: Any, **options: Any) -> None:
        pipeline = find_pipeline(options["pipeline"]) if options["pipeline"] else None
        try:
            # Run by whoever operates the server, like the other commands: no acting user.
            form = form_create(
                name=options["name"],
                by=None,
                pipeline=pipeline,
                thank_you_text=options["thank_you"],
                redirect_url=options["redirect"],
            )
        except ServiceError as error:
            raise CommandError(f"{error.field}: {error.message}") from None
        self.stdout.write(form.key)
