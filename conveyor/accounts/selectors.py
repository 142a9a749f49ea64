"""Reads on accounts."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from conveyor.accounts.models import ApiToken, Holiday, Role, SalesPlan, Team, User
from conveyor.accounts.permissions import can_manage_settings


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def active_user_by_email(email: str) -> User | None:
    """The active user with this e-mail (any case), if any: who a command acts as (`--by`)."""
    return User.objects.filter(email__iexact=email.strip(), is_active=True).first()


def managed_users(user: User) -> QuerySet[User]:
    """The users `user` manages on the settings screens, with their teams: everyone for the
    owner; for a head of sales the managers of the teams they head, and themselves; nobody
    for anyone else."""
    if not can_manage_settings(user):
        return User.objects.none()
    users = User.objects.select_related("team").order_by("name", "email")
    if user.role == Role.OWNER:
        return users
    return users.filter(Q(team__head=user, role=Role.MANAGER) | Q(pk=user.pk))


def managed_teams(user: User) -> QuerySet[Team]:
    """Teams with their heads and member counts: all for the owner, the ones they head for a
    head of sales, none for anyone else."""
    if not can_manage_settings(user):
        return Team.objects.none()
    teams = Team.objects.select_related("head").annotate(member_count=Count("members"))
    if user.role != Role.OWNER:
        teams = teams.filter(head=user)
    return teams.order_by("name")


def managed_plans(user: User) -> QuerySet[SalesPlan]:
    """Sales plans with their user or team, newest month first: all for the owner; for a head
    of sales those of the teams they head and of those teams' people (and their own)."""
    if not can_manage_settings(user):
        return SalesPlan.objects.none()
    plans = SalesPlan.objects.select_related("user", "team").order_by(
        "-month", "team__name", "user__name", "pk"
    )
    if user.role == Role.OWNER:
        return plans
    return plans.filter(Q(team__head=user) | Q(user__team__head=user) | Q(user=user))


def settings_holidays(user: User) -> QuerySet[Holiday]:
    """The account's holidays, newest first (the coming ones are what a head looks for), for
    the owners and heads who manage them; none for anyone else."""
    if not can_manage_settings(user):
        return Holiday.objects.none()
    return Holiday.objects.order_by("-date")
