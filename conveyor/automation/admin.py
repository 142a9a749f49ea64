from __future__ import annotations

from django.contrib import admin

from conveyor.automation.models import AutomationRule


@admin.register(AutomationRule)
class AutomationRuleAdmin(admin.ModelAdmin[AutomationRule]):
    list_display = ["name", "pipeline", "stage", "trigger", "action", "is_active"]
    list_filter = ["pipeline", "trigger", "action", "is_active"]
