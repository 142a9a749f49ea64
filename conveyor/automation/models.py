"""Automation rules: a trigger on a pipeline (and optionally a stage) runs one action.

The engine that runs them comes with the automation issue; the rules are data from day one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Trigger(models.TextChoices):
    LEAD_RECEIVED = "lead_received", _("Lead received")
    DEAL_CREATED = "deal_created", _("Deal created")
    STAGE_ENTERED = "stage_entered", _("Stage entered")
    NO_TOUCH = "no_touch", _("No touch for N days")
    TASK_OVERDUE = "task_overdue", _("Task overdue")
    DEAL_WON = "deal_won", _("Deal won")
    DEAL_LOST = "deal_lost", _("Deal lost")


class Action(models.TextChoices):
    CREATE_TASK = "create_task", _("Create a task")
    START_CADENCE = "start_cadence", _("Start a cadence")
    MOVE_TO_PIPELINE = "move_to_pipeline", _("Move to another pipeline")
    COPY_TO_PIPELINE = "copy_to_pipeline", _("Copy to another pipeline")
    ASSIGN_OWNER = "assign_owner", _("Assign owner")
    SEND_EMAIL = "send_email", _("Send an e-mail from a template")
    CALL_WEBHOOK = "call_webhook", _("Call an outgoing webhook")


class AutomationRule(models.Model):
    """When `trigger` fires in `pipeline` (at `stage`, if set), do `action` with `params`."""

    name = models.CharField(_("name"), max_length=160)
    pipeline = models.ForeignKey(
        "pipelines.Pipeline",
        verbose_name=_("pipeline"),
        on_delete=models.CASCADE,
        related_name="automation_rules",
    )
    stage = models.ForeignKey(
        "pipelines.Stage",
        verbose_name=_("stage"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="automation_rules",
    )
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    delay_days = models.PositiveIntegerField(
        _("days"),
        default=0,
        help_text=_("N for 'no touch for N days'; a delay for other triggers."),
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("order"), default=1)

    class Meta:
        verbose_name = _("automation rule")
        verbose_name_plural = _("automation rules")
        ordering = ["pipeline", "position"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(trigger="no_touch") | Q(delay_days__gte=1),
                name="rule_no_touch_needs_days",
            )
        ]

    def __str__(self) -> str:
        return self.name
