"""Keeping the database's query planner informed.

Both databases choose an index by their statistics. Without them SQLite picks, for "this
person's won deals before a date", the index on (status, closed_at) over the one on (person,
status) and reads every won deal once per person: the `conveyor` report at a million deals
went from over a minute to two seconds once the statistics existed. A bulk import writes
millions of rows at once, so it refreshes them itself; afterwards the periodic pass lets
SQLite refresh what went stale (`PRAGMA optimize`) and PostgreSQL's autovacuum does the same.
"""

from __future__ import annotations

from django.db import connection

# Rows SQLite samples per index when it analyses: fast on any size, good enough to plan by.
SQLITE_ANALYSIS_LIMIT = 1000


def statistics_refresh(*, full: bool) -> None:
    """Refresh the planner's statistics: all of them (`full`, after a bulk import), or on
    SQLite only those of tables that changed a lot (the periodic pass; cheap)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            cursor.execute("ANALYZE" if full else "PRAGMA optimize")
        elif full:
            cursor.execute("ANALYZE")
