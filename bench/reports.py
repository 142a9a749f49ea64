"""Report timings: `python -m bench.reports --db sqlite|pg --deals N [--pg-url URL]`.

Runs on the database `bench.run --deals N` left behind (SQLite file
bench/data/bench-ds-<N>.sqlite3 or the PostgreSQL database `conveyor_bench`; it refuses when that
database does not hold the N deals of bench/data/ds-<N>/), so nothing is imported here:

- every report of the registry (`conveyor.analytics.reports.REPORTS`) with its default options,
  no viewer (everything visible) and, for a report about one pipeline, the biggest conversion
  pipeline, over the dataset's whole period and over its last quarter: best of 3 runs (a query
  still running after --limit seconds is stopped), with one count from the report's JSON so that
  a broken report shows. The aim is <= 1 s per report on PostgreSQL and <= 2 s on SQLite at 1M
  deals;
- DuckDB on the same rows: the deals, stage changes, touches and the small tables the funnel and
  touches reports read are exported with a plain cursor to Parquet files in
  bench/data/parquet-<N>-<db>/, and both reports are computed again in DuckDB SQL straight from
  DESIGN §4 (the stage history itself, not the columns derived from it) over the whole period,
  best of 3. Every number must equal ours, or the run fails.

Writes bench/results/<date>-reports-<N>-<db>.json and rebuilds the two reports tables of
bench/README.md from every such file. `--sqlite-path`, `--pg-db`, `--dataset` and `--out` point
it at another database and dataset (development runs) without touching bench/results.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import os
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import common
from bench.run import DEFAULT_PG_URL, README, RESULTS, ROOT, machine, postgres_reachable
from bench.run_one import BENCH_DB, DATA, best_of, with_database

if TYPE_CHECKING:
    from conveyor.analytics.filters import ReportFilter
    from conveyor.pipelines.models import Pipeline

MARKER = "<!-- Reports table: rewritten by bench/reports.py. -->"
END = "<!-- End of reports table. -->"
DUCK_MARKER = "<!-- Reports against DuckDB table: rewritten by bench/reports.py. -->"
DUCK_END = "<!-- End of reports against DuckDB table. -->"
AIM_SECONDS = {"sqlite": 2.0, "pg": 1.0}
RUNS = 3
LIMIT = 60.0  # seconds one report run may take before its query is stopped
FETCH_CHUNK = 50_000
MS_PER_HOUR = 3_600_000
NAMES = {"sqlite": "SQLite", "pg": "PostgreSQL"}
OTHER = {"sqlite": "pg", "pg": "sqlite"}

# One count per report, as a path into its JSON; reports not listed get the number of non-null
# values in their JSON instead (a report added later is still checked for being empty).
CHECKS: dict[str, tuple[str, ...]] = {
    "capacity": ("totals", "touches"),
    "conveyor": ("path", "leads"),
    "costs": ("channels",),
    "dashboard": ("key_counts", "deals_won"),
    "discipline": ("stalled_deals", "count"),
    "forecast": ("totals", "open_deals"),
    "funnel": ("cohort",),
    "hypotheses": ("hypotheses",),
    "key-counts": ("totals", "deals_won"),
    "losses": ("lost",),
    "plan-fact": ("managers",),
    "touches": ("touches_to_first_sale", "deals"),
    "velocity": ("days_to_win", "deals"),
}

# What the funnel and touches reports read: Parquet file -> (model, fields). The columns the
# app derives from the stage history (max_position, lost_stage, left_at, stage) are left out on
# purpose, so that DuckDB recomputes them from the history.
EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "deals": (
        "pipelines.Deal",
        (
            "id",
            "pipeline",
            "status",
            "opened_at",
            "closed_at",
            "lost_reason",
            "refused_by_us",
            "purchase_number",
        ),
    ),
    "stage_changes": ("pipelines.StageChange", ("id", "deal", "to_stage", "at")),
    "touches": ("touches.Touch", ("id", "deal", "user", "at", "kind", "step", "outcome")),
    "stages": ("pipelines.Stage", ("id", "pipeline", "position", "name")),
    "loss_reasons": ("pipelines.LossReason", ("id", "name")),
    "users": ("accounts.User", ("id", "email")),
}


# --- Where the data is -----------------------------------------------------------------------


def dataset_meta(deals: int, path: Path | None = None) -> dict[str, Any]:
    """The dataset's saved parameters (start, end, counts): bench/data/ds-<N>.json, or the
    `dataset` entry of the newest bench/results/<date>-<N>-deals.json."""
    path = path or DATA / f"ds-{deals}.json"
    if path.exists():
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return meta
    for result in sorted(RESULTS.glob(f"*-{deals}-deals.json"), reverse=True):
        saved: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))["dataset"]
        return saved
    sys.exit(f"No dataset of {deals:,} deals: run `python -m bench.run --deals {deals}` first.")


def period(meta: dict[str, Any]) -> tuple[date, date]:
    return date.fromisoformat(meta["params"]["start"]), date.fromisoformat(meta["end"])


def check_value(name: str, data: Any) -> dict[str, Any]:
    """The report's sanity count: {"of": what was counted, "value": n}."""
    path = CHECKS.get(name)
    if path is not None:
        value = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, list | dict):
            value = len(value)
        return {"of": ".".join(path), "value": value}
    return {"of": "non-null values", "value": _leaves(data)}


