from __future__ import annotations

from django.contrib import admin

from conveyor.intake.models import Lead, LeadForm, QualificationQuestion


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin[Lead]):
    list_display = ["received_at", "channel", "status", "name", "email", "phone", "segment"]
    list_filter = ["channel", "status", "segment"]
    search_fields = ["name", "email", "phone"]
    raw_id_fields = ["person", "deal", "form"]


@admin.register(QualificationQuestion)
class QualificationQuestionAdmin(admin.ModelAdmin[QualificationQuestion]):
    list_display = ["segment", "position", "text", "kind", "is_required"]
    list_filter = ["segment", "kind"]


@admin.register(LeadForm)
class LeadFormAdmin(admin.ModelAdmin[LeadForm]):
    list_display = ["name", "key", "segment", "pipeline", "is_active", "created_at"]
    list_filter = ["is_active", "segment"]
    search_fields = ["name", "key"]
    readonly_fields = ["key", "created_by", "created_at"]
