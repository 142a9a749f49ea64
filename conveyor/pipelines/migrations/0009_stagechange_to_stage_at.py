"""Entries into a stage over a window (the key meetings a day) read from one index,
(to_stage, at), which also serves every lookup the plain foreign-key index on to_stage did; that
one is dropped by name rather than by altering the field, which SQLite would do by copying the
whole table."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0008_deal_touches_to_win"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="stagechange",
            index=models.Index(fields=["to_stage", "at"], name="stagechange_to_stage_at"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="stagechange",
                    name="to_stage",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="pipelines.stage",
                        verbose_name="to stage",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS pipelines_stagechange_to_stage_id_4eb56480",
                    reverse_sql=(
                        "CREATE INDEX pipelines_stagechange_to_stage_id_4eb56480 "
                        "ON pipelines_stagechange (to_stage_id)"
                    ),
                ),
            ],
        ),
    ]
