"""Users with roles, teams of managers under a head, and sales plans."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    HEAD = "head", _("Head of sales")
    MANAGER = "manager", _("Manager")


class Team(models.Model):
    """A group of managers under one head of sales."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    head = models.ForeignKey(
        "accounts.User",
        verbose_name=_("head"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_teams",
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("users need an e-mail")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("role", Role.OWNER)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Someone who works in Conveyor. The role decides what they see (accounts/permissions.py)."""

    email = models.EmailField(_("e-mail"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MANAGER)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    capacity = models.PositiveIntegerField(
        _("capacity"), default=60, help_text=_("How many open deals this person can carry.")
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    # The secret part of the user's iCalendar feed address (`/calendar/<key>.ics`): calendar apps
    # cannot log in, so the address itself is the credential; resetting it cuts old subscribers.
    calendar_key = models.CharField(
        _("calendar feed key"), max_length=64, null=True, blank=True, unique=True
    )

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["name", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="user_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def is_head(self) -> bool:
        return self.role == Role.HEAD


class SalesPlan(models.Model):
    """Revenue and deal targets for one user or one team in one month."""

    user = models.ForeignKey(
        User, verbose_name=_("user"), null=True, blank=True, on_delete=models.CASCADE
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.CASCADE
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    revenue = models.DecimalField(_("revenue"), max_digits=14, decimal_places=2, default=0)
    deals = models.PositiveIntegerField(_("deals"), default=0)

    class Meta:
        verbose_name = _("sales plan")
        verbose_name_plural = _("sales plans")
        ordering = ["-month"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="salesplan_user_xor_team",
            ),
            models.CheckConstraint(condition=Q(revenue__gte=0), name="salesplan_revenue_gte_0"),
            models.CheckConstraint(condition=Q(month__day=1), name="salesplan_month_first_day"),
            models.UniqueConstraint(
                fields=["user", "month"], condition=Q(user__isnull=False), name="plan_user_month"
            ),
            models.UniqueConstraint(
                fields=["team", "month"], condition=Q(team__isnull=False), name="plan_team_month"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.team} {self.month:%Y-%m}"


class TokenKind(models.TextChoices):
    PERSONAL = "personal", _("Personal")
    INTEGRATION = "integration", _("Integration")


class TokenScope(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Write")
    INTAKE = "intake", _("Send leads")


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 of the secret is kept, so a leaked database
    does not leak working tokens; the token acts with its user's rights, narrowed by its scopes.

    A personal token is someone's own; an integration token is made for another system (a
    website, a telephony service) and named after it, so it can be revoked on its own.
    """

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(
        _("kind"), max_length=16, choices=TokenKind.choices, default=TokenKind.PERSONAL
    )
    scopes = models.JSONField(_("scopes"), default=list)
    # The first characters of the token, shown in lists so a person can tell tokens apart.
    prefix = models.CharField(_("prefix"), max_length=16)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: Any) -> bool:
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and self.user.is_active
        )


class Holiday(models.Model):
    """A day off in the account's calendar: cadence steps and planned tasks skip it, like the
    weekend days left out of CONVEYOR_WORKDAYS."""

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()


class TotpDevice(models.Model):
    """A user's authenticator app: the shared TOTP secret (RFC 6238) of the second login step.

    Active once `confirmed_at` is set (the user entered a code from the app); before that it is
    an enrolment in progress. `last_step` is the 30-second time step of the last accepted code:
    codes of that step or earlier are refused, so an overheard code cannot be replayed.
    The secret is stored as is (there is no at-rest encryption facility in the project yet);
    database backups must be kept as secret as the database itself.
    """

    user = models.OneToOneField(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="totp_device"
    )
    secret = models.CharField(_("secret"), max_length=64)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("turned on"), null=True, blank=True)
    last_step = models.BigIntegerField(_("last used time step"), default=0)

    class Meta:
        verbose_name = _("two-factor login")
        verbose_name_plural = _("two-factor logins")
        ordering = ["user"]

    def __str__(self) -> str:
        return str(self.user)
