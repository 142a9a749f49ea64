"""Reads on people for finding duplicates and previewing a merge, scoped to who may see them.

Counts of related rows (deals, leads, touches, …) are read through `Person._meta.related_objects`
by name, the same way `person_merge` re-points them, so this module imports no higher app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    ForeignObjectRel,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import scope
from conveyor.core.phones import normalize_phone
from conveyor.people.models import Company, Person

SEARCH_LIMIT = 20


def people_for(user: User) -> QuerySet[Person]:
    """The people `user` may see (the access rule on the person's owner)."""
    return scope(Person.objects.all(), user)


def companies_for(user: User) -> QuerySet[Company]:
    """Companies of the people `user` may see."""
    visible = people_for(user).filter(company__isnull=False).values("company")
    return Company.objects.filter(pk__in=visible)


def _relations() -> list[ForeignObjectRel]:
    """The relations pointing at a person, in model order: what a merge moves.

    Many-to-many relations are left out of the counts (none points at Person so far);
    person_merge re-points them all the same.
    """
    return [relation for relation in Person._meta.related_objects if not relation.many_to_many]


def _relation(accessor: str) -> ForeignObjectRel:
    return next(r for r in _relations() if r.get_accessor_name() == accessor)


def _count(relation: ForeignObjectRel) -> Coalesce:
    """How many rows of `relation` point at the outer person, as a correlated subquery (one
    subquery per relation rather than joins, which would multiply each other's rows)."""
    name = relation.field.name
    rows = (
        relation.related_model._base_manager.filter(**{name: OuterRef("pk")})  # type: ignore[union-attr]
        .order_by()
        .values(name)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _label(relation: ForeignObjectRel) -> str:
    if relation.related_model is Person:
        return str(_("People they referred"))
    return str(capfirst(relation.related_model._meta.verbose_name_plural))  # type: ignore[union-attr]


def _search(query: str) -> Q:
    """Name or e-mail containing `query`, or a phone containing its digits (a leading trunk 0
    dropped, so 0888 123 456 finds +359888123456) or equal to it normalised."""
    match = Q(name__icontains=query) | Q(email__icontains=query)
    digits = re.sub(r"\D", "", query).lstrip("0")
    if len(digits) >= 3:
        match |= Q(phone__contains=digits) | Q(phone=normalize_phone(query))
    return match


def merge_candidates(
    user: User, *, query: str, include: Iterable[int | None] = ()
) -> QuerySet[Person]:
    """People `user` may see matching `query` by name, phone or e-mail (at most SEARCH_LIMIT),
    plus the people in `include` (listed first), each with its owner and company joined and
    annotated with `deal_count` and `lead_count`. Nothing when there is nothing to look for."""
    query = query.strip()
    picked_ids = [pk for pk in include if pk]
    wanted = Q(pk__in=picked_ids)
    if query:
        wanted |= _search(query)
    elif not picked_ids:
        return Person.objects.none()
    picked = (
        Case(When(pk__in=picked_ids, then=Value(0)), default=Value(1)) if picked_ids else Value(1)
    )
    return (
        people_for(user)
        .filter(wanted)
        .select_related("owner", "company")
        .annotate(
            deal_count=_count(_relation("deals")),
            lead_count=_count(_relation("leads")),
            picked=picked,
        )
        .order_by("picked", "name", "pk")[: SEARCH_LIMIT + len(picked_ids)]
    )


def _fills(attname: str, keep: Person, drop: Person) -> bool:
    """Would the merge fill the kept person's empty `attname` with the duplicate's value?"""
    theirs = getattr(drop, attname)
    if attname == "referred_by_id" and theirs == keep.pk:
        return False  # nobody ends up referred by themselves
    return getattr(keep, attname) in (None, "") and theirs not in (None, "")


@dataclass(frozen=True)
class Move:
    """One kind of record the duplicate has, and how many move to the kept person."""

    label: str
    count: int


@dataclass(frozen=True)
class MergePreview:
    """What `person_merge(keep_id=keep.pk, merge_id=drop.pk)` would do."""

    keep: Person
    drop: Person
    moves: list[Move]
    # Labels of the kept person's empty fields the duplicate's values would fill.
    fills: list[str]


def merge_preview(user: User, *, keep_id: int, drop_id: int) -> MergePreview:
    """The two people (both must be visible to `user`) and what would move between them.

    Raises Person.DoesNotExist when either is missing or not `user`'s to see: invisible
    people look missing, as everywhere.
    """
    relations = _relations()
    people = {
        person.pk: person
        for person in people_for(user)
        .filter(pk__in=[keep_id, drop_id])
        .select_related("owner", "company")
        .annotate(**{f"moves_{i}": _count(relation) for i, relation in enumerate(relations)})
    }
    if keep_id not in people or drop_id not in people:
        raise Person.DoesNotExist(f"person {keep_id} or {drop_id}")
    keep, drop = people[keep_id], people[drop_id]
    moves = [
        Move(label=_label(relation), count=getattr(drop, f"moves_{i}"))
        for i, relation in enumerate(relations)
    ]
    fills = [
        str(capfirst(field.verbose_name))
        for field in Person._meta.concrete_fields
        if not field.primary_key and _fills(field.attname, keep, drop)
    ]
    return MergePreview(keep=keep, drop=drop, moves=moves, fills=fills)
