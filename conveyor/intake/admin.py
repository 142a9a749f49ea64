from __future__ import annotations

from django.contrib import admin

from conveyor.core.admin import AuditedAdmin
from conveyor.intake.models import Lead, LeadForm, QualificationQuestion, RoutingRule


@admin.register(Lead)
class LeadAdmin(AuditedAdmin[Lead]):
    list_display = [
        "received_at",
        "channel",
        "status",
        "name",
        "email",
        "phone",
        "segment",
        "score",
        "temperature",
        "routed_owner",
    ]
    list_filter = ["channel", "status", "segment", "temperature"]
    search_fields = ["name", "email", "phone"]
    raw_id_fields = ["person", "deal", "form", "routed_pipeline", "routed_owner"]


@admin.register(QualificationQuestion)
class QualificationQuestionAdmin(AuditedAdmin[QualificationQuestion]):
    list_display = ["segment", "position", "text", "kind", "is_required"]
    list_filter = ["segment", "kind"]


@admin.register(LeadForm)
class LeadFormAdmin(AuditedAdmin[LeadForm]):
    list_display = ["name", "key", "segment", "pipeline", "is_active", "created_at"]
    list_filter = ["is_active", "segment"]
    search_fields = ["name", "key"]
    readonly_fields = ["key", "created_by", "created_at"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin[RoutingRule]):
    list_display = [
        "position",
        "name",
        "is_active",
        "segment",
        "pipeline",
        "owner_strategy",
        "team",
        "fixed_owner",
        "auto_accept",
    ]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "segment", "owner_strategy", "auto_accept"]
    search_fields = ["name", "source"]
    # The round-robin cursor is the service's to move.
    readonly_fields = ["last_assigned"]
