"""`conveyor token create --user E [--name N] [--scopes read,write] [--kind K]` prints a new
API token (only once; it is stored hashed). `token list` and `token revoke ID` manage them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from conveyor.accounts.models import ApiToken, TokenKind, TokenScope, User
from conveyor.accounts.services import token_create, token_revoke
from conveyor.core.errors import ServiceError


class Command(BaseCommand):
    help = "Make, list and revoke API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", metavar="command", required=True)
        create = commands.add_parser(
            "create", help="make a token", description="Make a token; prints it."
        )
        create.add_argument("--user", required=True, help="the e-mail of the user it acts as")
        create.add_argument("--name", default="command line")
        create.add_argument(
            "--scopes",
            default="read,write",
            help=f"comma-separated, of: {', '.join(TokenScope.values)} (default: read,write)",
        )
        create.add_argument("--kind", choices=TokenKind.values, default=TokenKind.PERSONAL)
        listing = commands.add_parser("list", help="list tokens", description="List tokens.")
        listing.add_argument("--user", help="only this user's")
        revoke = commands.add_parser("revoke", help="revoke a token", description="Revoke.")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['command']}")(options)
        except ServiceError as error:
            message = f"{error.field}: {error.message}" if error.field else error.message
            raise CommandError(message) from error

    def _create(self, options: dict[str, Any]) -> None:
        user = User.objects.filter(email=options["user"].strip().lower()).first()
        if user is None:
            raise CommandError(f"user: no user with the e-mail {options['user']}")
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        new = token_create(user=user, name=options["name"], scopes=scopes, kind=options["kind"])
        # Only the token on stdout, so scripts can capture it: TOKEN=$(conveyor token create …)
        self.stdout.write(new.raw)

    def _list(self, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("pk")
        if options["user"]:
            tokens = tokens.filter(user__email=options["user"].strip().lower())
        for token in tokens:
            state = "revoked" if token.revoked_at else "active"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk}\t{token.prefix}…\t{token.user.email}\t{token.kind}\t"
                f"{','.join(token.scopes)}\t{state}\tlast used {used}\t{token.name}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        token = token_revoke(token_id=options["id"])
        self.stdout.write(f"Revoked token {token.pk} ({token.prefix}…)")