def _leaves(data: Any) -> int:
    if isinstance(data, dict):
        return sum(_leaves(value) for value in data.values())
    if isinstance(data, list):
        return sum(_leaves(value) for value in data)
    return 0 if data is None else 1


# --- Our reports -----------------------------------------------------------------------------


class Deadline:
    """Stops the database's current statement after `limit` seconds (SQLite's interrupt,
    PostgreSQL's cancel), so that one report with a runaway query cannot stall the bench."""

    def __init__(self, limit: float) -> None:
        from django.db import connection

        connection.ensure_connection()
        raw = connection.connection
        self._stop = raw.interrupt if connection.vendor == "sqlite" else raw.cancel_safe
        self.limit = limit
        self.fired = False

    def _fire(self) -> None:
        self.fired = True
        self._stop()

    def call(self, fn: Callable[[], Any]) -> Any:
        timer = threading.Timer(self.limit, self._fire)
        timer.start()
        try:
            return fn()
        finally:
            timer.cancel()


def time_reports(
    start: date, end: date, pipeline: Pipeline, aim: float, runs: int = RUNS, limit: float = LIMIT
) -> list[dict[str, Any]]:
    """Every registered report over the whole period and the last quarter, best of `runs`.
    A report that raises or outlasts `limit` seconds is recorded so (and misses the aim)."""
    from conveyor.analytics.filters import ReportFilter
    from conveyor.analytics.reports import REPORTS
    from conveyor.core.timewindow import add_months

    windows = {"whole_period": start, "last_quarter": max(start, add_months(end, -3))}
    rows = []
    for name, report in REPORTS.items():
        row: dict[str, Any] = {
            "report": name,
            "needs_pipeline": report.needs_pipeline,
            "options": {key: option.default for key, option in report.options.items()},
        }
        for key, date_from in windows.items():
            filters = ReportFilter(
                date_from=date_from,
                date_to=end,
                pipeline=pipeline if report.needs_pipeline else None,
            )
            entry: dict[str, Any] = {"from": date_from.isoformat(), "to": end.isoformat()}
            deadline = Deadline(limit)
            try:
                seconds, data = best_of(
                    runs,
                    functools.partial(deadline.call, functools.partial(report.execute, filters)),
                )
            except Exception as exc:  # recorded: one broken report must not hide the others
                if deadline.fired:
                    entry["error"] = f"stopped after {limit:g} s"
                    entry["stopped_after"] = limit
                else:
                    entry["error"] = f"{type(exc).__name__}: {exc}"[:500]
            else:
                entry["seconds"] = round(seconds, 3)
                entry["check"] = check_value(name, data)
                row.setdefault("_data", {})[key] = data
            row[key] = entry
        row["aim_met"] = all(
            "error" not in row[key] and row[key]["seconds"] <= aim for key in windows
        )
        whole, quarter = row["whole_period"], row["last_quarter"]
        print(
            f"  {name:<16} whole {_seconds(whole):>8}  last quarter {_seconds(quarter):>8}  "
            f"{'' if row['aim_met'] else 'AIM MISSED'}",
            flush=True,
        )
        rows.append(row)
    return rows


