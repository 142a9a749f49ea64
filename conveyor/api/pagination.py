"""Cursor pagination: stable under inserts, cheap at any depth (keyset on the sort field + id).

A page is `{"items": [...], "next_cursor": "…" | null}`; pass `cursor=<next_cursor>` for the
next page. The cursor is signed and remembers the ordering, so it cannot be forged or mixed
with another ordering.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core import signing
from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _

from conveyor.api.errors import ApiError

M = TypeVar("M", bound=Model)

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SALT = "conveyor.api.cursor"


def page(
    queryset: QuerySet[M],
    *,
    cursor: str | None,
    limit: int,
    ordering: str,
) -> tuple[list[M], str | None]:
    """One page of `queryset` ordered by `ordering` (then id), and the cursor of the next.

    `limit` and `ordering` arrive validated by the endpoint's schema (`Query(ge=1,
    le=MAX_LIMIT)` and a `Literal` of the sortable, non-null fields), so they are not checked
    again here.
    """
    name, descending = ordering.removeprefix("-"), ordering.startswith("-")
    if cursor:
        try:
            state = signing.loads(cursor, salt=SALT)
            last_value, last_pk = state["v"], int(state["id"])
            if state["o"] != ordering:
                raise ValueError
            if name != "id":
                last_value = queryset.model._meta.get_field(name).to_python(last_value)  # type: ignore[union-attr]
        except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
            raise ApiError(
                422,
                _("This cursor is not valid for this list; start again without it."),
                fields={"cursor": [_("Invalid cursor.")]},
            ) from error
        op = "lt" if descending else "gt"
        if name == "id":
            queryset = queryset.filter(**{f"pk__{op}": last_pk})
        else:
            queryset = queryset.filter(
                Q(**{f"{name}__{op}": last_value}) | Q(**{name: last_value, f"pk__{op}": last_pk})
            )
    prefix = "-" if descending else ""
    order = [f"{prefix}pk"] if name == "id" else [f"{prefix}{name}", f"{prefix}pk"]
    rows = list(queryset.order_by(*order)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value: Any = None if name == "id" else getattr(last, name)
        if value is not None and not isinstance(value, int | str):
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        next_cursor = signing.dumps({"o": ordering, "v": value, "id": last.pk}, salt=SALT)
    return rows, next_cursor


def filtered(queryset: QuerySet[M], filters: Any) -> QuerySet[M]:
    """`queryset` narrowed by every filter field that was given: an exact match, or the lookup
    its filter schema names in `LOOKUPS` (`received_after` -> `received_at__gte`)."""
    lookups: dict[str, str] = getattr(type(filters), "LOOKUPS", {})
    for name, value in filters.dict(exclude_none=True).items():
        queryset = queryset.filter(**{lookups.get(name, name): value})
    return queryset
