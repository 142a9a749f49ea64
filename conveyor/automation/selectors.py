"""Reads on automation settings."""

from __future__ import annotations

from django.db.models import QuerySet

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.automation.models import AutomationRule, EmailTemplate, WebhookEndpoint


def managed_rules(user: User) -> QuerySet[AutomationRule]:
    """Every automation rule with its pipeline and stage, by pipeline and order, for the
    owners and heads who manage them; nothing for anyone else."""
    if not can_manage_settings(user):
        return AutomationRule.objects.none()
    return AutomationRule.objects.select_related("pipeline", "stage").order_by(
        "pipeline__name", "position", "pk"
    )


def settings_email_templates(user: User) -> QuerySet[EmailTemplate]:
    """Every e-mail template with its texts, by name, for the owners and heads who manage
    them; none for anyone else."""
    if not can_manage_settings(user):
        return EmailTemplate.objects.none()
    return EmailTemplate.objects.prefetch_related("texts").order_by("name", "pk")


def settings_webhooks(user: User) -> QuerySet[WebhookEndpoint]:
    """Every webhook endpoint, by name, for the owners and heads who manage them; none for
    anyone else."""
    if not can_manage_settings(user):
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.order_by("name", "pk")
