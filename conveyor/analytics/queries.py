"""Read-only report queries (DESIGN §4 definitions, §5 JSON shapes). One function per report.

Each report runs a small, fixed number of aggregate queries whatever the data size: no per-deal or
per-stage loops hit the database. Reports return plain JSON-ready dicts; the web page, the API and
the `conveyor report` command serialise the same dict.
"""

from __future__ import annotations

import datetime as dt
import itertools
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
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.related import ForeignObjectRel
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.datastructures import Join

from conveyor.accounts.models import User
from conveyor.accounts.permissions import visible_q
from conveyor.core.timewindow import Window
from conveyor.pipelines.models import Deal, DealStatus, LossReason, Pipeline, Stage, StageChange

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

US_PER_HOUR = 3_600_000_000


@dataclass
class StageHours:
    """Median and 90th percentile of the finished intervals spent in one stage, in hours."""

    median: float | None = None
    p90: float | None = None


def _hours_of_us(microseconds: float | None) -> float | None:
    return None if microseconds is None else round(microseconds / US_PER_HOUR, 2)


def finished_stays(
    window: Window, *, pipeline: Pipeline | None = None, scope: Q = _ALL
) -> QuerySet[StageChange]:
    """The finished stays in a stage of the cohort: deals opened in `window` (of `pipeline`,
    when given). Read from the cohort keys and stay length kept on each stage change, so no
    join to the deals unless `scope` (through `deal__`) asks for one."""
    stays = StageChange.objects.filter(
        scope,
        deal_opened_at__gte=window.start,
        deal_opened_at__lt=window.end,
        stay_us__isnull=False,
    )
    if pipeline is not None:
        stays = stays.filter(deal_pipeline=pipeline)
    return stays.order_by()


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


def bucket_index(field: str, starts: Sequence[dt.datetime]) -> Case:
    """The number i of the bucket [starts[i], starts[i + 1]) holding the date-time `field`, for
    rows already narrowed to [starts[0], end of the last bucket). Plain comparisons with the
    buckets' first instants (local midnights, computed here): both databases group by it
    natively and it agrees with the window filters by construction, where Django's Trunc* on
    SQLite call a Python function per row and group by every distinct value."""
    return Case(
        *(When(**{f"{field}__lt": start}, then=Value(n)) for n, start in enumerate(starts[1:])),
        default=Value(len(starts) - 1),
        output_field=IntegerField(),
    )


def joins_many(queryset: QuerySet[Any]) -> bool:
    """Whether the queryset's filters join a to-many relation (a person's deals, say), so that a
    row may come back more than once and counting rows needs DISTINCT. COUNT(DISTINCT ...)
    sorts or hashes every row, so it is asked for only then."""
    return any(
        isinstance(join, Join)
        and isinstance(join.join_field, ForeignObjectRel)
        and not join.join_field.field.unique
        for join in queryset.query.alias_map.values()
    )


def count_rows(queryset: QuerySet[Any], column: str) -> Count:
    """COUNT of the queryset's rows: of distinct ids when its filters join many (`joins_many`),
    else of `column`, a never-null column an index of the filter holds, so that PostgreSQL can
    count from that index alone (the id is not in it)."""
    if joins_many(queryset):
        return Count("pk", distinct=True)
    return Count(column)


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


# Rank lookups per statement on SQLite (a compound SELECT may have at most 500 terms).
_RANKS_PER_QUERY = 200


def _ranked_values(
    stays: QuerySet[StageChange], wanted: set[tuple[int, int, int]]
) -> dict[tuple[int, int], list[int]]:
    """For each (stage id, 0-based rank, stays in the stage) the stay lengths at that
    rank and the next, in one compound statement per _RANKS_PER_QUERY lookups. Each lookup
    walks the stage's entries of `stagechange_stay` in order of length (LIMIT 2 OFFSET rank),
    from the nearer end (a p90 walks a tenth of the stage, not nine tenths): no sort, and no row
    leaves the database but the two wanted."""
    found: dict[tuple[int, int], list[int]] = {}
    lookups = sorted(wanted)
    connection = connections[stays.db]
    for start in range(0, len(lookups), _RANKS_PER_QUERY):
        parts, params = [], []
        for stage_id, rank, n in lookups[start : start + _RANKS_PER_QUERY]:
            one = stays.filter(to_stage_id=stage_id).values_list("stay_us")
            if rank < n // 2:
                one = one.order_by("stay_us")[rank : rank + 2]
            else:  # ranks rank and rank + 1 counted from the other end
                skip = max(n - 2 - rank, 0)
                one = one.order_by("-stay_us")[skip : n - rank]
            sql, sql_params = one.query.get_compiler(using=stays.db).as_sql()
            # The ids and ranks are our own integers; the ORM built the rest.
            parts.append(f"SELECT {int(stage_id)}, {int(rank)}, r.* FROM ({sql}) r")  # noqa: S608
            params += sql_params
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            for stage_id, rank, value in cursor.fetchall():
                found.setdefault((stage_id, rank), []).append(value)
    return {key: sorted(values) for key, values in found.items()}


