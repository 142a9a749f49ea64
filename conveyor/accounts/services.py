"""Writes on accounts: users, the first owner, teams, API tokens, and the settings screens'
users, teams, sales plans and holidays (with the helpers every app's settings services share).
Each is audited (`conveyor.core.audit`) in its transaction: never a password or a token, only
that they exist or changed."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import (
    ApiToken,
    Holiday,
    Role,
    SalesPlan,
    Team,
    TokenKind,
    TokenScope,
    User,
)
from conveyor.accounts.permissions import (
    can_manage_team,
    require_owner_access,
    require_settings_access,
)
from conveyor.core.audit import (
    audit_deleted,
    audit_editing,
    audit_record,
    audit_saved,
    audit_snapshot,
)
from conveyor.core.db import clean_and_save, locked_or_refuse
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction


def _grant_role(user: User, role: str) -> None:
    """The role, and the Django admin rights that go with it: owners and heads reach the admin,
    owners as superusers."""
    user.role = role
    user.is_staff = role in (Role.OWNER, Role.HEAD)
    user.is_superuser = role == Role.OWNER


def _check_language(language: str) -> None:
    """A user's interface language: one of LANGUAGES, or "" for the browser's."""
    if language and language not in {code for code, _name in settings.LANGUAGES}:
        raise ServiceError(_("Unknown language: %(code)s.") % {"code": language}, field="language")


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
    _grant_role(user, role)
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
    audit_saved(actor=by, instance=team, before=before)
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
    made_with: ApiToken | None = None,
) -> NewToken:
    """Make a token acting as `user`. `by` (None for the command line) must manage that user.

    `made_with` is the token an API call came with: the new token may not reach further than
    it, so a narrow or expiring token cannot mint a wider or lasting one (no scope it lacks;
    it expires no later, by default when it does)."""
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
    if made_with is not None:
        wider = [scope for scope in scopes if scope not in made_with.scopes]
        if wider:
            raise PermissionDenied(
                _("A token cannot make a token with scopes it lacks (%(scopes)s).")
                % {"scopes": ", ".join(wider)},
                field="scopes",
            )
        if made_with.expires_at is not None:
            if expires_at is None:
                expires_at = made_with.expires_at
            elif expires_at > made_with.expires_at:
                raise PermissionDenied(
                    _("A token cannot make a token that outlives it."), field="expires_at"
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
    _check_language(language)
    user = User.objects.select_for_update().get(pk=user_id)
    if user.language != language:
        before = audit_snapshot(user)
        user.language = language
        user.save(update_fields=["language"])
        audit_record(actor=user, instance=user, action=AuditAction.UPDATE, before=before)
    return user


# --- Settings screens: users, teams, sales plans ---------------------------------------------


def _is_owner(user: User | None) -> bool:
    """The server operator (None) counts as an owner."""
    return user is None or user.role == Role.OWNER


def _check_user_rules(
    *, by: User | None, user: User, role: str, team: Team | None, is_active: bool
) -> None:
    """What a head may do to a user, and what nobody may do (see `user_save`)."""
    creating = user.pk is None
    if not _is_owner(by):
        assert by is not None
        if not creating and user.pk != by.pk and user.role != Role.MANAGER:
            raise PermissionDenied(_("You manage the managers of your teams only."))
        role_changes = creating or role != user.role
        if role_changes and (role != Role.MANAGER or (not creating and user.role != Role.MANAGER)):
            raise PermissionDenied(
                _("Only the owner makes someone an owner or a head of sales."), field="role"
            )
        if (creating or (team.pk if team else None) != user.team_id) and (
            team is None or team.head_id != by.pk
        ):
            raise PermissionDenied(_("Put the user into one of the teams you head."), field="team")
    if by is not None and user.pk == by.pk and not is_active:
        raise ServiceError(_("You cannot switch yourself off."), field="is_active")
    if (
        not creating
        and user.role == Role.OWNER
        and (role != Role.OWNER or not is_active)
        and not User.objects.filter(role=Role.OWNER, is_active=True).exclude(pk=user.pk).exists()
    ):
        raise ServiceError(
            _("Conveyor needs an active owner: make someone else the owner first."),
            field="role" if role != Role.OWNER else "is_active",
        )


@transaction.atomic
def user_save(
    *,
    by: User | None,
    user_id: int | None,
    email: str,
    name: str,
    role: str,
    team: Team | None,
    capacity: int,
    language: str,
    is_active: bool,
    password: str = "",
) -> User:
    """Create a user (`user_id` None) or change one, from the settings screens (`by` None is
    the server operator).

    The owner manages everyone. A head of sales manages the managers of the teams they head
    (and their own profile): new users go into one of those teams, and only the owner makes
    or unmakes owners and heads. Nobody switches themselves off, and the last active owner
    stays one. A password given must pass the configured rules; empty keeps the current one
    (a new user needs one). The role decides admin access, as in `user_create`.
    """
    require_settings_access(by, _("Only owners and heads of sales manage users."))
    before = None
    if user_id is None:
        user = User()
    else:
        user = locked_or_refuse(User, user_id, _("This user does not exist."), field="user")
        if by is not None:
            require_owner_access(by, user)
        before = audit_snapshot(user)
    _check_user_rules(by=by, user=user, role=role, team=team, is_active=is_active)
    email = email.strip().lower()
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise ServiceError(_("A user with this e-mail already exists."), field="email")
    _check_language(language)
    user.email = email
    user.name = name.strip()
    user.team = team
    user.capacity = capacity
    user.language = language
    user.is_active = is_active
    _grant_role(user, role)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ServiceError(" ".join(exc.messages), field="password") from exc
        user.set_password(password)
    elif user.pk is None:
        raise ServiceError(_("Give the new user a password."), field="password")
    clean_and_save(user, exclude=["password"])
    # That the password changed, never its value.
    audit_saved(
        actor=by,
        instance=user,
        before=before,
        extra={"password": None} if before is not None and password else None,
    )
    return user


@transaction.atomic
def team_save(*, by: User | None, team_id: int | None, name: str, head: User | None) -> Team:
    """Create a team (`team_id` None) or rename it and change its head.

    The owner names anyone active who is an owner or a head of sales as the head; a head of
    sales creates and renames only teams they head themselves."""
    require_settings_access(by, _("Only owners and heads of sales manage teams."))
    team, before = audit_editing(Team, team_id, _("This team does not exist."), field="team")
    if not _is_owner(by):
        assert by is not None
        if team.pk is not None and team.head_id != by.pk:
            raise PermissionDenied(_("You manage the teams you head only."))
        if head is None or head.pk != by.pk:
            raise PermissionDenied(
                _("Only the owner makes someone else the head of a team."), field="head"
            )
    if head is not None and (not head.is_active or head.role not in (Role.OWNER, Role.HEAD)):
        raise ServiceError(
            _("A team's head must be an active owner or head of sales."), field="head"
        )
    team.name = name.strip()
    team.head = head
    clean_and_save(team)
    audit_saved(actor=by, instance=team, before=before)
    return team


def _require_plan_target(by: User | None, user: User | None, team: Team | None) -> None:
    """The owner plans for anyone; a head of sales for the teams they head and their people."""
    if by is None:
        return
    if user is not None:
        require_owner_access(by, user)
    if team is not None and not can_manage_team(by, team):
        raise PermissionDenied(_("You plan for the teams you head only."), field="team")


@transaction.atomic
def sales_plan_save(
    *,
    by: User | None,
    plan_id: int | None,
    user: User | None,
    team: Team | None,
    month: dt.date,
    revenue: Decimal,
    deals: int,
) -> SalesPlan:
    """Create or change one month's targets for one user or one team (`month` is taken as its
    month: any day of it will do). A head of sales plans for the teams they head and their
    members; one plan per user (or team) and month."""
    require_settings_access(by, _("Only owners and heads of sales set sales plans."))
    before = None
    if plan_id is None:
        plan = SalesPlan()
    else:
        plan = locked_or_refuse(SalesPlan, plan_id, _("This plan does not exist."), field="plan")
        _require_plan_target(by, plan.user, plan.team)
        before = audit_snapshot(plan)
    if (user is None) == (team is None):
        raise ServiceError(_("A plan is for one user or one team: choose one."), field="user")
    _require_plan_target(by, user, team)
    month = month.replace(day=1)
    taken = SalesPlan.objects.filter(month=month).exclude(pk=plan.pk)
    if (user is not None and taken.filter(user=user).exists()) or (
        team is not None and taken.filter(team=team).exists()
    ):
        raise ServiceError(
            _("There already is a plan for %(who)s in %(month)s: change that one.")
            % {"who": user or team, "month": f"{month:%Y-%m}"},
            field="month",
        )
    if revenue < 0:
        raise ServiceError(_("The revenue cannot be negative."), field="revenue")
    plan.user, plan.team, plan.month = user, team, month
    plan.revenue, plan.deals = revenue, deals
    clean_and_save(plan)
    audit_saved(actor=by, instance=plan, before=before)
    return plan


@transaction.atomic
def holiday_save(*, by: User | None, holiday_id: int | None, date: dt.date, name: str) -> Holiday:
    """Add a day off to the account's calendar (`holiday_id` None) or change one (owners and
    heads; `by` None is the server operator). Tasks planned from now on skip it; tasks already
    planned keep their due dates. One holiday per date."""
    require_settings_access(by, _("Only owners and heads of sales change the holidays."))
    holiday, before = audit_editing(
        Holiday, holiday_id, _("This holiday does not exist."), field="holiday"
    )
    if Holiday.objects.filter(date=date).exclude(pk=holiday.pk).exists():
        raise ServiceError(
            _("%(date)s already is a holiday: change that one.") % {"date": f"{date:%Y-%m-%d}"},
            field="date",
        )
    holiday.date = date
    holiday.name = name.strip()
    clean_and_save(holiday)
    audit_saved(actor=by, instance=holiday, before=before)
    return holiday


@transaction.atomic
def holiday_delete(*, by: User | None, holiday_id: int) -> None:
    """Make a holiday a working day again (owners and heads). The log keeps what it was."""
    require_settings_access(by, _("Only owners and heads of sales change the holidays."))
    holiday = locked_or_refuse(
        Holiday, holiday_id, _("This holiday does not exist."), field="holiday"
    )
    audit_deleted(actor=by, instance=holiday)
    holiday.delete()
