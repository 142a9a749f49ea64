"""Touches carry where they fall in their deal's history (the stage the deal was in, the deal's
cohort keys), so the costs report reads one index (`touch_stay`) instead of joining millions of
touches to the stage history. Existing rows are filled in set-based before the index is
built."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def backfill(apps: Any, schema_editor: Any) -> None:
    touches = apps.get_model("touches", "Touch")._meta.db_table
    deals = apps.get_model("pipelines", "Deal")._meta.db_table
    changes = apps.get_model("pipelines", "StageChange")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        # The stage a touch fell in: that of the deal's last change at or before it (a won or
        # lost change has none), the later one of two at the same moment.
        cursor.execute(
            f"UPDATE {touches} SET "  # noqa: S608 - table names only
            f"deal_pipeline_id = (SELECT d.pipeline_id FROM {deals} d WHERE d.id = deal_id), "
            f"deal_opened_at = (SELECT d.opened_at FROM {deals} d WHERE d.id = deal_id), "
            f"stage_id = (SELECT c.to_stage_id FROM {changes} c WHERE c.deal_id = "
            f"{touches}.deal_id AND c.at <= {touches}.at ORDER BY c.at DESC, c.id DESC LIMIT 1) "
            f"WHERE deal_id IS NOT NULL"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0002_suppression_list"),
        ("pipelines", "0008_deal_touches_to_win"),
        ("touches", "0005_touch_tally_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="touch",
            name="deal_opened_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="deal opened"
            ),
        ),
        migrations.AddField(
            model_name="touch",
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
            model_name="touch",
            name="stage",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="pipelines.stage",
                verbose_name="stage at the time",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="touch",
            index=models.Index(
                condition=models.Q(("stage__isnull", False)),
                fields=["deal_pipeline", "stage", "deal_opened_at"],
                name="touch_stay",
            ),
        ),
    ]