def _seconds(entry: dict[str, Any]) -> str:
    if "stopped_after" in entry:
        return f"> {entry['stopped_after']:g}s"
    if "error" in entry:
        return "ERROR"
    return f"{entry['seconds']:.3f}s"


# --- Export to Parquet -----------------------------------------------------------------------


def _duck_type(field: Any) -> str:
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return "TIMESTAMP"
    if kind == "BooleanField":
        return "INTEGER"
    if kind.endswith(("AutoField", "IntegerField", "ForeignKey")):
        return "BIGINT"
    return "VARCHAR"


def _select(model: Any, fields: tuple[str, ...], vendor: str, quote: Callable[[str], str]) -> str:
    """The export query: datetimes as UTC text DuckDB parses without help, booleans as 0/1."""
    columns = []
    for name in fields:
        field = model._meta.get_field(name)
        column = quote(field.column)
        kind = field.get_internal_type()
        if kind == "DateTimeField" and vendor == "postgresql":
            column = f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        elif kind == "BooleanField":
            column = f"CAST({column} AS INTEGER)"
        columns.append(column)
    return f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)}"


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(folder: Path) -> dict[str, int]:
    """Write EXPORTS to `folder`/<table>.parquet; returns the rows per table.

    Rows are read from a plain (server-side on PostgreSQL) cursor in chunks, written to CSV and
    converted by DuckDB: its sqlite/postgres extensions would have to be downloaded.
    """
    import duckdb
    from django.apps import apps
    from django.db import connection, transaction

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counts: dict[str, int] = {}
    duck = duckdb.connect()
    for table, (label, fields) in EXPORTS.items():
        model = apps.get_model(label)
        sql = _select(model, fields, connection.vendor, connection.ops.quote_name)
        staging = folder / f"{table}.csv"
        rows = 0
        # In a transaction, so that PostgreSQL's named cursor needs no WITH HOLD copy.
        with (
            transaction.atomic(),
            connection.chunked_cursor() as cursor,
            staging.open("w", newline="", encoding="utf-8") as handle,
        ):
            writer = csv.writer(handle)
            writer.writerow([model._meta.get_field(name).column for name in fields])
            cursor.execute(sql)
            while chunk := cursor.fetchmany(FETCH_CHUNK):
                writer.writerows(chunk)
                rows += len(chunk)
        types = ", ".join(
            f"'{model._meta.get_field(name).column}': '{_duck_type(model._meta.get_field(name))}'"
            for name in fields
        )
        duck.execute(
            f"COPY (SELECT * FROM read_csv({_literal(staging)}, header = true, "
            f"auto_detect = false, columns = {{{types}}})) "
            f"TO {_literal(folder / f'{table}.parquet')} (FORMAT parquet)"
        )
        staging.unlink()
        counts[table] = rows
    duck.close()
    return counts


# --- The two reports in DuckDB ---------------------------------------------------------------

# The funnel in three statements over one pass through the cohort's stage history in order:
# each change with the time of the deal's next change (the stay it opens ends there, the outcome
# rows included; a deal's last stay is still running) and the stage the deal last held.
FUNNEL_HISTORY = """
CREATE OR REPLACE TEMP TABLE cohort_changes AS
SELECT c.deal_id, c.to_stage_id, c."at",
       lead(c."at") OVER w AS left_at,
       last_value(c.to_stage_id IGNORE NULLS) OVER (
           w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
       ) AS last_stage_id
FROM stage_changes c
WHERE c.deal_id IN (
    SELECT id FROM deals
    WHERE pipeline_id = $pipeline AND opened_at >= $start AND opened_at < $end
)
WINDOW w AS (PARTITION BY c.deal_id ORDER BY c."at", c.id)
"""

