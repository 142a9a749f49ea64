from __future__ import annotations

from django.contrib import admin

from conveyor.analytics.models import Expense, Hypothesis
from conveyor.core.admin import AuditedAdmin


@admin.register(Expense)
class ExpenseAdmin(AuditedAdmin[Expense]):
    list_display = ["channel", "period_start", "period_end", "amount"]
    list_filter = ["channel"]


@admin.register(Hypothesis)
class HypothesisAdmin(AuditedAdmin[Hypothesis]):
    list_display = ["title", "stage", "started_on", "window_days"]
