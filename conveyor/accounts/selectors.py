"""Reads on accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from conveyor.accounts.models import ApiToken, User


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
