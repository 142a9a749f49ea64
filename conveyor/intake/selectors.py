"""Reads on leads."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from conveyor.accounts.models import Role, User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.intake.models import Lead, LeadForm, LeadStatus, RoutingRule
from conveyor.pipelines.models import DealStatus


def inbox(user: User) -> QuerySet[Lead]:
    """Leads waiting in the (shared) inbox, newest first, with person and segment joined."""
    if not user.is_active:
        return Lead.objects.none()
    return (
        Lead.objects.filter(status=LeadStatus.INBOX)
        .select_related("person", "segment", "routed_owner", "routed_pipeline")
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
    if not can_manage_settings(user):
        return LeadForm.objects.none()
    return LeadForm.objects.select_related("segment", "pipeline").order_by("name", "pk")


def routing_rules(lead: Lead) -> QuerySet[RoutingRule]:
    """Active rules that may apply to `lead` (its segment's or any segment's), in order."""
    segment = Q(segment__isnull=True)
    if lead.segment_id is not None:
        segment |= Q(segment_id=lead.segment_id)
    return (
        RoutingRule.objects.filter(segment, is_active=True)
        .select_related("pipeline", "team", "fixed_owner")
        .order_by("position", "pk")
    )


def with_open_deals(users: QuerySet[User]) -> QuerySet[User]:
    """`users` annotated with `open_deals` (how many open deals each owns), in a stable order."""
    return users.annotate(
        open_deals=Count("deals", filter=Q(deals__status=DealStatus.OPEN))
    ).order_by("pk")


def team_managers(team_id: int) -> list[User]:
    """The team's active managers with their open-deal counts, by id (the round-robin order)."""
    return list(
        with_open_deals(User.objects.filter(team_id=team_id, role=Role.MANAGER, is_active=True))
    )
