"""Touches (what happened), tasks (what is planned) and cadences (templates of planned touches).

Touches are warming (remind, care, no push) or closing (push one step forward); a first sale
takes 5-12 of them in about a 5:1 rhythm.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TouchKind(models.TextChoices):
    WARMING = "warming", _("Warming")
    CLOSING = "closing", _("Closing")


class Channel(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("E-mail")
    MEETING = "meeting", _("Meeting")
    MESSAGE = "message", _("Message")
    VISIT = "visit", _("Visit")
    OTHER = "other", _("Other")


class Direction(models.TextChoices):
    OUTGOING = "out", _("Outgoing")
    INCOMING = "in", _("Incoming")


class ClosingStep(models.TextChoices):
    MEETING = "meeting", _("Meeting")
    DEMO = "demo", _("Demo")
    AUDIT = "audit", _("Audit")
    CONTRACT_REVIEW = "contract_review", _("Contract review")
    INVOICE = "invoice", _("Invoice")
    PAYMENT = "payment", _("Payment")
    CUSTOM = "custom", _("Other step")


class Outcome(models.TextChoices):
    ADVANCED = "advanced", _("Advanced")
    NOT_ADVANCED = "not_advanced", _("Not advanced")
    REFUSED = "refused", _("Refused")


class Touch(models.Model):
    """One interaction with a client. A closing touch records the step asked for and its outcome."""

    # The three keys are indexed together with `at` (Meta.indexes); single-column indexes on
    # them as well would only slow the inserts of a 10M-row table.
    deal = models.ForeignKey(
        "pipelines.Deal",
        verbose_name=_("deal"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="touches",
        db_index=False,
    )
    person = models.ForeignKey(
        "people.Person",
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="touches",
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touches",
        db_index=False,
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=8, choices=TouchKind.choices)
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.CALL
    )
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, default=Direction.OUTGOING
    )
    step = models.CharField(
        _("step asked for"), max_length=16, choices=ClosingStep.choices, blank=True
    )
    step_note = models.CharField(_("custom step"), max_length=120, blank=True)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    # Where the touch falls in its deal's history, kept by touch_log, the deal services (a change
    # dated before later touches re-homes them), deal_transfer and the importers in the same
    # transactions: the stage the deal was in at `at` (the stay [entered, left) holding it; None
    # before the deal opened, after it closed, or without a deal) and the deal's cohort keys,
    # so the costs report counts effort per stage from one index instead of joining every
    # stay to every touch.
    stage = models.ForeignKey(
        "pipelines.Stage",
        verbose_name=_("stage at the time"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    deal_pipeline = models.ForeignKey(
        "pipelines.Pipeline",
        verbose_name=_("deal's pipeline"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    deal_opened_at = models.DateTimeField(_("deal opened"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("touch")
        verbose_name_plural = _("touches")
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["deal", "at"], name="touch_deal_at"),
            models.Index(fields=["person", "at"], name="touch_person_at"),
            models.Index(fields=["user", "at"], name="touch_user_at"),
            # The touches report's tally (per user, kind, step and outcome over a window) read
            # in index order: SQLite groups without sorting the millions of touches, and
            # neither database reads the table.
            models.Index(fields=["user", "kind", "step", "outcome", "at"], name="touch_tally"),
            # The costs report's effort per stage: a pipeline's touches by the stage they fell
            # in, each stage's cohort a range of the opening times (grouped in index order).
            models.Index(
                fields=["deal_pipeline", "stage", "deal_opened_at"],
                name="touch_stay",
                condition=Q(stage__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="closing") | (Q(step="") & Q(outcome="")),
                name="touch_warming_has_no_step_or_outcome",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="touch_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d}"


class Cadence(models.Model):
    """A template of touch steps; a deal entering one of `stages` gets them as tasks."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    stages = models.ManyToManyField(
        "pipelines.Stage", verbose_name=_("stages"), blank=True, related_name="cadences"
    )
    warming_per_closing = models.PositiveSmallIntegerField(
        _("warming touches before a closing one"), default=5
    )
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("cadence")
        verbose_name_plural = _("cadences")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_cadence"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CadenceStep(models.Model):
    """One planned touch of a cadence, `day_offset` working days after the deal enters the stage."""

    cadence = models.ForeignKey(
        Cadence, verbose_name=_("cadence"), on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    day_offset = models.PositiveSmallIntegerField(_("day"))
    kind = models.CharField(_("kind"), max_length=8, choices=TouchKind.choices)
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.CALL
    )
    script = models.TextField(_("script"), blank=True)

    class Meta:
        verbose_name = _("cadence step")
        verbose_name_plural = _("cadence steps")
        ordering = ["cadence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "position"], name="cadence_step_position")
        ]

    def __str__(self) -> str:
        return f"{self.cadence} #{self.position}"


class CadenceRun(models.Model):
    """One deal going through one cadence at one stage: its steps become tasks when the deal
    enters the stage; leaving the stage (or closing the deal) cancels the tasks still open."""

    deal = models.ForeignKey(
        "pipelines.Deal",
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        related_name="cadence_runs",
    )
    cadence = models.ForeignKey(
        Cadence, verbose_name=_("cadence"), on_delete=models.CASCADE, related_name="runs"
    )
    stage = models.ForeignKey(
        "pipelines.Stage",
        verbose_name=_("stage"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)

    class Meta:
        verbose_name = _("cadence run")
        verbose_name_plural = _("cadence runs")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["deal", "stopped_at"], name="cadence_run_deal_open")]

    def __str__(self) -> str:
        return f"{self.cadence} / {self.deal_id}"


class Task(models.Model):
    """A planned touch. An open deal without an undone task is stalled."""

    deal = models.ForeignKey(
        "pipelines.Deal",
        verbose_name=_("deal"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    person = models.ForeignKey(
        "people.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    # PROTECT: a task belongs to its deal or person, not to whoever was to do it; removing a
    # user must not silently take the deals' tasks along (hand them over, or deactivate).
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    title = models.CharField(_("title"), max_length=200)
    due_at = models.DateTimeField(_("due"))
    kind = models.CharField(
        _("kind"), max_length=8, choices=TouchKind.choices, default=TouchKind.WARMING
    )
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.CALL
    )
    cadence_step = models.ForeignKey(
        CadenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    cadence_run = models.ForeignKey(
        CadenceRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_touch = models.ForeignKey(
        Touch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["due_at"]
        indexes = [
            models.Index(fields=["assignee", "done_at", "due_at"], name="task_agenda"),
            models.Index(fields=["deal", "done_at"], name="task_deal_open"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=False) | Q(person__isnull=False),
                name="task_has_deal_or_person",
            ),
            models.CheckConstraint(
                condition=Q(done_at__isnull=True) | Q(cancelled_at__isnull=True),
                name="task_not_done_and_cancelled",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.done_at is None and self.cancelled_at is None
