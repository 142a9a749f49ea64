"""What the bench scripts share: an empty database to load into, Django pointed at a bench
database, the pipeline the funnel is timed on, and their README tables."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.pipelines.models import Pipeline


def fresh_database(db: str, pg_url: str, *, name: str, sqlite_path: Path) -> None:
    """Drop and create the PostgreSQL database `name`, or delete the SQLite file and its
    journals, so a run starts from nothing."""
    if db == "pg":
        import psycopg
        from psycopg import sql

        with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    else:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(sqlite_path) + suffix).unlink(missing_ok=True)


def database_version() -> str:
    """The version of the database Django is connected to ("15.20", "3.40.1"); after setup."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return str(cursor.fetchone()[0]).split()[0]
    import sqlite3

    return sqlite3.sqlite_version


def use_database(db: str, *, pg_url: str, sqlite_path: Path) -> None:
    """Point Django's settings at a bench database (PostgreSQL `pg_url` or the SQLite file);
    call before django.setup()."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "conveyor.settings"
    os.environ["DEBUG"] = "false"  # no query log, as in production
    if db == "pg":
        os.environ["DATABASE_URL"] = pg_url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["CONVEYOR_SQLITE_PATH"] = str(sqlite_path)


def biggest_conversion_pipeline() -> Pipeline:
    """The conversion pipeline with the most deals: the one the funnel is timed on."""
    from django.db.models import Count

    from conveyor.pipelines.models import Pipeline, Process

    pipeline = (
        Pipeline.objects.filter(process=Process.CONVERSION)
        .annotate(n=Count("deals"))
        .order_by("-n", "id")
        .first()
    )
    assert pipeline is not None, "the dataset has no conversion pipeline"
    return pipeline


def put_section(readme: Path, *, start: str, end: str, title: str, table: str) -> None:
    """Write `table` under `title` between the `start`/`end` markers of the bench README, above
    the dataset table's marker (bench/run.py keeps everything above it), so the tables of the
    different bench scripts never overwrite each other."""
    from bench.run import MARKER as DATASET_MARKER

    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmark\n"
    section = f"{start}\n\n## {title}\n\n{table}\n\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = f"{before}{section}{rest.split(end, 1)[1]}"
    elif DATASET_MARKER in text:
        before, after = text.split(DATASET_MARKER, 1)
        text = f"{before.rstrip()}\n\n{section}\n\n{DATASET_MARKER}{after}"
    else:
        text = f"{text.rstrip()}\n\n{section}\n"
    readme.write_text(text, encoding="utf-8")


def database_name(vendor: str) -> str:
    """How a result's database ("sqlite" or "pg") is named in the README tables."""
    return "SQLite" if vendor == "sqlite" else "PostgreSQL"


def recorded_runs(results: Path, pattern: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The results matching `pattern` in `results`, in file-name (date) order, leaving out the
    runs that failed (an "error" key), each with the name of its database."""
    for path in sorted(results.glob(pattern)):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "error" not in data:
            yield data, database_name(data["database"])
