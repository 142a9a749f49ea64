"""Matrix cases for users, teams, sales plans, expenses, holidays.

Settings writes and the settings lists (plans, expenses, holidays) are the owner's and the
heads' (403 for managers, as on the web). The user directory and the teams are wider: every
active colleague is listed to everyone (to pick owners), a switched-off one only to those who
manage them; a manager sees their own team.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Model

from conftest import PASSWORD, Cast
from conveyor.accounts.models import Holiday, SalesPlan, Team, User
from conveyor.accounts.services import holiday_save, sales_plan_save, user_save
from conveyor.analytics.models import Expense
from conveyor.analytics.services import expense_save
from conveyor.api.tests.matrix.base import (
    LIST_ALL,
    OK_ALL,
    SETTINGS_CHANGED,
    SETTINGS_MADE,
    Cases,
    World,
)

MODELS: list[type[Model]] = [User, Team, SalesPlan, Expense, Holiday]

# Seen by those who manage the record only; a manager or an outsider is not told it exists.
MANAGED_ONLY = {"owner": 200, "head": 200, "manager": 404, "outsider": 404, "anonymous": 401}
SETTINGS_DELETED = {**SETTINGS_CHANGED, "owner": 204, "head": 204}


def build(cast: Cast, world: World) -> None:
    """A switched-off manager of team A, and a plan, an expense and a holiday."""
    team_a = cast.manager.team
    assert team_a is not None
    world.extra["team_a"] = team_a
    world.extra["former"] = user_save(
        by=None,
        user_id=None,
        email="former@example.com",
        name="Fiona Former",
        role="manager",
        team=team_a,
        capacity=60,
        language="",
        is_active=False,
        password=PASSWORD,
    )
    world.extra["plan"] = sales_plan_save(
        by=None,
        plan_id=None,
        user=cast.manager,
        team=None,
        month=dt.date(2026, 1, 1),
        revenue=Decimal(1000),
        deals=4,
    )
    world.extra["expense"] = expense_save(
        by=None,
        expense_id=None,
        channel="google_ads",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 1, 31),
        amount=Decimal(500),
        note="",
    )
    world.extra["holiday"] = holiday_save(
        by=None, holiday_id=None, date=dt.date(2026, 12, 25), name="Christmas"
    )


CASES: Cases = {
    "GET /users": (lambda a, w: a.get("/api/v1/users"), LIST_ALL),
    "GET /users/{id}": (
        lambda a, w: a.get(f"/api/v1/users/{w.extra['former'].pk}"),
        MANAGED_ONLY,
    ),
    "POST /users": (
        lambda a, w: a.post(
            "/api/v1/users",
            {"email": "new@example.com", "password": PASSWORD, "team_id": w.extra["team_a"].pk},
        ),
        SETTINGS_MADE,
    ),
    "PATCH /users/{id}": (
        lambda a, w: a.patch(f"/api/v1/users/{w.deal.owner_id}", {"capacity": 80}),
        SETTINGS_CHANGED,
    ),
    "GET /teams": (lambda a, w: a.get("/api/v1/teams"), LIST_ALL),
    "GET /teams/{id}": (lambda a, w: a.get(f"/api/v1/teams/{w.extra['team_a'].pk}"), OK_ALL),
    "POST /teams": (
        lambda a, w: a.post(
            "/api/v1/teams", {"name": "Team C", "head_id": w.extra["team_a"].head_id}
        ),
        SETTINGS_MADE,
    ),
    "PATCH /teams/{id}": (
        lambda a, w: a.patch(f"/api/v1/teams/{w.extra['team_a'].pk}", {"name": "A2"}),
        SETTINGS_CHANGED,
    ),
    "GET /sales-plans": (lambda a, w: a.get("/api/v1/sales-plans"), SETTINGS_CHANGED),
    "GET /sales-plans/{id}": (
        lambda a, w: a.get(f"/api/v1/sales-plans/{w.extra['plan'].pk}"),
        SETTINGS_CHANGED,
    ),
    "POST /sales-plans": (
        lambda a, w: a.post(
            "/api/v1/sales-plans",
            {"user_id": w.deal.owner_id, "month": "2026-02-01", "revenue": "900", "deals": 3},
        ),
        SETTINGS_MADE,
    ),
    "PATCH /sales-plans/{id}": (
        lambda a, w: a.patch(f"/api/v1/sales-plans/{w.extra['plan'].pk}", {"revenue": "1200"}),
        SETTINGS_CHANGED,
    ),
    "GET /expenses": (lambda a, w: a.get("/api/v1/expenses"), SETTINGS_CHANGED),
    "GET /expenses/{id}": (
        lambda a, w: a.get(f"/api/v1/expenses/{w.extra['expense'].pk}"),
        SETTINGS_CHANGED,
    ),
    "POST /expenses": (
        lambda a, w: a.post(
            "/api/v1/expenses",
            {
                "channel": "google_ads",
                "period_start": "2026-02-01",
                "period_end": "2026-02-28",
                "amount": "700",
            },
        ),
        SETTINGS_MADE,
    ),
    "PATCH /expenses/{id}": (
        lambda a, w: a.patch(f"/api/v1/expenses/{w.extra['expense'].pk}", {"note": "Q1"}),
        SETTINGS_CHANGED,
    ),
    "GET /holidays": (lambda a, w: a.get("/api/v1/holidays"), SETTINGS_CHANGED),
    "GET /holidays/{id}": (
        lambda a, w: a.get(f"/api/v1/holidays/{w.extra['holiday'].pk}"),
        SETTINGS_CHANGED,
    ),
    "POST /holidays": (
        lambda a, w: a.post("/api/v1/holidays", {"date": "2026-12-31", "name": "New Year's Eve"}),
        SETTINGS_MADE,
    ),
    "PATCH /holidays/{id}": (
        lambda a, w: a.patch(f"/api/v1/holidays/{w.extra['holiday'].pk}", {"name": "Xmas"}),
        SETTINGS_CHANGED,
    ),
    "DELETE /holidays/{id}": (
        lambda a, w: a.delete(f"/api/v1/holidays/{w.extra['holiday'].pk}"),
        SETTINGS_DELETED,
    ),
}
