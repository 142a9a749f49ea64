from __future__ import annotations

from django.contrib import admin

from conveyor.intake.models import Lead, QualificationQuestion


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin[Lead]):
    list_display = ["received_at", "channel", "status", "name", "email", "phone", "segment"]
    list_filter = ["channel", "status", "segment"]
    search_fields = ["name", "email", "phone"]
    raw_id_fields = ["person", "deal"]


@admin.register(QualificationQuestion)
class QualificationQuestionAdmin(admin.ModelAdmin[QualificationQuestion]):
    list_display = ["segment", "position", "text", "kind", "is_required"]
    list_filter = ["segment", "kind"]
