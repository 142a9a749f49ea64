"""Reads on automation settings."""

from __future__ import annotations

from django.db.models import QuerySet

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.automation.models import AutomationRule


def managed_rules(user: User) -> QuerySet[AutomationRule]:
    """Every automation rule with its pipeline and stage, by pipeline and order, for the
    owners and heads who manage them; nothing for anyone else."""
    if not can_manage_settings(user):
        return AutomationRule.objects.none()
    return AutomationRule.objects.select_related("pipeline", "stage").order_by(
        "pipeline__name", "position", "pk"
    )
