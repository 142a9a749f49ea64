"""`conveyor user create --email E --role owner|head|manager [--team T] [--password P]`;
`conveyor user totp-off --email E` (two-factor login off, for someone who lost their phone)."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from conveyor.accounts.models import Role, User
from conveyor.accounts.services import team_ensure, user_create
from conveyor.accounts.totp import totp_reset
from conveyor.core.errors import ServiceError


class Command(BaseCommand):
    help = "Manage users from the command line."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", metavar="command", required=True)
        create = commands.add_parser("create", help="create a user", description="Create a user.")
        create.add_argument("--email", required=True)
        create.add_argument("--role", choices=Role.values, default=Role.MANAGER)
        create.add_argument("--name", default="")
        create.add_argument(
            "--team", default="", help="team name (made if missing; a head becomes its head)"
        )
        create.add_argument(
            "--password",
            help="checked against the password rules; generated and printed if omitted",
        )

        totp_off = commands.add_parser(
            "totp-off",
            help="turn a user's two-factor login off",
            description="Turn a user's two-factor login off (a lost phone); they enrol again.",
        )
        totp_off.add_argument("--email", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "totp-off":
            self._totp_off(options["email"])
            return
        password = options["password"]
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        try:
            with transaction.atomic():
                team = team_ensure(name=options["team"]) if options["team"] else None
                user = user_create(
                    email=options["email"],
                    password=password,
                    role=options["role"],
                    name=options["name"],
                    team=team,
                )
                if team is not None and user.role == Role.HEAD:
                    team_ensure(name=team.name, head=user)
        except ServiceError as error:
            message = f"{error.field}: {error.message}" if error.field else error.message
            raise CommandError(message) from error
        self.stdout.write(f"Created {user.role} {user.email} (id {user.pk})")
        if generated:
            self.stdout.write(f"Password: {password}")

    def _totp_off(self, email: str) -> None:
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"No user {email}")
        if totp_reset(user=user):
            self.stdout.write(f"Two-factor login is off for {user.email}")
        else:
            self.stdout.write(f"{user.email} had no two-factor login")
