from __future__ import annotations

from django.contrib import admin

from conveyor.analytics.models import Expense, Hypothesis


@admin.register(Expense)
class ExpenseAdmin(admin.ModelAdmin[Expense]):
    list_display = ["channel", "period_start", "period_end", "amount"]
    list_filter = ["channel"]


@admin.register(Hypothesis)
class HypothesisAdmin(admin.ModelAdmin[Hypothesis]):
    list_display = ["title", "stage", "started_on", "window_days"]