# The cohort grouped by status, the highest position its history reached (DESIGN §4 reached),
# the stage last held (lost at / open at), loss reason and refusal.
FUNNEL_GROUPS = """
WITH per_deal AS (
    SELECT c.deal_id, max(s.position) AS max_position,
           any_value(c.last_stage_id) AS last_stage_id
    FROM cohort_changes c LEFT JOIN stages s ON s.id = c.to_stage_id
    GROUP BY c.deal_id
)
SELECT d.status, coalesce(p.max_position, 0), p.last_stage_id, r.name,
       count(*), sum(d.refused_by_us)
FROM deals d
LEFT JOIN per_deal p ON p.deal_id = d.id
LEFT JOIN loss_reasons r ON r.id = d.lost_reason_id
WHERE d.pipeline_id = $pipeline AND d.opened_at >= $start AND d.opened_at < $end
GROUP BY ALL
"""

# Time in stage: the finished stays, median and p90 with linear interpolation, in ms.
FUNNEL_HOURS = """
SELECT to_stage_id,
       quantile_cont(date_diff('microsecond', "at", left_at) / 1000.0, [0.5, 0.9])
FROM cohort_changes
WHERE to_stage_id IS NOT NULL AND left_at IS NOT NULL
GROUP BY to_stage_id
"""

FIRST_SALES = """
WITH first_sales AS (
    SELECT id, closed_at FROM deals
    WHERE status = 'won' AND purchase_number = 1 AND closed_at >= $start AND closed_at < $end
),
counted AS (
    SELECT f.id, count(t.id) AS n
    FROM first_sales f LEFT JOIN touches t ON t.deal_id = f.id AND t."at" <= f.closed_at
    GROUP BY f.id
)
SELECT count(*), quantile_cont(n::DOUBLE, 0.5), sum(n),
       count(*) FILTER (WHERE n <= 4),
       count(*) FILTER (WHERE n BETWEEN 5 AND 12),
       count(*) FILTER (WHERE n >= 13)
FROM counted
"""

PER_USER = """
SELECT u.email,
       count(*) FILTER (WHERE t.kind = 'warming'),
       count(*) FILTER (WHERE t.kind = 'closing')
FROM touches t JOIN users u ON u.id = t.user_id
WHERE t."at" >= $start AND t."at" < $end
GROUP BY u.email
"""

CLOSING_STEPS = """
SELECT step, outcome, count(*) FROM touches
WHERE kind = 'closing' AND "at" >= $start AND "at" < $end
GROUP BY ALL
"""


