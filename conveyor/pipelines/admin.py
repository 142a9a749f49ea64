from __future__ import annotations

from django.contrib import admin

from conveyor.core.admin import AuditedAdmin
from conveyor.pipelines.models import Deal, LossReason, Pipeline, Segment, Stage, StageChange


@admin.register(Segment)
class SegmentAdmin(AuditedAdmin[Segment]):
    list_display = ["name"]
    search_fields = ["name"]


class StageInline(admin.TabularInline[Stage, Pipeline]):
    model = Stage
    extra = 0
    fields = [
        "position",
        "name",
        "exit_criterion",
        "target_action",
        "probability",
        "rot_days",
        "is_key_meeting",
        "is_archived",
    ]


@admin.register(Pipeline)
class PipelineAdmin(AuditedAdmin[Pipeline]):
    list_display = ["name", "segment", "process", "is_active"]
    list_filter = ["process", "segment", "is_active"]
    inlines = [StageInline]


@admin.register(Stage)
class StageAdmin(AuditedAdmin[Stage]):
    list_display = ["pipeline", "position", "name", "exit_criterion", "is_key_meeting"]
    list_filter = ["pipeline"]


@admin.register(LossReason)
class LossReasonAdmin(AuditedAdmin[LossReason]):
    list_display = ["name", "pipeline", "is_active"]
    list_filter = ["pipeline", "is_active"]
    filter_horizontal = ["stages"]


class StageChangeInline(admin.TabularInline[StageChange, Deal]):
    model = StageChange
    extra = 0
    can_delete = False
    fields = ["kind", "from_stage", "to_stage", "at", "left_at", "user"]
    readonly_fields = ["kind", "from_stage", "to_stage", "at", "left_at", "user"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False  # history is appended by the services only


@admin.register(Deal)
class DealAdmin(AuditedAdmin[Deal]):
    list_display = ["__str__", "person", "pipeline", "stage", "owner", "status", "amount"]
    list_filter = ["status", "pipeline"]
    search_fields = ["title", "person__name"]
    raw_id_fields = ["person", "owner"]
    list_select_related = ["person", "pipeline", "stage", "owner"]
    # State changes go through the services (history, locking); the admin only shows them.
    # The pipeline and opening time are copied onto the history too (deal_transfer moves it).
    readonly_fields = [
        "pipeline",
        "opened_at",
        "stage",
        "status",
        "closed_at",
        "lost_reason",
        "lost_stage",
        "purchase_number",
        "touches_to_win",
        "max_position",
        "stage_entered_at",
        "version",
    ]
    inlines = [StageChangeInline]


@admin.register(StageChange)
class StageChangeAdmin(AuditedAdmin[StageChange]):
    # Shown, never added or changed by hand; a row deleted here (or with its deal) is recorded.
    list_display = ["deal", "kind", "from_stage", "to_stage", "at", "user"]
    list_filter = ["kind"]
    raw_id_fields = ["deal"]

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: object) -> bool:
        return False
