"""Reads on leads."""

from __future__ import annotations

from django.db.models import QuerySet

from conveyor.accounts.models import User
from conveyor.intake.models import Lead, LeadStatus


def inbox(user: User) -> QuerySet[Lead]:
    """Leads waiting in the (shared) inbox, newest first, with person and segment joined."""
    if not user.is_active:
        return Lead.objects.none()
    return (
        Lead.objects.filter(status=LeadStatus.INBOX)
        .select_related("person", "segment")
        .order_by("-received_at", "-pk")
    )


def inbox_count(user: User) -> int:
    return inbox(user).count()


def leads(*, status: str | None = None) -> QuerySet[Lead]:
    """Every intake record (optionally of one status), oldest first, for exports."""
    queryset = Lead.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("received_at", "pk")
