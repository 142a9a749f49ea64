"""Small database helpers the services share, and keeping the query planner informed.

`locked_or_refuse` and `next_position` are the row-locking and numbering steps every settings
service repeats.

Both databases choose an index by their statistics. Without them SQLite picks, for "this
person's won deals before a date", the index on (status, closed_at) over the one on (person,
status) and reads every won deal once per person: the `conveyor` report at a million deals
went from over a minute to two seconds once the statistics existed. A bulk import writes
millions of rows at once, so it refreshes them itself; afterwards the periodic pass lets
SQLite refresh what went stale (`PRAGMA optimize`) and PostgreSQL's autovacuum does the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Model, QuerySet

from conveyor.core.errors import ServiceError, full_clean_or_refuse

M = TypeVar("M", bound=Model)

# Rows SQLite samples per index when it analyses: fast on any size, good enough to plan by.
SQLITE_ANALYSIS_LIMIT = 1000
# The most rows one bulk edit changes (the lists' "all matching", the API's bulk calls). A
# hand-over runs `deal_assign` per deal (about 5 ms each on SQLite), all inside one request and
# holding the rows' locks, so the limit keeps the request within a few seconds.
BULK_LIMIT = 1000


def statistics_refresh(*, full: bool) -> None:
    """Refresh the planner's statistics: all of them (`full`, after a bulk import), or on
    SQLite only those of tables that changed a lot (the periodic pass; cheap)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            cursor.execute("ANALYZE" if full else "PRAGMA optimize")
        elif full:
            cursor.execute("ANALYZE")


def locked_or_refuse(
    model: type[M], pk: int, message: str, *, field: str | None = None, no_key: bool = False
) -> M:
    """The row `pk` names, locked until the transaction ends, or a ServiceError(`message`,
    `field`) when there is none.

    `no_key` locks FOR NO KEY UPDATE (PostgreSQL; elsewhere a plain row lock): for writes that
    change plain columns, never a key, so rows pointing at this one may still be inserted
    meanwhile (they take a key-share lock) instead of waiting on this transaction."""
    found = model._default_manager.select_for_update(no_key=no_key).filter(pk=pk).first()
    if found is None:
        raise ServiceError(message, field=field)
    return found


def next_position(queryset: QuerySet[M]) -> int:
    """The position after the last one in `queryset` (rows with a `position`); 1 when empty."""
    last = queryset.aggregate(n=Max("position"))["n"]
    return (last or 0) + 1


def micros_between_sql(vendor: str, start: str, end: str, *, with_params: bool = True) -> str:
    """SQL for the whole microseconds from the timestamp column `start` to `end`, exact on
    both databases (for set-based writes such as imports and backfills; Python computes the
    same value with `micros_between`). SQLite keeps date-times as text ('YYYY-MM-DD
    HH:MM:SS[.ffffff]', sometimes with an offset): whole seconds from strftime('%s'), which
    reads the offset, plus the fraction from the text, as julianday() is only exact to ~50 µs.
    `with_params`: the statement is executed with parameters, so a literal % is doubled.
    """
    if vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({end} - {start})) * 1000000)::bigint"

    def fraction(column: str) -> str:
        return (
            f"(CASE WHEN substr({column}, 20, 1) = '.' "
            f"THEN CAST(substr({column}, 21, 6) AS INTEGER) ELSE 0 END)"
        )

    seconds = "'%%s'" if with_params else "'%s'"
    return (
        f"((CAST(strftime({seconds}, {end}) AS INTEGER)"
        f" - CAST(strftime({seconds}, {start}) AS INTEGER))"
        f" * 1000000 + {fraction(end)} - {fraction(start)})"
    )


def micros_between(start: dt.datetime, end: dt.datetime) -> int:
    """Whole microseconds from `start` to `end` (both aware)."""
    return (end - start) // dt.timedelta(microseconds=1)


def clean_and_save(instance: Model, *, exclude: Collection[str] | None = None) -> None:
    """`full_clean_or_refuse`, then save. Two requests saving the same unique name at the same
    moment both pass the check; the database refuses the second insert. That refusal is
    checked again (the other row is there now), so it becomes the same ServiceError on the
    same field instead of a server error; the savepoint keeps the caller's transaction usable."""
    full_clean_or_refuse(instance, exclude=exclude)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        full_clean_or_refuse(instance, exclude=exclude)
        raise
