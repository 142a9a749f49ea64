"""Leads (every request, from every channel, recorded), each segment's qualifying questions and
the rules that route leads to a pipeline and an owner."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conveyor.people.models import Temperature

if TYPE_CHECKING:
    from conveyor.pipelines.models import Segment


class LeadChannel(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    API = "api", _("API")
    EMAIL = "email", _("E-mail")
    IMPORT = "import", _("Import")
    MANUAL = "manual", _("Manual")
    CALL = "call", _("Call")


class LeadStatus(models.TextChoices):
    INBOX = "inbox", _("Inbox")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED_SPAM = "rejected_spam", _("Rejected as spam")
    MERGED = "merged", _("Merged")


class Lead(models.Model):
    """One intake record (a request). Several may belong to one person; none is ever dropped."""

    channel = models.CharField(_("channel"), max_length=10, choices=LeadChannel.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=LeadStatus.choices, default=LeadStatus.INBOX
    )
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)
    payload = models.JSONField(_("raw payload"), default=dict, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    source = models.CharField(_("source"), max_length=64, blank=True)
    utm = models.JSONField(_("UTM"), default=dict, blank=True)
    segment = models.ForeignKey(
        "pipelines.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    person = models.ForeignKey(
        "people.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    deal = models.ForeignKey(
        "pipelines.Deal",
        verbose_name=_("deal"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    score = models.IntegerField(_("score"), default=0)
    # Blank until the lead is qualified, so "not asked" is not mistaken for "cold".
    temperature = models.CharField(
        _("temperature"), max_length=8, choices=Temperature.choices, blank=True
    )
    # What routing proposed while the lead waits in the inbox; accepting it uses these.
    routed_pipeline = models.ForeignKey(
        "pipelines.Pipeline",
        verbose_name=_("routed to pipeline"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    routed_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("routed to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    routing_note = models.CharField(_("routing"), max_length=255, blank=True)
    is_suspected_spam = models.BooleanField(_("suspected spam"), default=False)
    form = models.ForeignKey(
        "intake.LeadForm",
        verbose_name=_("web form"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"], name="lead_inbox")]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="lead_idempotency_key_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"#{self.pk}"


FORM_FIELDS = ("name", "phone", "email", "company", "message")


def default_form_fields() -> list[dict[str, Any]]:
    return [
        {"name": "name", "required": True},
        {"name": "phone", "required": False},
        {"name": "email", "required": False},
        {"name": "message", "required": False},
    ]


def new_form_key() -> str:
    return secrets.token_urlsafe(16)


class LeadForm(models.Model):
    """A web-to-lead form embedded on a site; each submission becomes a lead in the inbox.

    `fields` lists the inputs shown, in order, as {"name": one of FORM_FIELDS, "required": bool}.
    Whatever it says, a lead needs a name and a phone or an e-mail (`lead_receive`).
    """

    name = models.CharField(_("name"), max_length=200)
    key = models.CharField(_("key"), max_length=64, unique=True, default=new_form_key)
    segment = models.ForeignKey(
        "pipelines.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lead_forms",
    )
    pipeline = models.ForeignKey(
        "pipelines.Pipeline",
        verbose_name=_("pipeline"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lead_forms",
    )
    fields = models.JSONField(_("fields"), default=default_form_fields, blank=True)
    thank_you_text = models.TextField(_("thank-you text"), blank=True)
    # A CharField with an http(s)-only validator rather than a URLField, whose admin form would
    # guess a scheme for a bare address; form_create checks the same rule.
    redirect_url = models.CharField(
        _("redirect to"),
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
    )
    is_active = models.BooleanField(_("active"), default=True)
    min_fill_seconds = models.PositiveSmallIntegerField(_("minimum fill time, s"), default=3)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def lead_segment(self) -> Segment | None:
        """The segment its leads land in: its own, else its pipeline's."""
        if self.segment_id is not None:
            return self.segment
        return self.pipeline.segment if self.pipeline is not None else None

    def shown_fields(self) -> list[dict[str, Any]]:
        """The inputs to show, with name always required (a lead cannot do without it)."""
        shown = [
            f for f in self.fields or [] if isinstance(f, dict) and f.get("name") in FORM_FIELDS
        ]
        if not any(f["name"] == "name" for f in shown):
            shown.insert(0, {"name": "name", "required": True})
        return [
            {"name": f["name"], "required": f["name"] == "name" or bool(f.get("required"))}
            for f in shown
        ]


