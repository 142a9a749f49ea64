"""Reads on leads."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from conveyor.accounts.models import Role, User
from conveyor.accounts.permissions import can_manage_settings, visible_q
from conveyor.intake.models import (
    Lead,
    LeadForm,
    LeadStatus,
    QualificationQuestion,
    RoutingRule,
)
from conveyor.people.models import Person
from conveyor.people.selectors import people_for
from conveyor.pipelines.models import DealStatus


def inbox(user: User) -> QuerySet[Lead]:
    """Leads waiting in the (shared) inbox, newest first, with person and segment joined.
    The inbox is shared, but the person intake matched a lead to may be a colleague's client:
    `person_visible` says whether `user` may see them (else they are not named)."""
    if not user.is_active:
        return Lead.objects.none()
    return (
        Lead.objects.filter(status=LeadStatus.INBOX)
        .select_related("person", "segment", "routed_owner", "routed_pipeline")
        .annotate(person_visible=_person_visible(user))
        .order_by("-received_at", "-pk")
    )


def _person_visible(user: User) -> Exists:
    return Exists(people_for(user).filter(pk=OuterRef("person_id")))


def inbox_count(user: User) -> int:
    return inbox(user).count()


def leads(*, status: str | None = None) -> QuerySet[Lead]:
    """Every intake record (optionally of one status), oldest first, for exports."""
    queryset = Lead.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("received_at", "pk")


def leads_for(user: User) -> QuerySet[Lead]:
    """The intake records `user` may see: the shared inbox, plus handled leads whose deal is
    theirs to see (heads and owners also see handled leads without a deal, such as spam)."""
    if not user.is_active:
        return Lead.objects.none()
    visible = visible_q(user, owner_field="deal__owner")
    if not visible:  # everything (an empty Q would vanish from the OR below)
        return Lead.objects.all()
    return Lead.objects.filter(Q(status=LeadStatus.INBOX) | visible)


def lead_detail(user: User, pk: int) -> Lead | None:
    """The lead `pk` if `user` may see it (`leads_for`), else None, with what its page shows
    joined: person, deal (its pipeline and stage), segment, web form and routing. Its person
    may still be someone `user` may not see (a lead of a colleague's client), so it is
    annotated with `person_visible`."""
    return (
        leads_for(user)
        .filter(pk=pk)
        .select_related(
            "person",
            "deal__pipeline",
            "deal__stage",
            "segment",
            "form",
            "routed_owner",
            "routed_pipeline",
        )
        .annotate(person_visible=_person_visible(user))
        .first()
    )


def person_leads(user: User, person: Person) -> QuerySet[Lead]:
    """The leads of `person` that `user` may see (`leads_for`), newest first: one query."""
    return leads_for(user).filter(person=person).order_by("-received_at", "-pk")


def active_form(key: str) -> LeadForm | None:
    """The switched-on web form with this public key, if any (with its segment joined)."""
    return (
        LeadForm.objects.filter(key=key, is_active=True)
        .select_related("segment", "pipeline__segment")
        .first()
    )


def form_questions(form: LeadForm) -> QuerySet[QualificationQuestion]:
    """The qualifying questions of the segment the form's leads land in, in order."""
    segment = form.lead_segment
    if segment is None:
        return QualificationQuestion.objects.none()
    return QualificationQuestion.objects.filter(segment_id=segment.pk).order_by("position", "pk")


def managed_forms(user: User) -> QuerySet[LeadForm]:
    """Every web form, for the owners and heads who manage them; nothing for anyone else."""
    if not can_manage_settings(user):
        return LeadForm.objects.none()
    return LeadForm.objects.select_related("segment", "pipeline__segment").order_by("name", "pk")


def lead_forms(user: User) -> QuerySet[LeadForm]:
    """`managed_forms` with each form's `lead_count`, for the list."""
    return managed_forms(user).annotate(lead_count=Count("leads"))


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


def settings_questions() -> QuerySet[QualificationQuestion]:
    """Every qualifying question with its segment, by segment and position."""
    return QualificationQuestion.objects.select_related("segment").order_by(
        "segment__name", "position", "pk"
    )


def settings_routing_rules() -> QuerySet[RoutingRule]:
    """Every routing rule (switched-off ones too) with what it names joined, in the order
    routing tries them."""
    return RoutingRule.objects.select_related(
        "segment", "form", "question", "pipeline", "team", "fixed_owner"
    ).order_by("position", "pk")
