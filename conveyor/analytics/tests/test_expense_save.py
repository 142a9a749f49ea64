"""expense_save: spend per channel and period, as the costs report reads it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from conftest import Cast
from conveyor.analytics.models import Expense
from conveyor.analytics.services import expense_save
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db


def _fields(**overrides: Any) -> dict[str, Any]:
    return {
        "expense_id": None,
        "channel": " google_ads ",
        "period_start": dt.date(2026, 3, 1),
        "period_end": dt.date(2026, 3, 31),
        "amount": Decimal("1500.00"),
        "note": "",
        **overrides,
    }


def test_head_records_and_corrects_an_expense(cast: Cast) -> None:
    expense = expense_save(by=cast.head, **_fields())
    assert expense.channel == "google_ads"
    expense_save(by=cast.owner, **_fields(expense_id=expense.pk, amount=Decimal("1450.5")))
    expense.refresh_from_db()
    assert expense.amount == Decimal("1450.50")
    create, update = log_of(expense)
    assert (create.action, create.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert update.changes == {"amount": ["1500.00", "1450.50"]}


def test_a_manager_records_nothing(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        expense_save(by=cast.manager, **_fields())
    assert not Expense.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"period_end": dt.date(2026, 2, 28)}, "period_end"),
        ({"amount": Decimal(-1)}, "amount"),
        ({"channel": "  "}, "channel"),
        ({"amount": Decimal("1e15")}, "amount"),
    ],
)
def test_bad_figures_are_refused_on_their_field(
    cast: Cast, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        expense_save(by=cast.head, **_fields(**overrides))
    assert refused.value.field == field
    assert not Expense.objects.exists()


def test_one_expense_per_channel_and_period(cast: Cast) -> None:
    expense_save(by=cast.head, **_fields())
    with pytest.raises(ServiceError) as refused:
        expense_save(by=cast.head, **_fields(channel="google_ads", amount=Decimal(1)))
    assert refused.value.field == "channel"
    assert Expense.objects.get().amount == Decimal(1500)
