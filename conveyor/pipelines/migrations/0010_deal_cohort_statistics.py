"""PostgreSQL: tell the planner how few groups a cohort makes.

The funnel (and the dashboard's funnel of every pipeline) groups a cohort of deals by status,
highest stage, stage, loss stage and reason: a few dozen groups. Multiplying each column's own
distinct count, the planner expected about a hundred thousand, so it sorted the cohort (on disk
at 1M deals) instead of hashing it. Extended statistics on the columns together give it the
real number (ANALYZE fills them). SQLite has no such statistics and needs none: it groups along
the `deal_cohort` index.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE = (
    "CREATE STATISTICS IF NOT EXISTS deal_cohort_groups (ndistinct) ON pipeline_id, status, "
    "max_position, stage_id, lost_stage_id, lost_reason_id, refused_by_us FROM pipelines_deal"
)


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)
        schema_editor.execute("ANALYZE pipelines_deal")


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS deal_cohort_groups")


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0009_stagechange_to_stage_at")]

    operations = [migrations.RunPython(create, drop)]