class QuestionKind(models.TextChoices):
    CHOICE = "choice", _("Choice")
    NUMBER = "number", _("Number")
    YES_NO = "yes_no", _("Yes / no")
    TEXT = "text", _("Text")


class QualificationQuestion(models.Model):
    """A question that tells how well a lead fits the segment's buyer portrait.

    `scoring` maps an answer to points: for choices {"option": points}, for yes/no
    {"yes": points, "no": points}, for numbers a list of [min, max, points] bands, for text
    {"answered": points} for any non-empty answer (intake/qualification.py).
    """

    segment = models.ForeignKey(
        "pipelines.Segment",
        verbose_name=_("segment"),
        on_delete=models.CASCADE,
        related_name="questions",
    )
    position = models.PositiveSmallIntegerField(_("position"), default=1)
    text = models.CharField(_("question"), max_length=255)
    kind = models.CharField(_("kind"), max_length=8, choices=QuestionKind.choices)
    options = models.JSONField(_("options"), default=list, blank=True)
    scoring = models.JSONField(_("scoring"), default=dict, blank=True)
    is_required = models.BooleanField(_("required"), default=False)

    class Meta:
        verbose_name = _("qualification question")
        verbose_name_plural = _("qualification questions")
        ordering = ["segment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "position"], name="question_position")
        ]

    def __str__(self) -> str:
        return self.text

    def shown_options(self) -> list[str]:
        """A choice question's options as a form offers them: `options` in order, then any
        option only its `scoring` names (both count as valid answers when scoring)."""
        shown = [str(option) for option in self.options or []]
        scoring = self.scoring if isinstance(self.scoring, dict) else {}
        shown += [str(key) for key in scoring if str(key) not in shown]
        return shown


class OwnerStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin in a team")
    LEAST_OPEN = "least_open", _("Fewest open deals in a team")
    FIXED = "fixed", _("A fixed manager")


class RoutingRule(models.Model):
    """Sends matching leads to a conversion pipeline and picks their owner.

    Active rules are tried by position; the first whose conditions all hold wins (an empty
    condition always holds). Managers at capacity (open deals >= User.capacity) are skipped.
    With `auto_accept` the deal is opened at once; otherwise the lead waits in the inbox with
    the proposal. `last_assigned` is the round-robin cursor.
    """

    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveSmallIntegerField(_("position"), default=1)
    is_active = models.BooleanField(_("active"), default=True)
    segment = models.ForeignKey(
        "pipelines.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        # Deleting the segment deletes its rules: a null segment would widen them to every lead.
        on_delete=models.CASCADE,
        related_name="routing_rules",
        help_text=_("Leads of this segment only; empty means any lead."),
    )
    form = models.ForeignKey(
        LeadForm,
        verbose_name=_("web form"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
    )
    source = models.CharField(_("source"), max_length=64, blank=True)
    min_score = models.IntegerField(_("minimum score"), null=True, blank=True)
    question = models.ForeignKey(
        QualificationQuestion,
        verbose_name=_("question"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
    )
    answer = models.CharField(
        _("answer"), max_length=200, blank=True, help_text=_("The answer the question must get.")
    )
    pipeline = models.ForeignKey(
        "pipelines.Pipeline",
        verbose_name=_("pipeline"),
        on_delete=models.PROTECT,
        related_name="routing_rules",
        limit_choices_to={"process": "conversion"},
    )
    owner_strategy = models.CharField(
        _("owner"), max_length=12, choices=OwnerStrategy.choices, default=OwnerStrategy.ROUND_ROBIN
    )
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routing_rules",
    )
    fixed_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("fixed manager"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    auto_accept = models.BooleanField(
        _("accept automatically"),
        default=False,
        help_text=_("Open the deal at once instead of leaving the lead in the inbox."),
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("last assigned"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner_strategy="fixed") & Q(fixed_owner__isnull=False))
                | (Q(owner_strategy__in=["round_robin", "least_open"]) & Q(team__isnull=False)),
                name="routingrule_owner_strategy_complete",
            ),
            models.CheckConstraint(
                condition=(Q(question__isnull=True) & Q(answer=""))
                | (Q(question__isnull=False) & ~Q(answer="")),
                name="routingrule_question_with_answer",
            ),
        ]

    def __str__(self) -> str:
        return self.name