def duck_connection(folder: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    for table in EXPORTS:
        path = _literal(folder / f"{table}.parquet")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({path})")
    return con


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _bounds(filters: ReportFilter) -> dict[str, datetime]:
    window = filters.window
    return {"start": _utc_naive(window.start), "end": _utc_naive(window.end)}


def _hours(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(milliseconds / MS_PER_HOUR, 2)


def _tally() -> dict[str, Any]:
    return {"lost": 0, "refused_by_us": 0, "open": 0, "lost_by_reason": defaultdict(int)}


def duck_funnel(con: Any, filters: ReportFilter) -> dict[str, Any]:
    """The funnel's numbers, stages keyed by (position, name) like ours."""
    from conveyor.analytics.queries import rate

    assert filters.pipeline is not None
    params = {**_bounds(filters), "pipeline": filters.pipeline.pk}
    con.execute(FUNNEL_HISTORY, params)
    groups = con.execute(FUNNEL_GROUPS, params).fetchall()
    hours = dict(con.execute(FUNNEL_HOURS).fetchall())
    stages = con.execute(
        "SELECT id, position, name FROM stages WHERE pipeline_id = $pipeline",
        {"pipeline": filters.pipeline.pk},
    ).fetchall()

    status: dict[str, int] = defaultdict(int)
    unwon_by_max: dict[int, int] = defaultdict(int)
    per_stage: dict[int, dict[str, Any]] = defaultdict(_tally)
    for state, max_position, last_stage, reason, deals, refused in groups:
        status[state] += deals
        if state != "won":
            unwon_by_max[max_position] += deals
        if state == "open":
            per_stage[last_stage]["open"] += deals
        elif state == "lost":
            per_stage[last_stage]["lost"] += deals
            per_stage[last_stage]["refused_by_us"] += int(refused)
            per_stage[last_stage]["lost_by_reason"][reason] += deals
    won = status["won"]
    rows = {}
    for stage_id, position, name in stages:
        tally = per_stage.get(stage_id) or _tally()
        median, p90 = hours.get(stage_id) or (None, None)
        rows[(position, name)] = {
            "stage_id": stage_id,
            "reached": won + sum(n for p, n in unwon_by_max.items() if p >= position),
            "lost": tally["lost"],
            "refused_by_us": tally["refused_by_us"],
            "open": tally["open"],
            "lost_by_reason": dict(tally["lost_by_reason"]),
            "hours_in_stage_median": _hours(median),
            "hours_in_stage_p90": _hours(p90),
        }
    cohort = sum(status.values())
    return {
        "cohort": cohort,
        "won": won,
        "lost": status["lost"],
        "open": status["open"],
        "end_to_end_conversion": rate(won, cohort),
        "stages": rows,
    }


def duck_touches(con: Any, filters: ReportFilter) -> dict[str, Any]:
    from conveyor.analytics.queries import rate

    assert filters.pipeline is None, "the touches report is not about one pipeline"
    params = _bounds(filters)
    deals, median, total, low, middle, high = con.execute(FIRST_SALES, params).fetchone()
    summary = {
        "deals": deals,
        "median": median,
        "mean": round(int(total) / deals, 2) if deals else None,
        "share_0_4": rate(low, deals),
        "share_5_12": rate(middle, deals),
        "share_13_plus": rate(high, deals),
    }
    ratios = {
        email: rate(warming, closing)
        for email, warming, closing in con.execute(PER_USER, params).fetchall()
    }
    steps = sorted(
        (step, outcome, n) for step, outcome, n in con.execute(CLOSING_STEPS, params).fetchall()
    )
    return {"touches_to_first_sale": summary, "warming_closing_ratio": ratios, "steps": steps}


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) or isinstance(theirs, float):
        if ours is None or theirs is None:
            return False
        return math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-9)
    return bool(ours == theirs)


def funnel_differences(ours: dict[str, Any], duck: dict[str, Any]) -> list[str]:
    """Where our funnel and DuckDB's disagree, one line each (empty: they agree)."""
    out = [
        f"{key}: ours {ours[key]!r}, DuckDB {duck[key]!r}"
        for key in ("cohort", "won", "lost", "open", "end_to_end_conversion")
        if not _same(ours[key], duck[key])
    ]
    listed = set()
    for row in ours["stages"]:
        key = (row["position"], row["stage"])
        listed.add(key)
        theirs = duck["stages"].get(key)
        if theirs is None:
            out.append(f"stage {key}: not a stage of the pipeline in DuckDB")
            continue
        for field in (
            "reached",
            "lost",
            "refused_by_us",
            "open",
            "lost_by_reason",
            "hours_in_stage_median",
            "hours_in_stage_p90",
        ):
            if not _same(row[field], theirs[field]):
                out.append(f"stage {key} {field}: ours {row[field]!r}, DuckDB {theirs[field]!r}")
    for key, theirs in duck["stages"].items():
        if key not in listed and (theirs["lost"] or theirs["open"] or theirs["hours_in_stage_p90"]):
            out.append(f"stage {key}: left out by ours but has deals in DuckDB")
    return out


