"""One database's part of the benchmark, run in its own process so settings are fresh.

`python -m bench.run_one --db sqlite|pg --data DIR --start YYYY-MM-DD --end YYYY-MM-DD --out FILE
[--pg-url URL]` creates a fresh database, migrates it, times `import_dataset`, a bare bulk insert
of the same CSV rows, and the funnel report, and writes its figures as JSON to FILE.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import common

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
BENCH_DB = "conveyor_bench"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def csv_rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        yield from reader


def csv_files(data: Path) -> list[Path]:
    return sorted(data.glob("*.csv"))


def column_count(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return len(next(csv.reader(fh)))


def bare_sqlite(db_path: Path, data: Path) -> float:
    """executemany of the raw strings into constraint-free tables, one transaction."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")  # as conveyor/settings.py sets for Django
    files = csv_files(data)
    for f in files:
        cols = column_count(f)
        conn.execute(f"DROP TABLE IF EXISTS bare_{f.stem}")
        conn.execute(f"CREATE TABLE bare_{f.stem} ({', '.join(f'c{i} TEXT' for i in range(cols))})")
    began = time.perf_counter()
    conn.execute("BEGIN")
    for f in files:
        cols = column_count(f)
        marks = ", ".join("?" * cols)
        conn.executemany(f"INSERT INTO bare_{f.stem} VALUES ({marks})", csv_rows(f))
    conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    for f in files:
        conn.execute(f"DROP TABLE bare_{f.stem}")
    conn.close()
    return seconds


def bare_postgres(url: str, data: Path) -> float:
    """COPY of the raw strings into constraint-free tables, one transaction."""
    import psycopg

    files = csv_files(data)
    with psycopg.connect(url) as conn:
        for f in files:
            cols = column_count(f)
            conn.execute(f"DROP TABLE IF EXISTS bare_{f.stem}")
            conn.execute(
                f"CREATE TABLE bare_{f.stem} ({', '.join(f'c{i} TEXT' for i in range(cols))})"
            )
        conn.commit()
        began = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for f in files:
                with cur.copy(f"COPY bare_{f.stem} FROM STDIN") as copy:
                    for row in csv_rows(f):
                        copy.write_row(row)
        seconds = time.perf_counter() - began
        for f in files:
            conn.execute(f"DROP TABLE bare_{f.stem}")
        conn.commit()
    return seconds


def summary(result: Any) -> dict[str, Any]:
    """The importer's own counts (rows read / inserted / skipped per file, derived records)."""
    files = getattr(result, "files", None)
    if not isinstance(files, dict):
        return {"text": str(result)[:500]}
    return {
        "files": {name: dict(vars(count)) for name, count in files.items()},
        "derived": dict(getattr(result, "derived", {}) or {}),
        "seconds": round(float(getattr(result, "seconds", 0.0)), 2),
    }


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    result: Any = None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - began)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "pg"), required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pg-url", default="")
    args = parser.parse_args(argv)

    label = args.data.name
    db_path = DATA / f"bench-{label}.sqlite3"
    common.fresh_database(args.db, args.pg_url, name=BENCH_DB, sqlite_path=db_path)
    pg_url = with_database(args.pg_url, BENCH_DB) if args.db == "pg" else ""
    common.use_database(args.db, pg_url=pg_url, sqlite_path=db_path)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from conveyor.analytics.queries import funnel
    from conveyor.core.timewindow import add_months
    from conveyor.dataset.importer import import_dataset

    call_command("migrate", verbosity=0, interactive=False)
    version = common.database_version()

    rows = sum(sum(1 for _ in csv_rows(f)) for f in csv_files(args.data))
    print(f"[{args.db}] importing {rows:,} rows from {args.data} ...", flush=True)
    log = io.StringIO()
    began = time.perf_counter()
    import_result = import_dataset(args.data, stdout=log)
    import_seconds = time.perf_counter() - began
    print(f"[{args.db}] import: {import_seconds:.1f} s ({rows / import_seconds:,.0f} rows/s)")
    connection.close()

    print(f"[{args.db}] bare insert of the same rows ...", flush=True)
    if args.db == "sqlite":
        bare_seconds = bare_sqlite(db_path, args.data)
    else:
        bare_seconds = bare_postgres(pg_url, args.data)
    print(f"[{args.db}] bare insert: {bare_seconds:.1f} s ({rows / bare_seconds:,.0f} rows/s)")

    pipeline = common.biggest_conversion_pipeline()
    quarter_from = add_months(args.end, -3)
    whole_s, whole = best_of(
        3, lambda: funnel(pipeline=pipeline, date_from=args.start, date_to=args.end)
    )
    quarter_s, quarter = best_of(
        3, lambda: funnel(pipeline=pipeline, date_from=quarter_from, date_to=args.end)
    )
    print(f"[{args.db}] funnel {pipeline.name}: whole {whole_s:.2f} s, quarter {quarter_s:.2f} s")

    result = {
        "database": args.db,
        "version": version,
        "rows": rows,
        "import_seconds": round(import_seconds, 2),
        "import_rows_per_s": round(rows / import_seconds),
        "import_result": summary(import_result),
        "bare_insert_seconds": round(bare_seconds, 2),
        "bare_insert_rows_per_s": round(rows / bare_seconds),
        "share_of_bare_insert": round(bare_seconds / import_seconds, 4),
        "funnel_pipeline": pipeline.name,
        "funnel_whole_period": {
            "from": args.start.isoformat(),
            "to": args.end.isoformat(),
            "seconds": round(whole_s, 3),
            "cohort": whole.get("cohort"),
            "won": whole.get("won"),
        },
        "funnel_last_quarter": {
            "from": quarter_from.isoformat(),
            "to": args.end.isoformat(),
            "seconds": round(quarter_s, 3),
            "cohort": quarter.get("cohort"),
            "won": quarter.get("won"),
        },
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
