"""Reads on people for finding duplicates, previewing a merge and the people and companies
lists, scoped to who may see them.

Counts of related rows (deals, leads, touches, …) are read through `Person._meta.related_objects`
by name, the same way `person_merge` re-points them, so this module imports no higher app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    ForeignObjectRel,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import scope, visible_q
from conveyor.core.errors import ServiceError
from conveyor.core.phones import normalize_phone
from conveyor.people.models import Company, Person, Temperature

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


# Fewer digits than this in a search are not looked for in phone numbers.
MIN_PHONE_DIGITS = 4


def person_search_q(term: str, *, prefix: str = "") -> Q:
    """A person whose name or e-mail contains `term`, or whose phone contains its digits;
    `prefix` reaches the person from another model ("person__").

    Phones are stored in E.164, so "0888 100 200" is also tried without its trunk zero
    ("888100200") and, when it parses in the account's region, as the full number.
    """
    found = Q(**{f"{prefix}name__icontains": term}) | Q(**{f"{prefix}email__icontains": term})
    digits = re.sub(r"\D", "", term)
    if len(digits) >= MIN_PHONE_DIGITS:
        for part in {digits, digits.lstrip("0")}:
            if len(part) >= MIN_PHONE_DIGITS:
                found |= Q(**{f"{prefix}phone__contains": part})
        normalised = normalize_phone(term)
        if normalised.startswith("+"):
            found |= Q(**{f"{prefix}phone": normalised})
    return found


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
        wanted |= person_search_q(query)
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


# --- Lists: people and companies, searched, filtered and sorted ----------------------------------

PEOPLE_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "email": ("email",),
    "phone": ("phone",),
    "company": ("company__name",),
    "owner": ("owner__name",),
    "source": ("source",),
    "temperature": ("temperature_rank",),
    "created": ("created_at",),
}
DEFAULT_PEOPLE_SORT = "name"
COMPANY_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "people": ("people_count",),
    "created": ("created_at",),
}
DEFAULT_COMPANY_SORT = "name"


def list_ordering(sorts: Mapping[str, Sequence[str]], sort: str) -> list[OrderBy]:
    """The ORDER BY of a list sorted by `sort`: a key of `sorts`, `-key` for descending.

    Empty values (no owner, no company) come last either way, on SQLite as on PostgreSQL, and
    the id breaks ties so pages never overlap or skip a row. An unknown key is refused: what a
    list may be sorted by is a whitelist (an index or a cheap join behind each).
    """
    descending = sort.startswith("-")
    fields = sorts.get(sort.removeprefix("-"))
    if fields is None:
        raise ServiceError(
            _("A list cannot be sorted by '%(sort)s'.") % {"sort": sort}, field="sort"
        )
    return [
        F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True)
        for name in (*fields, "pk")
    ]


def people_list(
    user: User,
    *,
    search: str = "",
    owner_id: int | None = None,
    unowned: bool = False,
    source: str = "",
    temperature: str = "",
    company_id: int | None = None,
    sort: str = DEFAULT_PEOPLE_SORT,
) -> QuerySet[Person]:
    """The people `user` may see matching the filter (search by name, e-mail or phone; owner, or
    nobody with `unowned`; source; temperature; company), sorted by a key of PEOPLE_SORTS, with
    owner and company joined. Lifecycle status is a pipelines matter:
    `pipelines.selectors.people_list_lifecycle` adds and filters it."""
    people = people_for(user)
    if search.strip():
        people = people.filter(person_search_q(search.strip()))
    if unowned:
        people = people.filter(owner__isnull=True)
    elif owner_id is not None:
        people = people.filter(owner_id=owner_id)
    if source:
        people = people.filter(source=source)
    if temperature:
        people = people.filter(temperature=temperature)
    if company_id is not None:
        people = people.filter(company_id=company_id)
    rank = Case(
        *(When(temperature=value, then=Value(n)) for n, value in enumerate(Temperature.values)),
        default=Value(len(Temperature.values)),
        output_field=IntegerField(),
    )
    return (
        people.select_related("owner", "company")
        .annotate(temperature_rank=rank)
        .order_by(*list_ordering(PEOPLE_SORTS, sort))
    )


def people_sources(user: User) -> list[str]:
    """The lead sources of the people `user` may see, for a filter's choices."""
    return list(
        people_for(user)
        .exclude(source="")
        .order_by("source")
        .values_list("source", flat=True)
        .distinct()
    )


def companies_list(
    user: User, *, search: str = "", sort: str = DEFAULT_COMPANY_SORT
) -> QuerySet[Company]:
    """The companies of the people `user` may see, matching `search` by name, each annotated
    with `people_count` (how many of those people work there), sorted by a key of
    COMPANY_SORTS. Companies have no owner: they are seen through their people."""
    companies = companies_for(user)
    if search.strip():
        companies = companies.filter(name__icontains=search.strip())
    people = (
        Person.objects.filter(visible_q(user), company=OuterRef("pk"))
        .order_by()
        .values("company")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return companies.annotate(
        people_count=Coalesce(Subquery(people, output_field=IntegerField()), Value(0))
    ).order_by(*list_ordering(COMPANY_SORTS, sort))


# --- The person page ------------------------------------------------------------------------------


def person_for(user: User, pk: int) -> Person:
    """One person through the access rule, with what their page shows joined (owner and the
    owner's team, company, referrer) and `referrer_visible`: whether `user` may open the
    referrer's page. Raises Person.DoesNotExist when missing or not `user`'s to see."""
    return (
        people_for(user)
        .select_related("owner__team", "company", "referred_by")
        .annotate(referrer_visible=Exists(people_for(user).filter(pk=OuterRef("referred_by_id"))))
        .get(pk=pk)
    )


def person_referrals(user: User, person: Person) -> QuerySet[Person]:
    """Everyone `person` referred, by name: who brought whom is this person's own record, so
    the names are shown whoever owns them; `is_visible` says whether `user` may open each."""
    return (
        Person.objects.filter(referred_by=person)
        .annotate(is_visible=Exists(people_for(user).filter(pk=OuterRef("pk"))))
        .order_by("name", "pk")
    )
