"""Expenses (for cost of sale) and hypotheses about a stage. Reports live in queries.py."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Expense(models.Model):
    """Spend on one channel over a period (inclusive dates); split pro rata by days in reports."""

    channel = models.CharField(_("channel"), max_length=64)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to (inclusive)"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("expense")
        verbose_name_plural = _("expenses")
        ordering = ["-period_start"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="expense_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="expense_period_ordered"
            ),
            models.UniqueConstraint(
                fields=["channel", "period_start", "period_end"], name="expense_channel_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.period_start}..{self.period_end}"


class Hypothesis(models.Model):
    """A change to one stage from a date; its result compares the stage conversion before/after."""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    stage = models.ForeignKey(
        "pipelines.Stage",
        verbose_name=_("stage"),
        on_delete=models.CASCADE,
        related_name="hypotheses",
    )
    started_on = models.DateField(_("started on"))
    window_days = models.PositiveSmallIntegerField(_("days before and after"), default=30)

    class Meta:
        verbose_name = _("hypothesis")
        verbose_name_plural = _("hypotheses")
        ordering = ["-started_on"]
        constraints = [
            models.CheckConstraint(condition=Q(window_days__gte=1), name="hypothesis_window_gte_1")
        ]

    def __str__(self) -> str:
        return self.title