Quantiles = dict[int, tuple[int, list[float]]]


def stay_quantiles_percentile_cont(
    stays: QuerySet[StageChange], fractions: Sequence[Fraction]
) -> Quantiles:
    """PostgreSQL only: one GROUP BY with one percentile_cont aggregate for all the fractions."""
    rows = (
        stays.values("to_stage_id")
        .annotate(n=Count("pk"), quantiles=PercentilesCont(F("stay_us"), fractions))
        .values_list("to_stage_id", "n", "quantiles")
    )
    return {stage_id: (n, list(quantiles)) for stage_id, n, quantiles in rows}


def stay_quantiles_by_rank(
    stays: QuerySet[StageChange], fractions: Sequence[Fraction]
) -> Quantiles:
    """Any database: one query counts each stage's stays, one more reads just the values at
    the ranks the quantiles need (SQLite has no percentile aggregate, and streaming every stay
    to Python cost seconds at a million deals)."""
    counts = dict(
        stays.values("to_stage_id").annotate(n=Count("pk")).values_list("to_stage_id", "n")
    )
    positions = {
        (stage_id, fraction): fraction * (n - 1)
        for stage_id, n in counts.items()
        for fraction in fractions
    }
    values = _ranked_values(
        stays,
        {
            (stage_id, int(position), counts[stage_id])
            for (stage_id, _), position in positions.items()
        },
    )
    result: Quantiles = {}
    for stage_id, n in counts.items():
        quantiles = []
        for fraction in fractions:
            position = positions[stage_id, fraction]
            low, remainder = divmod(position.numerator, position.denominator)
            pair = values[stage_id, low]
            if not remainder:
                quantiles.append(float(pair[0]))
            else:
                quantiles.append(pair[0] + (pair[1] - pair[0]) * remainder / position.denominator)
        result[stage_id] = (n, quantiles)
    return result


def stay_quantiles(stays: QuerySet[StageChange], fractions: Sequence[Fraction]) -> Quantiles:
    """For each stage of `stays`: how many finished stays, and their quantiles at `fractions`
    in microseconds (linear interpolation between the two nearest ranks, as percentile_cont).

    By rank on both databases: at a million deals PostgreSQL's percentile_cont sorted every
    stay (4.8 s for all pipelines, 1.1 s for one) where the rank lookups along
    `stagechange_stay` took 0.9 s and 0.5 s (the percentile_cont version stays as the
    reference the tests compare with)."""
    return stay_quantiles_by_rank(stays, fractions)


def stage_hours(pipeline: Pipeline, window: Window, scope: Q = _ALL) -> dict[int, StageHours]:
    """Median and p90 hours in stage of the cohort's finished intervals, by stage id.

    `scope` narrows the stage changes (through `deal__`) to the deals a user may see.
    """
    quantiles = stay_quantiles(
        finished_stays(window, pipeline=pipeline, scope=scope), [MEDIAN, P90]
    )
    return {
        stage_id: StageHours(median=_hours_of_us(median), p90=_hours_of_us(p90))
        for stage_id, (_n, (median, p90)) in quantiles.items()
    }


# --- Funnel ----------------------------------------------------------------------------------


@dataclass
class _StageTally:
    lost: int = 0
    refused_by_us: int = 0
    open: int = 0
    lost_by_reason: dict[str | None, int] = field(default_factory=lambda: defaultdict(int))


StageRow = tuple[int, int, str, bool]  # id, position, name, is_archived


def _cohort_groups(
    pipelines: Sequence[Pipeline], window: Window, scope: Q
) -> dict[int, list[dict[str, Any]]]:
    """The cohort's deals of each pipeline in one GROUP BY: {pipeline id: groups}."""
    groups: dict[int, list[dict[str, Any]]] = {pipeline.pk: [] for pipeline in pipelines}
    rows = (
        Deal.objects.filter(
            scope,
            pipeline__in=[pipeline.pk for pipeline in pipelines],
            opened_at__gte=window.start,
            opened_at__lt=window.end,
        )
        .order_by()
        # Grouped in the order of the `deal_cohort` index, by ids only (the reasons' names are
        # looked up apart): SQLite then groups along the index instead of sorting the cohort.
        .values(
            "pipeline_id", "status", "max_position", "stage_id", "lost_stage_id", "lost_reason_id"
        )
        .annotate(
            deals=Count("pk"),
            refused=Count("pk", filter=Q(refused_by_us=True), output_field=IntegerField()),
        )
    )
    for row in rows:
        groups[row.pop("pipeline_id")].append(row)
    return groups


