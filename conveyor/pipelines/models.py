"""Segments, pipelines and their stages; deals and their append-only stage history.

Stages are named by the client's action (the exit criterion). Won and lost are deal outcomes,
not stages. Deals carry a few fields maintained by the services in the same transaction as each
change (current stage, highest position reached, purchase number) so reports need no replay.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _currency_default() -> str:
    return str(settings.CONVEYOR_CURRENCY)


class Process(models.TextChoices):
    LEAD_GENERATION = "lead_generation", _("Lead generation")
    CONVERSION = "conversion", _("Lead conversion")
    ACCOUNT_MANAGEMENT = "account_management", _("Account management")


class Segment(models.Model):
    """Clients who go through the same sequence of steps; each segment has its own funnels."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="segment_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Pipeline(models.Model):
    """The ordered stages one segment goes through in one process (a funnel)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pipelines",
    )
    process = models.CharField(
        _("process"), max_length=24, choices=Process.choices, default=Process.CONVERSION
    )
    is_active = models.BooleanField(_("active"), default=True)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="pipeline_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    """One step of a pipeline, defined by what the client does to leave it (exit criterion)."""

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages"
    )
    position = models.PositiveSmallIntegerField(_("position"), validators=[MinValueValidator(1)])
    name = models.CharField(_("name"), max_length=120)
    exit_criterion = models.CharField(
        _("exit criterion"),
        max_length=255,
        blank=True,
        help_text=_("The client's action that moves the deal on, e.g. 'Received the proposal'."),
    )
    target_action = models.CharField(
        _("target action"),
        max_length=255,
        blank=True,
        help_text=_("What the manager pushes the client to do to leave this stage."),
    )
    probability = models.DecimalField(
        _("probability"),
        max_digits=5,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
    )
    rot_days = models.PositiveIntegerField(_("rot after days"), null=True, blank=True)
    # [{"text": "Sent the proposal", "mandatory": true}, ...]; a plain string is an optional item.
    playbook = models.JSONField(_("playbook checklist"), default=list, blank=True)
    script = models.TextField(
        _("script"), blank=True, help_text=_("What to say at this stage: the tested words.")
    )
    is_key_meeting = models.BooleanField(_("key meeting"), default=False)
    is_archived = models.BooleanField(_("archived"), default=False)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "position"],
                condition=Q(is_archived=False),
                name="stage_one_open_position",
            ),
            models.CheckConstraint(condition=Q(position__gte=1), name="stage_position_gte_1"),
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=1),
                name="stage_probability_0_1",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="stage_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class LossReason(models.Model):
    """Why a deal was lost. No pipeline = offered in every pipeline; stages narrow it further."""

    name = models.CharField(_("name"), max_length=160)
    pipeline = models.ForeignKey(
        Pipeline,
        verbose_name=_("pipeline"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="loss_reasons",
    )
    stages = models.ManyToManyField(
        Stage, verbose_name=_("only at stages"), blank=True, related_name="loss_reasons"
    )
    is_active = models.BooleanField(_("active"), default=True)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)

    class Meta:
        verbose_name = _("loss reason")
        verbose_name_plural = _("loss reasons")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="lossreason_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class DealStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Deal(models.Model):
    """One attempt to sell one thing to one person, moving through one pipeline."""

    person = models.ForeignKey(
        "people.Person", verbose_name=_("person"), on_delete=models.PROTECT, related_name="deals"
    )
    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.PROTECT, related_name="deals"
    )
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(_("currency"), max_length=3, default=_currency_default)
    status = models.CharField(
        _("status"), max_length=8, choices=DealStatus.choices, default=DealStatus.OPEN
    )
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    stage_entered_at = models.DateTimeField(_("in stage since"), default=timezone.now)
    lost_reason = models.ForeignKey(
        LossReason,
        verbose_name=_("loss reason"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deals",
    )
    lost_stage = models.ForeignKey(
        Stage,
        verbose_name=_("lost at stage"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lost_deals",
    )
    refused_by_us = models.BooleanField(_("refused by us"), default=False)
    unmet_criteria = models.TextField(_("unmet criteria"), blank=True)
    purchase_number = models.PositiveIntegerField(_("purchase number"), null=True, blank=True)
    # Highest stage position ever held; moving back never lowers it (DESIGN §4 "reached").
    max_position = models.PositiveSmallIntegerField(_("highest stage reached"), default=1)
    version = models.PositiveIntegerField(_("version"), default=1)
    external_id = models.CharField(_("external id"), max_length=64, null=True, blank=True)
    # While the deal is won: its touches up to and including the win time (DESIGN §4 "Touches
    # to first sale"), kept by deal_win, touch_log (a touch dated before the win), deal_reopen
    # (None), a touch's deletion and the importers, so the touches report reads a column
    # instead of counting millions of touches.
    touches_to_win = models.PositiveIntegerField(
        _("touches to the win"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-opened_at"]
        indexes = [
            # A pipeline's deals in the order the funnel groups its cohort (deals opened in a
            # window), with the opening time last: the funnel reads them from the index in
            # group order, so it neither reads the table nor sorts a million rows.
            models.Index(
                fields=[
                    "pipeline",
                    "status",
                    "max_position",
                    "stage",
                    "lost_stage",
                    "lost_reason",
                    "refused_by_us",
                    "opened_at",
                ],
                name="deal_cohort",
            ),
            # The board: a column's cards in time order straight from the index, and its count
            # and sum without reading the table (amount is the last key column).
            models.Index(
                fields=["pipeline", "status", "stage", "stage_entered_at", "id", "amount"],
                name="deal_board",
            ),
            models.Index(fields=["owner", "status"], name="deal_owner_status"),
            models.Index(fields=["person", "status"], name="deal_person_status"),
            # Deals won or lost in a window, with what days-to-win and touches-to-first-sale
            # read (purchase number, opening time, touches; the id for PostgreSQL's index-only
            # scans).
            models.Index(
                fields=[
                    "status",
                    "closed_at",
                    "purchase_number",
                    "opened_at",
                    "id",
                    "touches_to_win",
                ],
                name="deal_closed",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="deal_closed_at_iff_closed",
            ),
            models.CheckConstraint(
                condition=~Q(status="lost")
                | (Q(lost_reason__isnull=False) & Q(lost_stage__isnull=False)),
                name="deal_lost_has_reason_and_stage",
            ),
            models.CheckConstraint(
                condition=Q(status="won", purchase_number__isnull=False)
                | (~Q(status="won") & Q(purchase_number__isnull=True)),
                name="deal_purchase_number_iff_won",
            ),
            models.CheckConstraint(
                condition=Q(status="won", touches_to_win__isnull=False)
                | (~Q(status="won") & Q(touches_to_win__isnull=True)),
                name="deal_touches_to_win_iff_won",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="deal_version_gte_1"),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="deal_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"#{self.pk}"


class ChangeKind(models.TextChoices):
    ENTER = "enter", _("Opened")
    MOVE = "move", _("Moved")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")
    REOPENED = "reopened", _("Reopened")


class StageChange(models.Model):
    """Append-only history of a deal's path. `to_stage` is empty for the outcomes won and lost.

    `left_at` is when the deal left `to_stage` again (the next change's time); it is filled once,
    in the transaction that appends that next change, so time-in-stage needs no replay.
    """

    # Indexed by (deal, at) below; a separate index on deal alone would only slow inserts.
    deal = models.ForeignKey(
        Deal,
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        related_name="stage_changes",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=10, choices=ChangeKind.choices)
    from_stage = models.ForeignKey(
        Stage,
        verbose_name=_("from stage"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_stage = models.ForeignKey(
        Stage,
        verbose_name=_("to stage"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # `stagechange_to_stage_at` leads with it
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    # Copied from the deal (its pipeline and opening time: the report cohort) and the length of
    # the stay once `left_at` is set, in the same transactions as the fields they come from
    # (services, imports, deal_transfer), so time-in-stage reports read one index instead of
    # joining every stay to its deal. Microseconds: exact on both databases.
    deal_pipeline = models.ForeignKey(
        Pipeline,
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
    stay_us = models.BigIntegerField(
        _("stay (microseconds)"), null=True, blank=True, editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["deal", "at", "id"]
        indexes = [
            models.Index(fields=["deal", "at"], name="stagechange_deal_at"),
            # Entries into a stage over a window (key meetings per day) from the index alone.
            models.Index(fields=["to_stage", "at"], name="stagechange_to_stage_at"),
            # Covers the funnel's time-in-stage query (finished stays of a cohort's deals), so
            # it is answered from the index alone.
            models.Index(
                fields=["deal", "to_stage", "at", "left_at"],
                name="stagechange_deal_interval",
                condition=Q(to_stage__isnull=False, left_at__isnull=False),
            ),
            # Time in stage by stage: each stage's finished stays in order of length, with the
            # cohort keys beside them, so a percentile is a walk along one stage's entries.
            models.Index(
                fields=["to_stage", "stay_us", "deal_opened_at", "deal_pipeline"],
                name="stagechange_stay",
                condition=Q(stay_us__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["won", "lost"], to_stage__isnull=True)
                | (~Q(kind__in=["won", "lost"]) & Q(to_stage__isnull=False)),
                name="stagechange_to_stage_unless_outcome",
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=models.F("at")),
                name="stagechange_left_after_entered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class PlaybookCheck(models.Model):
    """A playbook item of a stage ticked off for one deal. Items are named by their text, so
    reordering the checklist keeps the ticks; rewording an item starts it afresh."""

    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="playbook_checks"
    )
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.CASCADE, related_name="+"
    )
    item = models.CharField(_("item"), max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("playbook check")
        verbose_name_plural = _("playbook checks")
        constraints = [
            models.UniqueConstraint(fields=["deal", "stage", "item"], name="playbook_check_once")
        ]

    def __str__(self) -> str:
        return self.item
