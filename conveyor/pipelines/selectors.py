"""Reads about deals and people that cross relations, returned with their joins applied."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import scope
from conveyor.core.errors import ServiceError
from conveyor.core.timewindow import start_of_day
from conveyor.people.models import Person
from conveyor.people.selectors import list_ordering
from conveyor.pipelines.models import (
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Segment,
    Stage,
    StageChange,
)


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


# --- Lists: people with their lifecycle status, deals searched, filtered and sorted -------------


def people_list_lifecycle(queryset: QuerySet[Person], *, lifecycle: str = "") -> QuerySet[Person]:
    """`queryset` (a people list) annotated with what `lifecycle_from` reads, narrowed to one
    lifecycle status when `lifecycle` is given.

    Same definitions as `people_with_lifecycle`, but counted by correlated subqueries instead of
    a join and GROUP BY: a sorted, paginated list stays one query per page whatever the size of
    the account, and the rows keep the queryset's joins and order.
    """
    won = (
        Deal.objects.filter(person=OuterRef("pk"), status=DealStatus.WON)
        .order_by()
        .values("person")
        .annotate(n=Count("pk"))
        .values("n")
    )
    people = queryset.annotate(
        won_deals=Coalesce(Subquery(won, output_field=models.IntegerField()), Value(0)),
        is_qualified=Exists(Deal.objects.filter(person=OuterRef("pk"), max_position__gte=2)),
        referred_a_customer=Exists(
            Person.objects.filter(referred_by=OuterRef("pk")).filter(
                Exists(Deal.objects.filter(person=OuterRef("pk"), status=DealStatus.WON))
            )
        ),
    )
    if not lifecycle:
        return people
    not_advocate = Q(referred_a_customer=False)
    statuses = {
        Lifecycle.ADVOCATE: Q(referred_a_customer=True),
        Lifecycle.REPEAT_CUSTOMER: not_advocate & Q(won_deals__gte=2),
        Lifecycle.CUSTOMER: not_advocate & Q(won_deals=1),
        Lifecycle.QUALIFIED: not_advocate & Q(won_deals=0, is_qualified=True),
        Lifecycle.LEAD: not_advocate & Q(won_deals=0, is_qualified=False),
    }
    if lifecycle not in statuses:
        raise ServiceError(
            _("'%(value)s' is not a lifecycle status.") % {"value": lifecycle}, field="lifecycle"
        )
    return people.filter(statuses[Lifecycle(lifecycle)])


DEAL_SORTS: dict[str, tuple[str, ...]] = {
    "person": ("person__name",),
    "title": ("title",),
    "pipeline": ("pipeline__name",),
    "stage": ("pipeline__name", "stage__position"),
    "owner": ("owner__name",),
    "amount": ("amount",),
    "status": ("status",),
    "opened": ("opened_at",),
    "closed": ("closed_at",),
}
DEFAULT_DEAL_SORT = "-opened"


class DealDates(models.TextChoices):
    """Which of a deal's dates a list's date range applies to."""

    OPENED = "opened", _("Opened")
    CLOSED = "closed", _("Closed")


def deals_list(
    user: User,
    *,
    search: str = "",
    status: str = "",
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    owner_id: int | None = None,
    unowned: bool = False,
    source: str = "",
    dates: str = DealDates.OPENED,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    sort: str = DEFAULT_DEAL_SORT,
) -> QuerySet[Deal]:
    """The deals `user` may see matching the filter, sorted by a key of DEAL_SORTS, with what a
    list row shows joined (`deals_for`).

    `search` finds the person's name or the deal's title; `source` is the person's lead source;
    the date range (both ends included, days in the account time zone) applies to the opening
    or the closing date as `dates` says.
    """
    deals = deals_for(user)
    if search.strip():
        deals = deals.filter(
            Q(person__name__icontains=search.strip()) | Q(title__icontains=search.strip())
        )
    if status:
        deals = deals.filter(status=status)
    if pipeline_id is not None:
        deals = deals.filter(pipeline_id=pipeline_id)
    if stage_id is not None:
        deals = deals.filter(stage_id=stage_id)
    if unowned:
        deals = deals.filter(owner__isnull=True)
    elif owner_id is not None:
        deals = deals.filter(owner_id=owner_id)
    if source:
        deals = deals.filter(person__source=source)
    field = "closed_at" if dates == DealDates.CLOSED else "opened_at"
    if date_from is not None:
        deals = deals.filter(**{f"{field}__gte": start_of_day(date_from)})
    if date_to is not None:
        deals = deals.filter(**{f"{field}__lt": start_of_day(date_to + dt.timedelta(days=1))})
    return deals.order_by(*list_ordering(DEAL_SORTS, sort))


def settings_segments() -> QuerySet[Segment]:
    """Segments with how many pipelines and qualifying questions each has, by name."""
    return Segment.objects.annotate(
        pipeline_count=Count("pipelines", distinct=True),
        question_count=Count("questions", distinct=True),
    ).order_by("name")


def settings_pipelines() -> QuerySet[Pipeline]:
    """Every pipeline (closed ones too) with its segment and its open stages counted."""
    return (
        Pipeline.objects.select_related("segment")
        .annotate(stage_count=Count("stages", filter=Q(stages__is_archived=False)))
        .order_by("segment__name", "name")
    )


def settings_stages(pipeline: Pipeline) -> QuerySet[Stage]:
    """The pipeline's stages in order, archived ones last, each with its open deals counted."""
    return (
        Stage.objects.filter(pipeline=pipeline)
        .annotate(open_deals=Count("deals", filter=Q(deals__status=DealStatus.OPEN)))
        .order_by("is_archived", "position", "pk")
    )


def settings_loss_reasons() -> QuerySet[LossReason]:
    """Every loss reason with its pipeline and the stages it is limited to, by pipeline."""
    return (
        LossReason.objects.select_related("pipeline")
        .prefetch_related(Prefetch("stages", queryset=Stage.objects.order_by("position")))
        .order_by("pipeline__name", "name", "pk")
    )