def touches_differences(ours: dict[str, Any], duck: dict[str, Any]) -> list[str]:
    out = []
    for key, value in duck["touches_to_first_sale"].items():
        mine = ours["touches_to_first_sale"][key]
        if not (mine is None and value is None) and not _same(mine, value):
            out.append(f"touches_to_first_sale.{key}: ours {mine!r}, DuckDB {value!r}")
    if ours["warming_closing_ratio"] != duck["warming_closing_ratio"]:
        out.append(
            f"warming_closing_ratio: ours {ours['warming_closing_ratio']!r}, "
            f"DuckDB {duck['warming_closing_ratio']!r}"
        )
    steps = sorted(
        (row["step"], row["outcome"], row["count"]) for row in ours["closing_by_step_outcome"]
    )
    if steps != duck["steps"]:
        out.append(f"closing_by_step_outcome: ours {steps!r}, DuckDB {duck['steps']!r}")
    return out


def compare_with_duckdb(
    folder: Path, filters: ReportFilter, ours: dict[str, tuple[float, dict[str, Any]]], runs: int
) -> list[dict[str, Any]]:
    """Time both reports in DuckDB over the Parquet files in `folder` (best of `runs`) and
    compare their numbers with ours: {report: (our seconds, our JSON)}."""
    con = duck_connection(folder)
    compared = []
    for name, compute, differences, scope in (
        ("funnel", duck_funnel, funnel_differences, filters),
        # Not a report about one pipeline: run without it, as time_reports does.
        ("touches", duck_touches, touches_differences, replace(filters, pipeline=None)),
    ):
        seconds, duck = best_of(runs, functools.partial(compute, con, scope))
        our_seconds, our_data = ours[name]
        found = differences(our_data, duck)
        compared.append(
            {
                "report": name,
                "ours_seconds": round(our_seconds, 3),
                "duckdb_seconds": round(seconds, 3),
                "ratio": round(our_seconds / seconds, 1),
                "agrees": not found,
                "differences": found,
            }
        )
    con.close()
    return compared


# --- The run ---------------------------------------------------------------------------------


def _analyzed(db: str) -> bool:
    """Whether the planner has statistics on the big tables (ANALYZE has run): the importer
    refreshes them, but a database given with --sqlite-path/--pg-db may have none, and
    autovacuum may be off."""
    from django.apps import apps
    from django.db import connection

    tables = [apps.get_model(label)._meta.db_table for label, _ in EXPORTS.values()][:3]
    marks = ", ".join(["%s"] * len(tables))
    with connection.cursor() as cursor:
        if db == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if not cursor.fetchone()[0]:
                return False
            cursor.execute(
                f"SELECT count(DISTINCT tbl) FROM sqlite_stat1 WHERE tbl IN ({marks})", tables
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN "
                f"({marks}) AND coalesce(last_analyze, last_autoanalyze) IS NOT NULL",
                tables,
            )
        return bool(cursor.fetchone()[0] == len(tables))


