"""Reads on accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from conveyor.accounts.models import ApiToken, User


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def active_user_by_email(email: str) -> User | None:
    """The active user with this e-mail (any case), if any: who a command acts as (`--by`)."""
    return User.objects.filter(email__iexact=email.strip(), is_active=True).first()
