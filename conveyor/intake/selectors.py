"""Reads on leads."""

from __future__ import annotations

from django.db.models import QuerySet

from conveyor.accounts.models import Role, User
from conveyor.intake.models import Lead, LeadForm, LeadStatus


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


def active_form(key: str) -> LeadForm | None:
    """The switched-on web form with this public key, if any."""
    return LeadForm.objects.filter(key=key, is_active=True).first()


def lead_forms(user: User) -> QuerySet[LeadForm]:
    """Every web form, for the owners and heads who manage them; nothing for anyone else."""
    if not user.is_active or user.role not in (Role.OWNER, Role.HEAD):
        return LeadForm.objects.none()
    return LeadForm.objects.select_related("segment", "pipeline").order_by("name", "pk")
