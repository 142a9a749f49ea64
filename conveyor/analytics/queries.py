"""Read-only report queries (DESIGN §4 definitions, §5 JSON shapes). One function per report.

Each report runs a small, fixed number of aggregate queries whatever the data size: no per-deal or
per-stage loops hit the database. Reports return plain JSON-ready dicts; the web page, the API and
the `conveyor report` command serialise the same dict.
"""

from __future__ import annotations

import datetime as dt
import itertools
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, overload

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet
from django.db import NotSupportedError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    Aggregate,
    Count,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
)
from django.db.models.sql.compiler import SQLCompiler

from conveyor.accounts.models import User
from conveyor.accounts.permissions import visible_q
from conveyor.core.timewindow import Window
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Stage, StageChange

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType

__all__ = ["cents", "funnel", "money", "rate"]

_ALL = Q()  # no narrowing: every deal of the pipeline
MEDIAN = Fraction(1, 2)
P90 = Fraction(9, 10)
MS_PER_HOUR = 3_600_000
CENT = Decimal("0.01")
FETCH_CHUNK = 20_000


def cents(value: Decimal | Fraction | int | float) -> Decimal:
    """A money amount rounded half up to cents, exactly (a Fraction is divided as decimals)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@overload
def money(value: Decimal | Fraction | int | float) -> float: ...
@overload
def money(value: None) -> None: ...
def money(value: Decimal | Fraction | int | float | None) -> float | None:
    """Money as it goes into a report's JSON (DESIGN §5: rounded to 2 places; None stays None)."""
    return None if value is None else float(cents(value))


def rate(numerator: int, denominator: int) -> float | None:
    """A share rounded to 4 places (DESIGN §5), or None when there is nothing to divide by."""
    if not denominator:
        return None
    return round(numerator / denominator, 4)


