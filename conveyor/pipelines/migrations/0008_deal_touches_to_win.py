"""A won deal keeps the number of its touches up to the win (`touches_to_win`, None unless won:
a constraint), counted here for the deals already won; the `deal_closed` index carries it so
the touches report reads it with the deals."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations, models


def backfill(apps: Any, schema_editor: Any) -> None:
    deals = apps.get_model("pipelines", "Deal")._meta.db_table
    touches = apps.get_model("touches", "Touch")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {deals} SET touches_to_win = ("  # noqa: S608 - table names only
            f"SELECT COUNT(*) FROM {touches} t WHERE t.deal_id = {deals}.id "
            f"AND t.at <= {deals}.closed_at) WHERE status = 'won'"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0002_suppression_list"),
        ("pipelines", "0007_deal_report_indexes"),
        ("touches", "0005_touch_tally_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="deal",
            name="deal_closed",
        ),
        migrations.AddField(
            model_name="deal",
            name="touches_to_win",
            field=models.PositiveIntegerField(
                blank=True, editable=False, null=True, verbose_name="touches to the win"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="deal",
            constraint=models.CheckConstraint(
                condition=models.Q(("status", "won"), ("touches_to_win__isnull", False))
                | models.Q(
                    models.Q(("status", "won"), _negated=True), ("touches_to_win__isnull", True)
                ),
                name="deal_touches_to_win_iff_won",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                fields=[
                    "status",
                    "closed_at",
                    "purchase_number",
                    "opened_at",
                    "id",
                    "touches_to_win",
                ],
                name="deal_closed",
            ),
        ),
    ]
