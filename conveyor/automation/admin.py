from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conveyor.automation.mail import email_text_clean
from conveyor.automation.models import (
    AutomationRule,
    AutomationRun,
    BodyFormat,
    EmailTemplate,
    EmailTemplateText,
    OutgoingEmail,
    WebhookDelivery,
    WebhookEndpoint,
)
from conveyor.automation.webhooks import SECRET_SHOWN_CHARS, webhook_endpoint_clean
from conveyor.core.admin import AuditedAdmin
from conveyor.core.errors import ServiceError


def _service_checked(form: forms.ModelForm[Any], check: Any, **fields: Any) -> Any:
    """Run the service's own check on the form's values; its refusal becomes a form error on
    the field it names, so the admin accepts exactly what the services accept."""
    try:
        return check(**fields)
    except ServiceError as error:
        field = error.field if error.field in form.fields else None
        raise forms.ValidationError({field: error.message} if field else error.message) from None


class ReadOnlyLog(admin.ModelAdmin[Any]):
    """Logs are written by the engine only: shown, never edited or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AutomationRule)
class AutomationRuleAdmin(AuditedAdmin[AutomationRule]):
    list_display = ["name", "pipeline", "stage", "trigger", "delay_days", "action", "is_active"]
    list_filter = ["pipeline", "trigger", "action", "is_active"]


@admin.register(AutomationRun)
class AutomationRunAdmin(ReadOnlyLog):
    list_display = ["created_at", "rule", "event_key", "deal", "status", "attempts", "result"]
    list_filter = ["status", "rule"]
    list_select_related = ["rule", "deal"]
    raw_id_fields = ["deal", "lead"]


class EmailTemplateTextForm(forms.ModelForm[EmailTemplateText]):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("language") and not self.errors:
            data["subject"], data["body"] = _service_checked(
                self,
                email_text_clean,
                language=data["language"],
                subject=data.get("subject", ""),
                body=data.get("body", ""),
                format=data.get("format") or BodyFormat.TEXT,
            )
        return data


class EmailTemplateTextInline(admin.StackedInline[EmailTemplateText, EmailTemplate]):
    model = EmailTemplateText
    form = EmailTemplateTextForm
    extra = 0


@admin.register(EmailTemplate)
class EmailTemplateAdmin(AuditedAdmin[EmailTemplate]):
    list_display = ["name", "is_active"]
    inlines = [EmailTemplateTextInline]


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyLog):
    list_display = ["created_at", "to", "subject", "deal", "status", "attempts"]
    list_filter = ["status"]
    list_select_related = ["deal"]
    raw_id_fields = ["deal", "person", "touch"]


class WebhookEndpointForm(forms.ModelForm[WebhookEndpoint]):
    """The signing secret is neither shown nor typed here: a new endpoint gets a random one,
    an existing one keeps its own (Settings → Webhooks shows a new secret once and rotates)."""

    # Django 6's default: an address typed without a scheme is taken as https.
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "is_active", "created_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            data["name"], data["url"], data["events"], self.instance.secret = _service_checked(
                self,
                webhook_endpoint_clean,
                name=data.get("name", ""),
                url=data.get("url", ""),
                events=data.get("events") or [],
                secret=self.instance.secret or None,
            )
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AuditedAdmin[WebhookEndpoint]):
    form = WebhookEndpointForm
    list_display = ["name", "url", "is_active", "created_at"]
    readonly_fields = ["secret_end"]

    @admin.display(description=_("signing secret"))
    def secret_end(self, endpoint: WebhookEndpoint) -> str:
        if not endpoint.secret:
            return gettext("Made when saved; see it once under Settings → Webhooks.")
        return f"…{endpoint.secret[-SECRET_SHOWN_CHARS:]}"


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
    list_select_related = ["endpoint"]
