"""`conveyor ensure-owner`: create the first owner account if missing and print its login."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from conveyor.accounts.services import owner_ensure


class Command(BaseCommand):
    help = "Create the owner account if it does not exist and print its login and password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--email", default=os.environ.get("CONVEYOR_OWNER_EMAIL", "owner@conveyor.local")
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, **options: Any) -> None:
        login = owner_ensure(email=options["email"])
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"  Conveyor is at {options['url']}"))
        self.stdout.write(f"  Log in as:  {login.user.email}")
        if login.password:
            self.stdout.write(f"  Password:   {login.password}")
        else:
            self.stdout.write(
                "  Password:   (changed since the first run; reset it with "
                f"`conveyor changepassword {login.user.email}`)"
            )
        self.stdout.write("")
