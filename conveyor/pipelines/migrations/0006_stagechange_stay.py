"""Stage changes carry their deal's cohort keys (pipeline, opening time) and each finished
stay's length, so time-in-stage reports read one index (`stagechange_stay`) instead of joining
every stay to its deal. Existing rows are filled in set-based before the index is built."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

from conveyor.core.db import micros_between_sql


def backfill(apps: Any, schema_editor: Any) -> None:
    table = apps.get_model("pipelines", "StageChange")._meta.db_table
    deals = apps.get_model("pipelines", "Deal")._meta.db_table
    stay = micros_between_sql(schema_editor.connection.vendor, "at", "left_at", with_params=False)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608 - table names only
            f"deal_pipeline_id = (SELECT d.pipeline_id FROM {deals} d WHERE d.id = deal_id), "
            f"deal_opened_at = (SELECT d.opened_at FROM {deals} d WHERE d.id = deal_id), "
            f"stay_us = CASE WHEN left_at IS NOT NULL AND to_stage_id IS NOT NULL "
            f"THEN {stay} END"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0005_deal_board_covering"),
    ]

    operations = [
        migrations.AddField(
            model_name="stagechange",
            name="deal_opened_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="deal opened"
            ),
        ),
        migrations.AddField(
            model_name="stagechange",
            name="deal_pipeline",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="pipelines.pipeline",
                verbose_name="deal's pipeline",
            ),
        ),
        migrations.AddField(
            model_name="stagechange",
            name="stay_us",
            field=models.BigIntegerField(
                blank=True, editable=False, null=True, verbose_name="stay (microseconds)"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="stagechange",
            index=models.Index(
                condition=models.Q(("stay_us__isnull", False)),
                fields=["to_stage", "stay_us", "deal_opened_at", "deal_pipeline"],
                name="stagechange_stay",
            ),
        ),
    ]
