"""Shared tables of the core app: the database backend of the rate limiter."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
