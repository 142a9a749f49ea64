"""Settings → sales plans (a head of sales plans for their teams and people) and expenses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import SalesPlan, User
from conveyor.analytics.models import Expense
from conveyor.core.models import AuditAction
from conveyor.testing.audit import log_of
from conveyor.testing.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def plan(cast: Cast) -> SalesPlan:
    return SalesPlan.objects.create(
        user=cast.manager, month=dt.date(2026, 3, 1), revenue=Decimal(10000), deals=5
    )


@pytest.fixture
def expense() -> Expense:
    return Expense.objects.create(
        channel="google_ads",
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        amount=Decimal(1500),
    )


def _expense_post(**overrides: Any) -> dict[str, Any]:
    return {
        "channel": "google_ads",
        "period_start": "2026-04-01",
        "period_end": "2026-04-30",
        "amount": "1800.50",
        "note": "Search campaign",
        **overrides,
    }


def test_a_manager_is_refused_every_page_and_nothing_changes(
    cast: Cast, plan: SalesPlan, expense: Expense
) -> None:
    urls = [
        reverse("web:settings-plans"),
        reverse("web:settings-plan-new"),
        reverse("web:settings-plan", kwargs={"pk": plan.pk}),
        reverse("web:settings-expenses"),
        reverse("web:settings-expense-new"),
        reverse("web:settings-expense", kwargs={"pk": expense.pk}),
    ]
    client = _client(cast.manager)
    for url in urls:
        assert client.get(url).status_code == 403, url
        post = {"user": cast.manager.pk, "month": "2026-03", "revenue": "1", "deals": "1"}
        assert client.post(url, {**post, **_expense_post()}).status_code == 403, url
    for user in (cast.owner, cast.head):
        for url in urls:
            assert _client(user).get(url).status_code == 200, url
    plan.refresh_from_db()
    expense.refresh_from_db()
    assert (plan.revenue, expense.amount) == (Decimal(10000), Decimal(1500))
    assert Expense.objects.count() == SalesPlan.objects.count() == 1


def test_head_plans_a_month_for_their_manager(cast: Cast) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-plan-new"),
        {"user": cast.manager.pk, "month": "2026-05", "revenue": "25000", "deals": "8"},
    )
    assert response.headers["Location"] == reverse("web:settings-plans")
    plan = SalesPlan.objects.get(user=cast.manager)
    assert (plan.month, plan.revenue, plan.deals) == (dt.date(2026, 5, 1), Decimal(25000), 8)
    [entry] = log_of(plan)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_a_second_plan_for_the_same_month_is_shown_on_the_month(
    cast: Cast, plan: SalesPlan
) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-plan-new"),
        {"user": cast.manager.pk, "month": "2026-03", "revenue": "1", "deals": "1"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["month"] == [
        "There already is a plan for Maria Manager in 2026-03: change that one."
    ]
    assert SalesPlan.objects.count() == 1


def test_a_plan_for_a_user_and_a_team_at_once_is_refused(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-plan-new"),
        {
            "user": cast.manager.pk,
            "team": cast.head.team_id,
            "month": "2026-03",
            "revenue": "1",
            "deals": "1",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["user"] == [
        "A plan is for one user or one team: choose one."
    ]
    assert not SalesPlan.objects.exists()


def test_head_sees_and_edits_only_their_teams_plans(cast: Cast, plan: SalesPlan) -> None:
    theirs = SalesPlan.objects.create(user=cast.outsider, month=dt.date(2026, 3, 1), deals=3)
    client = _client(cast.head)
    assert list(client.get(reverse("web:settings-plans")).context["plans"]) == [plan]
    url = reverse("web:settings-plan", kwargs={"pk": theirs.pk})
    assert client.get(url).status_code == 404
    post = {"user": cast.outsider.pk, "month": "2026-03", "revenue": "1", "deals": "99"}
    assert client.post(url, post).status_code == 404
    theirs.refresh_from_db()
    assert theirs.deals == 3


def test_head_records_an_expense_and_edits_it(cast: Cast, expense: Expense) -> None:
    client = _client(cast.head)
    response = client.post(reverse("web:settings-expense-new"), _expense_post())
    assert response.headers["Location"] == reverse("web:settings-expenses")
    april = Expense.objects.get(period_start=dt.date(2026, 4, 1))
    assert (april.amount, april.note) == (Decimal("1800.50"), "Search campaign")
    response = client.post(
        reverse("web:settings-expense", kwargs={"pk": expense.pk}),
        _expense_post(period_start="2026-03-01", period_end="2026-03-31", amount="1600"),
    )
    assert response.status_code == 302
    expense.refresh_from_db()
    assert expense.amount == Decimal(1600)
    assert [entry.action for entry in log_of(expense)] == [AuditAction.UPDATE]


def test_a_period_ending_before_it_starts_is_shown_on_its_end(cast: Cast, expense: Expense) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-expense", kwargs={"pk": expense.pk}),
        _expense_post(period_start="2026-03-31", period_end="2026-03-01"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["period_end"] == [
        "The period cannot end before it starts."
    ]
    expense.refresh_from_db()
    assert expense.period_end == dt.date(2026, 3, 31)


def test_the_lists_run_the_same_queries_for_one_or_many(
    cast: Cast, plan: SalesPlan, expense: Expense, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.head)
    urls = [reverse("web:settings-plans"), reverse("web:settings-expenses")]
    few = {}
    for url in urls:
        with django_assert_max_num_queries(10) as counted:
            client.get(url)
        few[url] = len(counted)
    for month in range(4, 10):
        SalesPlan.objects.create(
            user=UserFactory(team=cast.head.team), month=dt.date(2026, month, 1), deals=1
        )
        SalesPlan.objects.create(team=cast.head.team, month=dt.date(2026, month, 1), deals=2)
        Expense.objects.create(
            channel="seo",
            period_start=dt.date(2026, month, 1),
            period_end=dt.date(2026, month, 28),
            amount=Decimal(month),
        )
    for url in urls:
        with CaptureQueriesContext(connection) as many:
            assert client.get(url).status_code == 200
        assert len(many) == few[url], url
