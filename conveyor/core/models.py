"""Shared tables of the core app: the database backend of the rate limiter, the periodic job
slots and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RateCounter(models.Model):
    """How many hits `key` has had in the fixed window starting at `window_start`.

    Used by `conveyor.core.ratelimit` when no Redis is configured; one row per key and window.
    """

    key = models.CharField(_("key"), max_length=200)
    window_start = models.DateTimeField(_("window start"))
    count = models.PositiveIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="rate_counter_window")
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%Y-%m-%d %H:%M:%S}: {self.count}"


class PeriodicSlot(models.Model):
    """When the periodic job `name` is next due. Workers claim a slot with one conditional
    UPDATE, so however many workers run, each period's job is enqueued once."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    due_at = models.DateTimeField(_("due"))

    class Meta:
        verbose_name = _("periodic slot")
        verbose_name_plural = _("periodic slots")

    def __str__(self) -> str:
        return f"{self.name} @ {self.due_at:%Y-%m-%d %H:%M:%S}"


class AuditAction(models.TextChoices):
    # A context of their own: "Created" or "Done" already name other things (columns, a task's
    # state), and an action label must not agree with one record's grammatical gender.
    CREATE = "create", pgettext_lazy("audit action", "Created")
    UPDATE = "update", pgettext_lazy("audit action", "Changed")
    DELETE = "delete", pgettext_lazy("audit action", "Deleted")
    MOVE = "move", pgettext_lazy("audit action", "Moved")
    WIN = "win", pgettext_lazy("audit action", "Won")
    LOSE = "lose", pgettext_lazy("audit action", "Lost")
    REOPEN = "reopen", pgettext_lazy("audit action", "Reopened")
    TRANSFER = "transfer", pgettext_lazy("audit action", "Moved to another pipeline")
    ASSIGN = "assign", pgettext_lazy("audit action", "Handed over")
    MERGE = "merge", pgettext_lazy("audit action", "Merged")
    ERASE = "erase", pgettext_lazy("audit action", "Erased")
    ACCEPT = "accept", pgettext_lazy("audit action", "Accepted")
    REJECT = "reject", pgettext_lazy("audit action", "Rejected")
    COMPLETE = "complete", pgettext_lazy("audit action", "Done")
    CANCEL = "cancel", pgettext_lazy("audit action", "Cancelled")
    REVOKE = "revoke", pgettext_lazy("audit action", "Revoked")
    IMPORT = "import", pgettext_lazy("audit action", "Imported")
    # On the user's record: the device itself (and its secret) is never logged.
    TOTP_ON = "totp_on", pgettext_lazy("audit action", "Two-factor login turned on")
    TOTP_OFF = "totp_off", pgettext_lazy("audit action", "Two-factor login turned off")


class AuditEntry(models.Model):
    """Who changed what and when: one row per change of one record, never updated or deleted.

    It lives in core because every domain app writes it (accounts' users and tokens included)
    and domain apps only import downwards: core is the one app below all of them. Records are
    named by model label and id rather than a content type, so "this record's entries, newest
    first" is one query on one index, with no content-type lookup, and entries outlive the
    records they describe (a merged person, a deleted stage).

    `changes` is {field: [old, new]} for the fields that changed (foreign keys as ids);
    `{field: null}` says a field changed whose values are never kept (personal data that erasing
    a person must remove, or a secret). Written by `conveyor.core.audit` inside the service's
    transaction. Append-only is enforced by the database: triggers refuse UPDATE and DELETE on
    this table (migration 0003). A migration that rebuilds this table on SQLite drops its
    triggers and must create them again.
    """

    at = models.DateTimeField(_("at"), default=timezone.now)
    # PROTECT: setting the actor to NULL would be an UPDATE, which the table refuses; users are
    # switched off, not deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=16, choices=AuditAction.choices)
    record_type = models.CharField(_("record type"), max_length=100)
    # Empty for entries about no single record (an import run).
    record_id = models.BigIntegerField(_("record id"), null=True, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(
                fields=["record_type", "record_id", "-at", "-id"], name="audit_record_newest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_type} #{self.record_id} {self.action} @ {self.at:%Y-%m-%d %H:%M:%S}"