def _hours(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(milliseconds / MS_PER_HOUR, 2)


# --- SQL building blocks ---------------------------------------------------------------------


class ElapsedMs(Func):
    """Milliseconds from the second datetime expression to the first, as a float (`end - start`).

    Built from each database's native date arithmetic (no Python UDF per row on SQLite): SQLite
    keeps julian days as whole milliseconds internally, so rounding the scaled difference gives
    the exact millisecond count; PostgreSQL gives the interval's epoch (microsecond precision).
    Both sort and interpolate as plain doubles.
    """

    arity = 2
    output_field = FloatField()
    templates: ClassVar[dict[str, tuple[str, str]]] = {
        "sqlite": ("ROUND((julianday(%(expressions)s)) * 86400000.0)", ") - julianday("),
        # date_part (double precision) rather than EXTRACT (numeric): a third faster per row.
        "postgresql": ("date_part('epoch', %(expressions)s) * 1000", " - "),
    }

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _AsSqlType:
        if connection.vendor not in self.templates:
            raise NotSupportedError(f"ElapsedMs is not implemented for {connection.vendor}")
        template, arg_joiner = self.templates[connection.vendor]
        return super().as_sql(
            compiler, connection, template=template, arg_joiner=arg_joiner, **extra_context
        )


class PercentilesCont(Aggregate):
    """PostgreSQL's `percentile_cont(ARRAY[f1, f2, ...]) WITHIN GROUP (ORDER BY expr)`: the
    quantiles f1, f2, ... with linear interpolation between the two nearest values, as a list.

    One aggregate sorts its group once for all the fractions (cheaper than one percentile_cont
    per fraction, which on PostgreSQL 15 costs up to a third more when sorts spill to disk).
    """

    function = "PERCENTILE_CONT"
    name = "PercentilesCont"
    template = (
        "%(function)s(ARRAY[%(fractions)s]::double precision[]) "
        "WITHIN GROUP (ORDER BY %(expressions)s)"
    )
    window_compatible = False

    def __init__(self, expression: Any, fractions: Sequence[Fraction], **extra: Any) -> None:
        if not fractions or not all(0 <= fraction <= 1 for fraction in fractions):
            raise ValueError("percentile fractions lie in [0, 1]")
        # Rendered into the SQL as literals: they are our own numbers, never user input.
        literals = ", ".join(repr(float(fraction)) for fraction in fractions)
        super().__init__(
            expression, fractions=literals, output_field=ArrayField(FloatField()), **extra
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        raise NotSupportedError("percentile_cont needs PostgreSQL")


# --- Time in stage ---------------------------------------------------------------------------


@dataclass
class StageHours:
    """Median and 90th percentile of the finished intervals spent in one stage, in hours."""

    median: float | None = None
    p90: float | None = None


def _finished_intervals(pipeline: Pipeline, window: Window, scope: Q) -> QuerySet[StageChange]:
    """Stage changes of the cohort's deals that entered a stage and have left it again."""
    return StageChange.objects.filter(
        scope,
        deal__pipeline=pipeline,
        deal__opened_at__gte=window.start,
        deal__opened_at__lt=window.end,
        to_stage__isnull=False,
        left_at__isnull=False,
    ).order_by()


def stage_hours_percentile_cont(
    pipeline: Pipeline, window: Window, scope: Q = _ALL
) -> dict[int, StageHours]:
    """Time in stage on PostgreSQL: one GROUP BY query with one percentile_cont aggregate."""
    rows = (
        _finished_intervals(pipeline, window, scope)
        .values("to_stage_id")
        .annotate(hours=PercentilesCont(ElapsedMs("left_at", "at"), [MEDIAN, P90]))
        .values_list("to_stage_id", "hours")
    )
    return {
        stage_id: StageHours(median=_hours(median), p90=_hours(p90))
        for stage_id, (median, p90) in rows
    }


def interpolate(ordered: Sequence[float], fraction: Fraction) -> float:
    """Linear interpolation between 0-based ranks, as percentile_cont and numpy 'linear' do.

    The rank position fraction * (n - 1) is exact (a Fraction), so the two ranks are too.
    """
    position = fraction * (len(ordered) - 1)
    low, remainder = divmod(position.numerator, position.denominator)
    if not remainder:
        return ordered[low]
    share = remainder / position.denominator
    return ordered[low] + (ordered[low + 1] - ordered[low]) * share


def on_postgresql(queryset: QuerySet[Any]) -> bool:
    """Whether `queryset` runs on PostgreSQL (which has percentile aggregates SQLite lacks)."""
    return connections[queryset.db].vendor == "postgresql"


def stream_rows(queryset: QuerySet[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of a values_list, read from a plain cursor in chunks (no per-row ORM
    conversion; one chunk in memory at a time)."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # a filter that can match nothing (e.g. an inactive viewer's scope)
        return
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_CHUNK):
            yield from rows


def stage_hours_in_python(
    pipeline: Pipeline, window: Window, scope: Q = _ALL
) -> dict[int, StageHours]:
    """Time in stage on any database (used on SQLite): one streamed query, sorted in Python.

    SQLite has no percentile aggregate; ranking in SQL with window functions costs two temporary
    B-tree sorts and measured 2-4x slower than streaming the (stage, milliseconds) pairs and
    sorting each stage's values here. The ORM builds the SQL; the rows are read from a plain
    cursor in chunks (no per-row ORM conversion) into compact float arrays, 8 bytes a value.
    """
    intervals = (
        _finished_intervals(pipeline, window, scope)
        .annotate(elapsed=ElapsedMs("left_at", "at"))
        .values_list("to_stage_id", "elapsed")
    )
    by_stage: dict[int, array[float]] = {}
    for stage_id, elapsed in stream_rows(intervals):
        values = by_stage.get(stage_id)
        if values is None:
            values = by_stage[stage_id] = array("d")
        values.append(elapsed)
    result = {}
    for stage_id in list(by_stage):
        ordered = sorted(by_stage.pop(stage_id))  # one stage's list in memory at a time
        result[stage_id] = StageHours(
            median=_hours(interpolate(ordered, MEDIAN)), p90=_hours(interpolate(ordered, P90))
        )
    return result


def stage_hours(pipeline: Pipeline, window: Window, scope: Q = _ALL) -> dict[int, StageHours]:
    """Median and p90 hours in stage of the cohort's finished intervals, by stage id.

    `scope` narrows the stage changes (through `deal__`) to the deals a user may see.
    """
    if on_postgresql(StageChange.objects.all()):
        return stage_hours_percentile_cont(pipeline, window, scope)
    return stage_hours_in_python(pipeline, window, scope)


# --- Funnel ----------------------------------------------------------------------------------


@dataclass
class _StageTally:
    lost: int = 0
    refused_by_us: int = 0
    open: int = 0
    lost_by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def funnel(
    *,
    pipeline: Pipeline,
    date_from: dt.date,
    date_to: dt.date,
    user: User | None = None,
    scope: Q = _ALL,
    change_scope: Q = _ALL,
) -> dict[str, Any]:
    """The funnel of the deals opened in [date_from, date_to) in `pipeline` (DESIGN §4, §5).

    With `user`, the cohort is the deals that user may see (the access rule of
    accounts.permissions: a manager's own, a head's teams', everything for the owner).

    Three queries: the pipeline's stages, one GROUP BY over the cohort's deals (status, highest
    position, current stage, loss stage, reason, refusal) and one over their finished stage
    intervals (time-in-stage percentiles).

    `scope` narrows the cohort further (a report filter on deals) and `change_scope` the same
    filter seen from the stage changes (through `deal__`).
    """
    window = Window(date_from, date_to)
    stages = list(
        Stage.objects.filter(pipeline=pipeline)
        .order_by("position", "id")
        .values_list("id", "position", "name", "is_archived")
    )
    groups = (
        Deal.objects.filter(
            visible_q(user) if user is not None else _ALL,
            scope,
            pipeline=pipeline,
            opened_at__gte=window.start,
            opened_at__lt=window.end,
        )
        .order_by()
        .values("status", "max_position", "stage_id", "lost_stage_id", "lost_reason__name")
        .annotate(
            deals=Count("pk"),
            refused=Count("pk", filter=Q(refused_by_us=True), output_field=IntegerField()),
        )
    )

    status_count: dict[str, int] = defaultdict(int)
    # Deals not won, by the highest position they held; won deals reached every stage.
    unwon_by_max_position: dict[int, int] = defaultdict(int)
    tallies: dict[int, _StageTally] = defaultdict(_StageTally)
    touched: set[int] = set()
    for group in groups:
        deals: int = group["deals"]
        status: str = group["status"]
        status_count[status] += deals
        touched.add(group["stage_id"])
        if status != DealStatus.WON:
            unwon_by_max_position[group["max_position"]] += deals
        if status == DealStatus.OPEN:
            tallies[group["stage_id"]].open += deals
        elif status == DealStatus.LOST and group["lost_stage_id"] is not None:
            touched.add(group["lost_stage_id"])
            tally = tallies[group["lost_stage_id"]]
            tally.lost += deals
            tally.refused_by_us += group["refused"]
            tally.lost_by_reason[group["lost_reason__name"]] += deals

    hours = stage_hours(
        pipeline,
        window,
        (visible_q(user, owner_field="deal__owner") if user is not None else _ALL) & change_scope,
    )
    touched.update(hours)

    cohort = sum(status_count.values())
    won = status_count[DealStatus.WON]
    listed = [row for row in stages if not row[3] or row[0] in touched]
    positions = sorted({position for _, position, _, _ in listed})

    def reached(position: int) -> int:
        return won + sum(n for p, n in unwon_by_max_position.items() if p >= position)

    reached_at = {position: reached(position) for position in positions}
    next_position = dict(itertools.pairwise(positions))

    stage_rows: list[dict[str, Any]] = []
    for stage_id, position, name, _ in listed:
        tally = tallies.get(stage_id, _StageTally())
        following = next_position.get(position)
        stage_hours_row = hours.get(stage_id, StageHours())
        stage_rows.append(
            {
                "position": position,
                "stage": name,
                "reached": reached_at[position],
                "conversion_to_next": rate(
                    won if following is None else reached_at[following], reached_at[position]
                ),
                "lost": tally.lost,
                "lost_by_reason": dict(
                    sorted(tally.lost_by_reason.items(), key=lambda item: (-item[1], item[0]))
                ),
                "refused_by_us": tally.refused_by_us,
                "open": tally.open,
                "hours_in_stage_median": stage_hours_row.median,
                "hours_in_stage_p90": stage_hours_row.p90,
            }
        )

    return {
        "pipeline": pipeline.name,
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "cohort": cohort,
        "won": won,
        "lost": status_count[DealStatus.LOST],
        "open": status_count[DealStatus.OPEN],
        "end_to_end_conversion": rate(won, cohort),
        "stages": stage_rows,
    }
