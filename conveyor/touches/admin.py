from __future__ import annotations

from django.contrib import admin

from conveyor.core.admin import AuditedAdmin
from conveyor.touches.models import Cadence, CadenceRun, CadenceStep, Task, Touch


@admin.register(Touch)
class TouchAdmin(AuditedAdmin[Touch]):
    list_display = ["at", "kind", "channel", "person", "deal", "user", "step", "outcome"]
    list_filter = ["kind", "channel", "outcome"]
    raw_id_fields = ["deal", "person", "user"]


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
