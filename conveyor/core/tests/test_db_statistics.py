"""statistics_refresh gives the query planner statistics on tables it has never analysed (a
bulk import's), on both databases; the periodic, cheap form runs too."""

from __future__ import annotations

import pytest
from django.db import connection

from conveyor.automation.engine import periodic_checks
from conveyor.core.db import statistics_refresh

pytestmark = pytest.mark.django_db


def _stats_rows() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return 0
            cursor.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'probe_stats'")
        else:
            cursor.execute("SELECT COUNT(*) FROM pg_stats WHERE tablename = 'probe_stats'")
        return int(cursor.fetchone()[0])


@pytest.fixture
def probe() -> None:
    """A table with rows and an index that nothing has analysed yet."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE probe_stats (x integer, y integer)")
        cursor.execute("CREATE INDEX probe_stats_x ON probe_stats (x)")
        cursor.executemany(
            "INSERT INTO probe_stats (x, y) VALUES (%s, %s)", [(n % 7, n) for n in range(300)]
        )


def test_full_refresh_analyses_a_never_analysed_table(probe: None) -> None:
    assert _stats_rows() == 0
    statistics_refresh(full=True)
    assert _stats_rows() > 0


def test_the_periodic_pass_refreshes_cheaply_without_failing(probe: None) -> None:
    assert "fired 0" in periodic_checks()