def measure(
    db: str, deals: int, meta: dict[str, Any], parquet: Path | None, runs: int, limit: float
) -> dict[str, Any]:
    """Time every report (and DuckDB unless `parquet` is None) on the configured database."""
    import django

    django.setup()
    from conveyor.analytics.filters import ReportFilter
    from conveyor.pipelines.models import Deal

    held = Deal.objects.count()
    if held != deals:
        sys.exit(
            f"The {NAMES[db]} bench database holds {held:,} deals, not {deals:,}: run "
            f"`python -m bench.run --deals {deals}` first (or pass --deals {held})."
        )
    if db == "pg":
        # A running database has its visibility map set by autovacuum, which lets the reports'
        # index-only scans skip the table; right after a bulk import it is not set yet.
        from django.db import connection

        print("[pg] VACUUM ANALYZE, as autovacuum leaves a running database ...", flush=True)
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"[pg] vacuumed in {time.perf_counter() - began:.1f} s", flush=True)
    start, end = period(meta)
    pipeline = common.biggest_conversion_pipeline()
    aim = AIM_SECONDS[db]
    result: dict[str, Any] = {
        "database": db,
        "version": common.database_version(),
        "deals": deals,
        "deals_in_database": held,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "pipeline": pipeline.name,
        "planner_statistics": _analyzed(db),
        "runs": runs,
        "limit_seconds": limit,
        "aim_seconds": aim,
    }
    analyzed = "" if result["planner_statistics"] else " (tables never ANALYZEd)"
    print(f"[{db}] {held:,} deals{analyzed}; every report, best of {runs} ...", flush=True)
    # Other processes share the cores: their load is kept beside the times.
    load_before = os.getloadavg()[0]
    rows = time_reports(start, end, pipeline, aim, runs, limit)
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    ours = {
        row["report"]: (row["whole_period"]["seconds"], row["_data"]["whole_period"])
        for row in rows
        if row["report"] in ("funnel", "touches") and "error" not in row["whole_period"]
    }
    for row in rows:
        row.pop("_data", None)
    result["reports"] = rows
    if parquet is None or len(ours) < 2:
        return result

    import duckdb

    print(f"[{db}] exporting to {parquet} ...", flush=True)
    began = time.perf_counter()
    counts = export_parquet(parquet)
    export_s = time.perf_counter() - began
    print(f"[{db}] exported {sum(counts.values()):,} rows in {export_s:.1f} s", flush=True)
    whole = ReportFilter(date_from=start, date_to=end, pipeline=pipeline)
    compared = compare_with_duckdb(parquet, whole, ours, runs)
    with duckdb.connect() as con:
        threads = con.execute("SELECT current_setting('threads')").fetchone()
    result["duckdb"] = {
        "version": duckdb.__version__,
        "threads": int(threads[0]) if threads else None,
        "parquet": str(parquet.relative_to(ROOT) if parquet.is_relative_to(ROOT) else parquet),
        "rows": counts,
        "export_seconds": round(export_s, 1),
        "reports": compared,
    }
    for row in compared:
        verdict = "agrees" if row["agrees"] else "DISAGREES"
        print(
            f"  {row['report']:<8} ours {row['ours_seconds']:.3f}s  DuckDB "
            f"{row['duckdb_seconds']:.3f}s  x{row['ratio']}  {verdict}"
        )
        for line in row["differences"]:
            print(f"    {line}")
    return result


