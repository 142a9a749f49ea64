"""What the API keeps for itself: the first response to each idempotent POST."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight", _("In flight")
    DONE = "done", _("Done")
    # Done, but the answer held a secret (`Cache-Control: no-store`): it was not kept.
    DONE_NOT_KEPT = "done_not_kept", _("Done, answer not kept")


class IdempotencyRecord(models.Model):
    """A POST sent with an `Idempotency-Key`: while it runs (`in_flight`) a second request with
    the key is refused, and afterwards (`done`) the stored response is replayed for 24 hours;
    an answer marked `Cache-Control: no-store` (it holds a secret) is not kept
    (`done_not_kept`), and a replay is refused instead.

    `principal` is a SHA-256 of the caller's credentials, so one client's keys never meet
    another's; `request_hash` covers method, path and body, so a reused key with a different
    request is told apart from a retry.
    """

    principal = models.CharField(_("principal"), max_length=64)
    key = models.CharField(_("key"), max_length=255)
    request_hash = models.CharField(_("request hash"), max_length=64)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=IdempotencyState.choices,
        default=IdempotencyState.IN_FLIGHT,
    )
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    body = models.BinaryField(_("body"), default=b"")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_principal_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
