"""Writes on analytics data: expenses (`expense_save`), the spend the costs report divides by
leads and customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_settings_access
from conveyor.analytics.models import Expense
from conveyor.core.audit import audit_editing, audit_saved
from conveyor.core.db import clean_and_save
from conveyor.core.errors import ServiceError


@transaction.atomic
def expense_save(
    *,
    by: User | None,
    expense_id: int | None,
    channel: str,
    period_start: dt.date,
    period_end: dt.date,
    amount: Decimal,
    note: str,
) -> Expense:
    """Record spend on a channel over a period (inclusive dates; `expense_id` None) or change
    it (owners and heads; `by` None is the server operator). The channel is matched against
    people's source, exactly as written; one expense per channel and period."""
    require_settings_access(by, _("Only owners and heads of sales record expenses."))
    expense, before = audit_editing(
        Expense, expense_id, _("This expense does not exist."), field="expense"
    )
    channel = channel.strip()
    if period_end < period_start:
        raise ServiceError(_("The period cannot end before it starts."), field="period_end")
    if amount < 0:
        raise ServiceError(_("The amount cannot be negative."), field="amount")
    if (
        Expense.objects.filter(channel=channel, period_start=period_start, period_end=period_end)
        .exclude(pk=expense.pk)
        .exists()
    ):
        raise ServiceError(
            _("This channel already has an expense for exactly this period: change that one."),
            field="channel",
        )
    expense.channel = channel
    expense.period_start = period_start
    expense.period_end = period_end
    expense.amount = amount
    expense.note = note.strip()
    clean_and_save(expense)
    audit_saved(actor=by, instance=expense, before=before)
    return expense
