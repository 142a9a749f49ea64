"""Small template filters for the web UI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import template
from django.utils import timezone

from conveyor.accounts.models import User
from conveyor.core.money import format_money
from conveyor.intake import selectors
from conveyor.touches import selectors as touch_selectors

register = template.Library()


@register.filter
def timesince_days(value: dt.datetime | None) -> int:
    """Whole days from `value` until now (0 for today or a missing value)."""
    if value is None:
        return 0
    return max((timezone.now() - value).days, 0)


@register.filter
def money(amount: Decimal | int | str | None, currency: str) -> str:
    """`{{ deal.amount|money:deal.currency }}`: the amount with its currency as the active
    language writes it ("€1,234.50", "1 234,50 €"); whole amounts without decimals."""
    return format_money(amount, currency)


@register.filter
def percent(value: float | None) -> str:
    """A fraction shown as a percentage with one decimal ('—' when undefined)."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"


@register.filter
def share_of(value: int, whole: int) -> int:
    """`value` as a whole percentage of `whole`, for bar widths."""
    if not whole:
        return 0
    return round(value * 100 / whole)


@register.simple_tag
def inbox_count(user: User) -> int:
    """How many leads wait in the inbox (for the navigation link)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return selectors.inbox_count(user)


@register.simple_tag
def agenda_count(user: User) -> int:
    """How many of the user's own open tasks are overdue or due today (for the navigation link)."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return touch_selectors.agenda_count(user, timezone.now())
