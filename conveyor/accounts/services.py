"""Writes on accounts: users, the first owner, teams, API tokens. Each is audited
(`conveyor.core.audit`) in its transaction: never a password or a token, only that they exist."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import ApiToken, Role, Team, TokenKind, TokenScope, User
from conveyor.accounts.permissions import require_owner_access
from conveyor.core.audit import audit_record, audit_snapshot
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    role: str = Role.MANAGER,
    name: str = "",
    team: Team | None = None,
    by: User | None = None,
) -> User:
    """Create a user; the password must pass the configured password rules. `by` is who does
    it, for the audit log (None: the server's operator)."""
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
    audit_record(actor=by, instance=user, action=AuditAction.CREATE)
    return user


@transaction.atomic
def team_ensure(*, name: str, head: User | None = None, by: User | None = None) -> Team:
    """The team with this name, made if missing; a head given is set when the team has none.
    `by` is who does it, for the audit log (None: the server's operator)."""
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the team a name."), field="team")
    team, created = Team.objects.select_for_update().get_or_create(name=name)
    before = None if created else audit_snapshot(team)
    if head is not None and team.head_id is None:
        team.head = head
        team.save(update_fields=["head"])
    if created:
        audit_record(actor=by, instance=team, action=AuditAction.CREATE)
    elif before != audit_snapshot(team):
        audit_record(actor=by, instance=team, action=AuditAction.UPDATE, before=before)
    return team


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


TOKEN_PREFIX = "cvr_"  # noqa: S105 - a public marker that makes leaked tokens easy to scan for


def token_hash(raw: str) -> str:
    """The stored form of a token. Tokens carry 256 random bits, so a plain SHA-256 is enough:
    a slow password hash would only slow down every API call."""
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str  # shown once; only its hash is stored


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    by: User | None = None,
    scopes: Sequence[str] = (TokenScope.READ, TokenScope.WRITE),
    kind: str = TokenKind.PERSONAL,
    expires_at: dt.datetime | None = None,
) -> NewToken:
    """Make a token acting as `user`. `by` (None for the command line) must manage that user."""
    if by is not None:
        require_owner_access(by, user)
    if not user.is_active:
        raise ServiceError(_("This user is switched off."), field="user")
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the token a name."), field="name")
    if kind not in TokenKind.values:
        raise ServiceError(_("Unknown token kind %(kind)s.") % {"kind": kind}, field="kind")
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in TokenScope.values]
    if unknown or not scopes:
        raise ServiceError(
            _("Scopes must be some of: %(scopes)s.") % {"scopes": ", ".join(TokenScope.values)},
            field="scopes",
        )
    if expires_at is not None and (timezone.is_naive(expires_at) or expires_at <= timezone.now()):
        raise ServiceError(
            _("The expiry must be a future time with a time zone."), field="expires_at"
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        kind=kind,
        scopes=scopes,
        prefix=raw[:12],
        key_hash=token_hash(raw),
        expires_at=expires_at,
    )
    audit_record(actor=by, instance=token, action=AuditAction.CREATE)
    return NewToken(token=token, raw=raw)


@transaction.atomic
def token_revoke(*, token_id: int, by: User | None = None) -> ApiToken:
    """Revoke a token for good; revoking twice keeps the first time."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
    if token is None:
        raise ServiceError(_("No such token."), field="token")
    if by is not None and token.user_id != by.pk:
        try:
            require_owner_access(by, token.user)
        except PermissionDenied:
            raise ServiceError(_("No such token."), field="token") from None
    if token.revoked_at is None:
        before = audit_snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=by, instance=token, action=AuditAction.REVOKE, before=before)
    return token


@transaction.atomic
def user_language_set(*, user_id: int, language: str) -> User:
    """Remember `language` as the user's interface language (activated on each of their requests
    by `conveyor.web.language.UserLanguageMiddleware`); "" goes back to the browser's."""
    codes = {code for code, _name in settings.LANGUAGES}
    if language and language not in codes:
        raise ServiceError(_("Unknown language: %(code)s.") % {"code": language})
    user = User.objects.select_for_update().get(pk=user_id)
    if user.language != language:
        before = audit_snapshot(user)
        user.language = language
        user.save(update_fields=["language"])
        audit_record(actor=user, instance=user, action=AuditAction.UPDATE, before=before)
    return user
