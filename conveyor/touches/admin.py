from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from conveyor.core.admin import AuditedAdmin
from conveyor.touches.models import Cadence, CadenceRun, CadenceStep, Task, Touch
from conveyor.touches.placement import touches_recount


@admin.register(Touch)
class TouchAdmin(AuditedAdmin[Touch]):
    # Touches are logged in the app (touch_log keeps where each falls in its deal's history);
    # here they are shown, and a wrong one deleted, its deal's count to the win redone.
    list_display = ["at", "kind", "channel", "person", "deal", "user", "step", "outcome"]
    list_filter = ["kind", "channel", "outcome"]
    raw_id_fields = ["deal", "person", "user"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Touch) -> None:
        super().delete_model(request, obj)
        if obj.deal_id is not None:
            touches_recount([obj.deal_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Touch]) -> None:
        deal_ids = {pk for pk in queryset.values_list("deal_id", flat=True) if pk is not None}
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            touches_recount(deal_ids)


@admin.register(Task)
class TaskAdmin(AuditedAdmin[Task]):
    list_display = ["title", "due_at", "assignee", "deal", "done_at"]
    list_filter = ["kind", "assignee"]
    raw_id_fields = ["deal", "person", "done_touch", "cadence_step", "cadence_run"]


class CadenceStepInline(admin.TabularInline[CadenceStep, Cadence]):
    model = CadenceStep
    extra = 0


@admin.register(Cadence)
class CadenceAdmin(AuditedAdmin[Cadence]):
    list_display = ["name", "warming_per_closing", "is_default"]
    filter_horizontal = ["stages"]
    inlines = [CadenceStepInline]


@admin.register(CadenceRun)
class CadenceRunAdmin(AuditedAdmin[CadenceRun]):
    list_display = ["cadence", "deal", "stage", "started_at", "stopped_at"]
    raw_id_fields = ["deal"]
