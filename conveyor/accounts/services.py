"""Writes on accounts: create users, make sure the first owner exists."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from conveyor.accounts.models import Role, Team, User
from conveyor.core.errors import ServiceError


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    role: str = Role.MANAGER,
    name: str = "",
    team: Team | None = None,
) -> User:
    """Create a user; the password must pass the configured password rules."""
    email = email.strip().lower()
    if not email or "@" not in email:
        raise ServiceError(_("Enter a valid e-mail address."), field="email")
    if role not in Role.values:
        raise ServiceError(_("Unknown role %(role)s.") % {"role": role}, field="role")
    if User.objects.filter(email=email).exists():
        raise ServiceError(_("A user with this e-mail already exists."), field="email")
    user = User(email=email, name=name.strip(), role=role, team=team)
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ServiceError(" ".join(exc.messages), field="password") from exc
    user.is_staff = role in (Role.OWNER, Role.HEAD)
    user.is_superuser = role == Role.OWNER
    user.set_password(password)
    user.save()
    return user


@dataclass(frozen=True)
class OwnerLogin:
    user: User
    password: str | None  # None when the owner has changed the first password since
    created: bool


def _password_file() -> Path:
    return Path(settings.DATA_DIR) / "initial-owner-password"


@transaction.atomic
def owner_ensure(*, email: str) -> OwnerLogin:
    """Make sure an owner account exists so a fresh install can be logged into.

    The generated password is kept in the data folder (mode 600) so `make run` can print it
    again until the owner changes it.
    """
    email = email.strip().lower()
    stored = _password_file()
    user = User.objects.filter(email=email).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_create(email=email, password=password, role=Role.OWNER, name="Owner")
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(password)
        stored.chmod(0o600)
        return OwnerLogin(user=user, password=password, created=True)
    if stored.exists():
        password = stored.read_text().strip()
        if user.check_password(password):
            return OwnerLogin(user=user, password=password, created=False)
    return OwnerLogin(user=user, password=None, created=False)
