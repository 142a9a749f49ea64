"""Automation: rules (a trigger on a pipeline, optionally a stage, runs one action), the log of
every run, e-mail templates and the e-mails sent, outgoing webhooks and their deliveries.

Every run, e-mail and delivery is a row before it is work: the row is written in the transaction
of the event, a background job loads it by id, and its status says whether it still has to run —
so a job delivered twice does nothing the second time, and a lost job is found by the sweep.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Trigger(models.TextChoices):
    LEAD_RECEIVED = "lead_received", _("Lead received")
    DEAL_CREATED = "deal_created", _("Deal created")
    STAGE_ENTERED = "stage_entered", _("Stage entered")
    NO_TOUCH = "no_touch", _("No touch for N days")
    TASK_OVERDUE = "task_overdue", _("Task overdue")
    DEAL_WON = "deal_won", _("Deal won")
    DEAL_LOST = "deal_lost", _("Deal lost")
    DEAL_ROTTING = "deal_rotting", _("Deal rotting in its stage")


class WebhookEvent(models.TextChoices):
    """The triggers a webhook endpoint can subscribe to: those told to every subscriber as they
    happen (engine.on_deal_changed, on_lead_received). The time-based ones (no touch, task
    overdue, rotting) are looked for only for the rules that ask; such a rule's "call a webhook"
    action is how they reach an endpoint."""

    LEAD_RECEIVED = Trigger.LEAD_RECEIVED.value, Trigger.LEAD_RECEIVED.label
    DEAL_CREATED = Trigger.DEAL_CREATED.value, Trigger.DEAL_CREATED.label
    STAGE_ENTERED = Trigger.STAGE_ENTERED.value, Trigger.STAGE_ENTERED.label
    DEAL_WON = Trigger.DEAL_WON.value, Trigger.DEAL_WON.label
    DEAL_LOST = Trigger.DEAL_LOST.value, Trigger.DEAL_LOST.label


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


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")


class Attempts(models.Model):
    """Status and retry bookkeeping shared by runs, e-mails and webhook deliveries."""

    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    result = models.TextField(_("result"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        abstract = True


class AutomationRun(Attempts):
    """One firing of a rule for one event. (rule, event_key) is unique: the same event never runs
    a rule twice, however often it is reported."""

    rule = models.ForeignKey(
        AutomationRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="runs"
    )
    event_key = models.CharField(_("event"), max_length=120)
    deal = models.ForeignKey(
        "pipelines.Deal",
        verbose_name=_("deal"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="automation_runs",
    )
    lead = models.ForeignKey(
        "intake.Lead",
        verbose_name=_("lead"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="automation_runs",
    )

    class Meta:
        verbose_name = _("automation run")
        verbose_name_plural = _("automation runs")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "event_key"], name="automation_run_once")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="automation_run_due")]

    def __str__(self) -> str:
        return f"{self.rule} · {self.event_key}"


class EmailTemplate(models.Model):
    """An e-mail with variables ({{ person.name }}, {{ deal.amount }}, {{ manager.name }}), written
    once per UI language; the client's language decides which text goes out."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("e-mail template")
        verbose_name_plural = _("e-mail templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BodyFormat(models.TextChoices):
    TEXT = "text", _("Plain text")
    HTML = "html", _("Formatted (HTML)")


class EmailTemplateText(models.Model):
    """The subject and body of a template in one language. A formatted body is the small HTML
    of `conveyor.core.richtext` (cleaned when saved) and goes out with a plain-text twin."""

    template = models.ForeignKey(
        EmailTemplate, verbose_name=_("template"), on_delete=models.CASCADE, related_name="texts"
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    format = models.CharField(
        _("format"), max_length=4, choices=BodyFormat.choices, default=BodyFormat.TEXT
    )

    class Meta:
        verbose_name = _("e-mail template text")
        verbose_name_plural = _("e-mail template texts")
        constraints = [
            models.UniqueConstraint(fields=["template", "language"], name="template_text_language")
        ]

    def __str__(self) -> str:
        return f"{self.template} [{self.language}]"


class OutgoingEmail(Attempts):
    """An e-mail to a client, rendered when queued and sent by a background job; once sent it is
    logged as an outgoing e-mail touch on the deal."""

    template = models.ForeignKey(
        EmailTemplate,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="emails",
    )
    deal = models.ForeignKey(
        "pipelines.Deal",
        verbose_name=_("deal"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="emails",
    )
    person = models.ForeignKey(
        "people.Person", verbose_name=_("person"), on_delete=models.CASCADE, related_name="emails"
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sender"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to = models.EmailField(_("to"))
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("body"))
    # The formatted version, already cleaned; empty for a plain-text e-mail.
    html_body = models.TextField(_("formatted body"), blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    message_id = models.CharField(_("message id"), max_length=255, blank=True)
    touch = models.ForeignKey(
        "touches.Touch",
        verbose_name=_("touch"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="email_due")]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"


class WebhookEndpoint(models.Model):
    """An outside address told about events, each request signed with `secret` (HMAC-SHA256)."""

    name = models.CharField(_("name"), max_length=120)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=128)
    # Event names this endpoint wants (WebhookEvent values); empty = every event.
    events = models.JSONField(_("events"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(Attempts):
    """One event sent (or being sent) to one endpoint, with what the endpoint answered."""

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.CharField(_("event"), max_length=32)
    # Sent as the X-Conveyor-Event-Id header, so receivers can drop a retried duplicate.
    event_id = models.CharField(_("event id"), max_length=64)
    payload = models.JSONField(_("payload"))
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self) -> str:
        return f"{self.endpoint} · {self.event} · {self.event_id}"