def funnel(
    *,
    pipeline: Pipeline,
    date_from: dt.date,
    date_to: dt.date,
    user: User | None = None,
    scope: Q = _ALL,
    change_scope: Q = _ALL,
    hours: bool = True,
) -> dict[str, Any]:
    """The funnel of the deals opened in [date_from, date_to) in `pipeline` (DESIGN §4, §5).

    With `user`, the cohort is the deals that user may see (the access rule of
    accounts.permissions: a manager's own, a head's teams', everything for the owner).

    A fixed number of queries: the pipeline's stages, one GROUP BY over the cohort's deals
    (status, highest position, current stage, loss stage, reason, refusal), the names of the
    reasons met (when a deal was lost), and two for the time-in-stage percentiles of their
    finished stays (see `stay_quantiles`).

    `scope` narrows the cohort further (a report filter on deals) and `change_scope` the same
    filter seen from the stage changes (through `deal__`). `hours=False` leaves the time in
    stage out (None), for callers that show only the counts (the dashboard).
    """
    return funnels(
        pipelines=[pipeline],
        date_from=date_from,
        date_to=date_to,
        user=user,
        scope=scope,
        change_scope=change_scope,
        hours=hours,
    )[0]


def funnels(
    *,
    pipelines: Sequence[Pipeline],
    date_from: dt.date,
    date_to: dt.date,
    user: User | None = None,
    scope: Q = _ALL,
    change_scope: Q = _ALL,
    hours: bool = True,
) -> list[dict[str, Any]]:
    """`funnel` of each pipeline, in order, with the stages, the cohort's groups and the
    reasons' names each read once for all of them (the dashboard shows every pipeline's)."""
    if not pipelines:
        return []
    window = Window(date_from, date_to)
    stages: dict[int, list[StageRow]] = {pipeline.pk: [] for pipeline in pipelines}
    for pipeline_id, *row in (
        Stage.objects.filter(pipeline__in=[pipeline.pk for pipeline in pipelines])
        .order_by("pipeline_id", "position", "id")
        .values_list("pipeline_id", "id", "position", "name", "is_archived")
    ):
        stages[pipeline_id].append(tuple(row))  # type: ignore[arg-type]
    cohort_scope = (visible_q(user) if user is not None else _ALL) & scope
    groups = _cohort_groups(pipelines, window, cohort_scope)
    reason_ids = {g["lost_reason_id"] for rows in groups.values() for g in rows} - {None}
    reason_names = dict(
        LossReason.objects.filter(pk__in=reason_ids).values_list("pk", "name") if reason_ids else ()
    )
    stays_scope = (
        visible_q(user, owner_field="deal__owner") if user is not None else _ALL
    ) & change_scope
    return [
        _funnel_of(
            pipeline,
            stages[pipeline.pk],
            groups[pipeline.pk],
            reason_names,
            window,
            stays_scope,
            hours=hours,
        )
        for pipeline in pipelines
    ]


def _funnel_of(
    pipeline: Pipeline,
    stages: list[StageRow],
    groups: list[dict[str, Any]],
    reason_names: dict[int, str],
    window: Window,
    stays_scope: Q,
    *,
    hours: bool,
) -> dict[str, Any]:
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
            tally.lost_by_reason[reason_names.get(group["lost_reason_id"])] += deals

    stay_hours: dict[int, StageHours] = {}
    if hours:
        stay_hours = stage_hours(pipeline, window, stays_scope)
        touched.update(stay_hours)
    elif archived := [row[0] for row in stages if row[3] and row[0] not in touched]:
        # An archived stage is listed when the cohort went through it: only those stages'
        # entries of the stays index are read.
        touched.update(
            finished_stays(window, pipeline=pipeline, scope=stays_scope)
            .filter(to_stage_id__in=archived)
            .values_list("to_stage_id", flat=True)
            .distinct()
        )

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
        stage_hours_row = stay_hours.get(stage_id, StageHours())
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
        "from": window.date_from.isoformat(),
        "to": window.date_to.isoformat(),
        "cohort": cohort,
        "won": won,
        "lost": status_count[DealStatus.LOST],
        "open": status_count[DealStatus.OPEN],
        "end_to_end_conversion": rate(won, cohort),
        "stages": stage_rows,
    }
