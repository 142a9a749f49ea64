from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from conveyor.automation.models import (
    AutomationRule,
    AutomationRun,
    EmailTemplate,
    EmailTemplateText,
    OutgoingEmail,
    WebhookDelivery,
    WebhookEndpoint,
)


class ReadOnlyLog(admin.ModelAdmin[Any]):
    """Logs are written by the engine only: shown, never edited or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AutomationRule)
class AutomationRuleAdmin(admin.ModelAdmin[AutomationRule]):
    list_display = ["name", "pipeline", "stage", "trigger", "delay_days", "action", "is_active"]
    list_filter = ["pipeline", "trigger", "action", "is_active"]


@admin.register(AutomationRun)
class AutomationRunAdmin(ReadOnlyLog):
    list_display = ["created_at", "rule", "event_key", "deal", "status", "attempts", "result"]
    list_filter = ["status", "rule"]
    raw_id_fields = ["deal", "lead"]


class EmailTemplateTextInline(admin.StackedInline[EmailTemplateText, EmailTemplate]):
    model = EmailTemplateText
    extra = 0


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin[EmailTemplate]):
    list_display = ["name", "is_active"]
    inlines = [EmailTemplateTextInline]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyLog):
    list_display = ["created_at", "to", "subject", "deal", "status", "attempts"]
    list_filter = ["status"]
    raw_id_fields = ["deal", "person", "touch"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    list_display = ["name", "url", "is_active", "created_at"]
    # Django 6's default: an address typed without a scheme is taken as https.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyLog):
    list_display = [
        "created_at",
        "endpoint",
        "event",
        "event_id",
        "status",
        "attempts",
        "response_status",
    ]
    list_filter = ["status", "event", "endpoint"]