def differing_checks(result: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """The same data must give the same counts on both databases; where they do not."""
    theirs = {row["report"]: row for row in other.get("reports", [])}
    out = []
    for row in result["reports"]:
        for key in ("whole_period", "last_quarter"):
            mine = row[key].get("check")
            their = theirs.get(row["report"], {}).get(key, {}).get("check")
            if mine and their and mine != their:
                out.append(f"{row['report']} {key}: {mine} here, {their} on {other['database']}")
    return out


# --- README ----------------------------------------------------------------------------------


def _results() -> list[dict[str, Any]]:
    """Every result file, by date and size, SQLite before PostgreSQL (as bench/run.py lists)."""
    found = [
        json.loads(path.read_text(encoding="utf-8")) for path in RESULTS.glob("*-reports-*.json")
    ]
    return sorted(
        found, key=lambda data: (data["date"], data["deals"], data["database"] != "sqlite")
    )


def _cell(entry: dict[str, Any]) -> str:
    if "stopped_after" in entry:
        return f"> {entry['stopped_after']:g}"
    return "error" if "error" in entry else f"{entry['seconds']:.3f}"


def render_table() -> str:
    lines = [
        "| date | deals | database | report | whole period s | last quarter s | aim met |",
        "|---|---:|---|---|---:|---:|---|",
    ]
    for data in _results():
        name = f"{NAMES[data['database']]} {data['version']}"
        for row in data["reports"]:
            lines.append(
                f"| {data['date']} | {data['deals']:,} | {name} | {row['report']} "
                f"| {_cell(row['whole_period'])} | {_cell(row['last_quarter'])} "
                f"| {'yes' if row['aim_met'] else 'no'} |"
            )
    return "\n".join(lines)


def render_duck_table() -> str:
    lines = [
        "| date | deals | database | report | ours s | DuckDB s | ours / DuckDB | same numbers |",
        "|---|---:|---|---|---:|---:|---:|---|",
    ]
    for data in _results():
        name = f"{NAMES[data['database']]} {data['version']}"
        duck = data.get("duckdb")
        if not duck:
            continue
        for row in duck["reports"]:
            lines.append(
                f"| {data['date']} | {data['deals']:,} | {name} | {row['report']} "
                f"| {row['ours_seconds']:.3f} | {row['duckdb_seconds']:.3f} "
                f"| {row['ratio']:.1f}x | {'yes' if row['agrees'] else 'NO'} |"
            )
    return "\n".join(lines)


def rewrite_readme(readme: Path = README) -> None:
    """Put both tables between their markers, above the dataset table's marker."""
    common.put_section(readme, start=MARKER, end=END, title="Reports", table=render_table())
    common.put_section(
        readme,
        start=DUCK_MARKER,
        end=DUCK_END,
        title="Reports against DuckDB",
        table=render_duck_table(),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "pg"), required=True)
    parser.add_argument("--deals", type=int, required=True)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL)
    parser.add_argument("--pg-db", default=BENCH_DB, help="another PostgreSQL database")
    parser.add_argument("--sqlite-path", type=Path, help="another SQLite file")
    parser.add_argument("--dataset", type=Path, help="the dataset's ds-<N>.json")
    parser.add_argument("--out", type=Path, help="write the result here, not to bench/results")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--limit", type=float, default=LIMIT, help="seconds per report run")
    parser.add_argument("--no-duckdb", action="store_true")
    args = parser.parse_args(argv)

    meta = dataset_meta(args.deals, args.dataset)
    sqlite_path = args.sqlite_path or DATA / f"bench-ds-{args.deals}.sqlite3"
    pg_url = ""
    if args.db == "pg":
        reason = postgres_reachable(args.pg_url)
        if reason is not None:
            print(
                f"Reports bench on PostgreSQL SKIPPED: cannot connect to {args.pg_url} ({reason})."
            )
            return
        pg_url = with_database(args.pg_url, args.pg_db)
        if postgres_reachable(pg_url) is not None:
            sys.exit(
                f"No PostgreSQL database {args.pg_db}: run `python -m bench.run --deals "
                f"{args.deals}` first."
            )
    elif not sqlite_path.exists():  # connecting would create an empty file
        sys.exit(f"No {sqlite_path}: run `python -m bench.run --deals {args.deals}` first.")
    common.use_database(args.db, pg_url=pg_url, sqlite_path=sqlite_path)
    parquet = None if args.no_duckdb else DATA / f"parquet-{args.deals}-{args.db}"
    if args.out is not None and parquet is not None:
        parquet = args.out.parent / f"parquet-{args.deals}-{args.db}"

    result = measure(args.db, args.deals, meta, parquet, args.runs, args.limit)
    today = datetime.now(UTC).date()
    result = {"date": today.isoformat(), **result, "machine": machine()}
    out = args.out or RESULTS / f"{today.isoformat()}-reports-{args.deals}-{args.db}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.out is None:
        other = out.with_name(out.name.replace(f"-{args.db}.json", f"-{OTHER[args.db]}.json"))
        if other.exists():
            for line in differing_checks(result, json.loads(other.read_text(encoding="utf-8"))):
                print(f"WARNING: {line}")
        rewrite_readme()
        print(f"Wrote {out.relative_to(ROOT)} and the reports tables in README.")
    else:
        print(f"Wrote {out}.")
    missed = [row["report"] for row in result["reports"] if not row["aim_met"]]
    if missed:
        print(f"Aim (<= {AIM_SECONDS[args.db]:g} s) missed by: {', '.join(missed)}.")
    broken = [
        row["report"]
        for row in result["reports"]
        if any(
            "error" in row[key] and "stopped_after" not in row[key]
            for key in ("whole_period", "last_quarter")
        )
    ]
    disagree = [
        row["report"] for row in result.get("duckdb", {}).get("reports", []) if not row["agrees"]
    ]
    if broken or disagree:
        print(f"ERROR: reports failing: {broken}; disagreeing with DuckDB: {disagree}")
        sys.exit(1)


if __name__ == "__main__":
    main()
