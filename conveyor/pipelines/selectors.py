"""Reads about deals and people that cross relations, returned with their joins applied."""

from __future__ import annotations

from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import scope
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Stage, StageChange


class Lifecycle(models.TextChoices):
    """A person's place on the conveyor, derived from their deals and referrals."""

    LEAD = "lead", _("Lead")
    QUALIFIED = "qualified", _("Qualified")
    CUSTOMER = "customer", _("Customer")
    REPEAT_CUSTOMER = "repeat_customer", _("Repeat customer")
    ADVOCATE = "advocate", _("Advocate")


def people_with_lifecycle(queryset: QuerySet[Person] | None = None) -> QuerySet[Person]:
    """People annotated with what their lifecycle status is derived from.

    qualified = a deal got past its first stage (the client took a qualifying step);
    customer / repeat customer = one / two or more won deals;
    advocate = referred someone who became a customer.
    """
    queryset = Person.objects.all() if queryset is None else queryset
    return queryset.annotate(
        won_deals=Count("deals", filter=Q(deals__status=DealStatus.WON), distinct=True),
        is_qualified=Exists(Deal.objects.filter(person=OuterRef("pk"), max_position__gte=2)),
        referred_a_customer=Exists(
            Person.objects.filter(referred_by=OuterRef("pk")).filter(
                Exists(Deal.objects.filter(person=OuterRef("pk"), status=DealStatus.WON))
            )
        ),
    )


def lifecycle_of(person: Person) -> Lifecycle:
    """The lifecycle status of one person (lead -> qualified -> customer -> repeat -> advocate)."""
    annotated = people_with_lifecycle(Person.objects.filter(pk=person.pk)).get()
    return lifecycle_from(annotated)


def lifecycle_from(annotated: Person) -> Lifecycle:
    """Status from a person annotated by `people_with_lifecycle`."""
    if annotated.referred_a_customer:  # type: ignore[attr-defined]
        return Lifecycle.ADVOCATE
    won: int = annotated.won_deals  # type: ignore[attr-defined]
    if won >= 2:
        return Lifecycle.REPEAT_CUSTOMER
    if won == 1:
        return Lifecycle.CUSTOMER
    if annotated.is_qualified:  # type: ignore[attr-defined]
        return Lifecycle.QUALIFIED
    return Lifecycle.LEAD


def pipelines_for(user: User) -> QuerySet[Pipeline]:
    """Active pipelines, each with its open stages prefetched in order."""
    return Pipeline.objects.filter(is_active=True).prefetch_related(
        Prefetch("stages", queryset=Stage.objects.filter(is_archived=False).order_by("position"))
    )


def deals_for(user: User) -> QuerySet[Deal]:
    """Every deal `user` may see, with what lists and cards show already joined."""
    return scope(Deal.objects.all(), user).select_related(
        "person", "pipeline", "stage", "owner", "lost_reason", "lost_stage"
    )


def deal_history(deal: Deal) -> QuerySet[StageChange]:
    """The deal's stage changes in order, with stages and users joined."""
    return (
        StageChange.objects.filter(deal=deal)
        .select_related("from_stage", "to_stage", "user")
        .order_by("at", "pk")
    )
