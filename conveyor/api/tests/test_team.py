"""`/api/v1/users`, `/teams`, `/sales-plans`, `/expenses`, `/holidays`: the web's settings
rules over HTTP (who may, what changes, what is refused and how)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from conftest import PASSWORD, Cast
from conveyor.accounts.models import Holiday, Role, SalesPlan, Team, User
from conveyor.accounts.services import holiday_save, sales_plan_save, user_save
from conveyor.analytics.models import Expense
from conveyor.analytics.services import expense_save
from conveyor.api.tests.conftest import ApiFor
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.core.selectors import audit_entries

pytestmark = pytest.mark.django_db


def _fields(response: Any) -> dict[str, list[str]]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"].get("fields", {}))


def _switched_off(team: Team | None, email: str = "former@example.com") -> User:
    return user_save(
        by=None,
        user_id=None,
        email=email,
        name="Fiona Former",
        role=Role.MANAGER,
        team=team,
        capacity=60,
        language="",
        is_active=False,
        password=PASSWORD,
    )


def _plan(user: User | None = None, team: Team | None = None, month: int = 1) -> SalesPlan:
    return sales_plan_save(
        by=None,
        plan_id=None,
        user=user,
        team=team,
        month=dt.date(2026, month, 1),
        revenue=Decimal(1000),
        deals=4,
    )


def _expense(channel: str = "google_ads", month: int = 1) -> Expense:
    start = dt.date(2026, month, 1)
    return expense_save(
        by=None,
        expense_id=None,
        channel=channel,
        period_start=start,
        period_end=start + dt.timedelta(days=27),
        amount=Decimal(500),
        note="",
    )


# --- Users --------------------------------------------------------------------------------------


def test_everyone_lists_active_colleagues_but_only_managers_of_them_see_more(
    cast: Cast, api_for: ApiFor
) -> None:
    former = _switched_off(cast.manager.team)
    rows = api_for(cast.outsider).get("/api/v1/users").json()["items"]
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {u.pk for u in (cast.owner, cast.head, cast.other_head, cast.manager)} | {
        cast.outsider.pk
    }
    manager = by_id[cast.manager.pk]
    assert manager["email"] == "manager@example.com" and manager["role"] == "manager"
    assert manager["team_id"] == cast.manager.team_id
    assert manager["capacity"] is None and manager["language"] is None
    assert all("password" not in row for row in rows)
    assert api_for(cast.outsider).get(f"/api/v1/users/{former.pk}").status_code == 404

    head_rows = api_for(cast.head).get("/api/v1/users").json()["items"]
    head_view = {row["id"]: row for row in head_rows}
    assert head_view[former.pk]["is_active"] is False
    assert head_view[cast.manager.pk]["capacity"] == 60
    # The head of team A does not manage team B's manager: listed, but without the details.
    assert head_view[cast.outsider.pk]["capacity"] is None


def test_users_filter_by_team_and_activity(cast: Cast, api_for: ApiFor) -> None:
    former = _switched_off(cast.manager.team)
    api = api_for(cast.owner)
    rows = api.get("/api/v1/users", {"team_id": cast.manager.team_id}).json()["items"]
    assert {row["id"] for row in rows} == {cast.head.pk, cast.manager.pk, former.pk}
    rows = api.get("/api/v1/users", {"is_active": "false"}).json()["items"]
    assert [row["id"] for row in rows] == [former.pk]


def test_head_adds_a_manager_to_their_team_with_a_password(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.head).post(
        "/api/v1/users",
        {
            "email": " New@Example.com ",
            "name": "Nina New",
            "password": PASSWORD,
            "team_id": cast.manager.team_id,
            "capacity": 40,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body and body["capacity"] == 40 and body["role"] == "manager"
    user = User.objects.get(pk=body["id"])
    assert user.email == "new@example.com" and user.team_id == cast.manager.team_id
    assert user.check_password(PASSWORD) and not user.is_staff
    entry = audit_entries(user).get()
    assert entry.action == AuditAction.CREATE and entry.actor == cast.head


def test_only_the_owner_makes_heads(cast: Cast, api_for: ApiFor) -> None:
    body = {"email": "boss@example.com", "password": PASSWORD, "role": "head"}
    response = api_for(cast.head).post("/api/v1/users", {**body, "team_id": cast.head.team_id})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Only the owner makes someone an owner or a head of sales."
    )
    assert not User.objects.filter(email="boss@example.com").exists()
    response = api_for(cast.owner).post("/api/v1/users", body)
    assert response.status_code == 201
    assert User.objects.get(email="boss@example.com").is_staff


def test_a_refusal_about_one_field_names_it(cast: Cast, api_for: ApiFor) -> None:
    # The service's PermissionDenied names `role`: the 403 keeps it, as a 422 would.
    response = api_for(cast.head).patch(f"/api/v1/users/{cast.manager.pk}", {"role": "head"})
    assert response.status_code == 403
    message = "Only the owner makes someone an owner or a head of sales."
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": message,
        "fields": {"role": [message]},
    }
    cast.manager.refresh_from_db()
    assert cast.manager.role == Role.MANAGER
    # A refusal about no field in particular has no `fields`.
    response = api_for(cast.manager).patch(f"/api/v1/users/{cast.manager.pk}", {"name": "X"})
    assert response.status_code == 403 and "fields" not in response.json()["error"]


def test_a_head_cannot_put_a_user_into_another_team(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.head).post(
        "/api/v1/users",
        {"email": "x@example.com", "password": PASSWORD, "team_id": cast.outsider.team_id},
    )
    assert response.status_code == 422
    assert set(_fields(response)) == {"team_id"}
    assert not User.objects.filter(email="x@example.com").exists()


def test_a_new_user_needs_a_good_password(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.owner)
    response = api.post("/api/v1/users", {"email": "x@example.com"})
    assert response.status_code == 422 and set(_fields(response)) == {"password"}
    response = api.post("/api/v1/users", {"email": "x@example.com", "password": "123"})
    assert response.status_code == 422 and set(_fields(response)) == {"password"}
    assert not User.objects.filter(email="x@example.com").exists()


def test_a_taken_email_is_refused(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).post(
        "/api/v1/users", {"email": "MANAGER@example.com", "password": PASSWORD}
    )
    assert response.status_code == 422 and set(_fields(response)) == {"email"}


def test_changing_a_user_changes_only_the_fields_sent(cast: Cast, api_for: ApiFor) -> None:
    manager = cast.manager
    response = api_for(cast.head).patch(f"/api/v1/users/{manager.pk}", {"capacity": 80})
    assert response.status_code == 200, response.content
    manager.refresh_from_db()
    assert manager.capacity == 80
    assert (manager.name, manager.email, manager.role, manager.is_active) == (
        "Maria Manager",
        "manager@example.com",
        Role.MANAGER,
        True,
    )
    assert manager.team == cast.head.team
    entry = audit_entries(manager).first()
    assert entry is not None and entry.action == AuditAction.UPDATE
    assert entry.changes == {"capacity": [60, 80]} and entry.actor == cast.head


def test_setting_a_password_is_logged_without_its_value(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).patch(
        f"/api/v1/users/{cast.manager.pk}", {"password": "n3w-Pass!x"}
    )
    assert response.status_code == 200 and "password" not in response.json()
    cast.manager.refresh_from_db()
    assert cast.manager.check_password("n3w-Pass!x")
    entry = audit_entries(cast.manager).first()
    assert entry is not None and entry.changes == {"password": None}


def test_the_owner_moves_a_user_out_of_any_team(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).patch(f"/api/v1/users/{cast.outsider.pk}", {"team_id": None})
    assert response.status_code == 200 and response.json()["team_id"] is None
    cast.outsider.refresh_from_db()
    assert cast.outsider.team_id is None


def test_a_head_does_not_see_other_teams_users_to_change(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.head).patch(f"/api/v1/users/{cast.outsider.pk}", {"name": "X"})
    assert response.status_code == 404
    cast.outsider.refresh_from_db()
    assert cast.outsider.name == "Oleg Outsider"


def test_a_manager_may_not_change_even_themselves(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.manager).patch(f"/api/v1/users/{cast.manager.pk}", {"capacity": 1})
    assert response.status_code == 403
    cast.manager.refresh_from_db()
    assert cast.manager.capacity == 60


def test_the_last_owner_stays_one_and_nobody_switches_themselves_off(
    cast: Cast, api_for: ApiFor
) -> None:
    api = api_for(cast.owner)
    response = api.patch(f"/api/v1/users/{cast.owner.pk}", {"role": "manager"})
    assert response.status_code == 422 and set(_fields(response)) == {"role"}
    response = api.patch(f"/api/v1/users/{cast.owner.pk}", {"is_active": False})
    assert response.status_code == 422 and set(_fields(response)) == {"is_active"}
    cast.owner.refresh_from_db()
    assert cast.owner.role == Role.OWNER and cast.owner.is_active


def test_a_change_refuses_null_for_a_field_that_cannot_be_empty(
    cast: Cast, api_for: ApiFor
) -> None:
    response = api_for(cast.owner).patch(f"/api/v1/users/{cast.manager.pk}", {"name": None})
    assert response.status_code == 422 and set(_fields(response)) == {"name"}


def test_a_nul_character_is_refused_not_stored(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.owner)
    response = api.patch(f"/api/v1/users/{cast.manager.pk}", {"name": "Ma\x00ria"})
    assert response.status_code == 422 and set(_fields(response)) == {"name"}
    assert api.get("/api/v1/expenses", {"channel": "a\x00"}).status_code == 422
    cast.manager.refresh_from_db()
    assert cast.manager.name == "Maria Manager"


# --- Teams --------------------------------------------------------------------------------------


def test_teams_are_listed_as_in_the_reports_filter(cast: Cast, api_for: ApiFor) -> None:
    team_a, team_b = cast.manager.team, cast.outsider.team
    assert team_a is not None and team_b is not None
    manager_rows = api_for(cast.manager).get("/api/v1/teams").json()
    assert manager_rows == [{"id": team_a.pk, "name": "Team A", "head_id": cast.head.pk}]
    owner_rows = api_for(cast.owner).get("/api/v1/teams").json()
    assert [row["id"] for row in owner_rows] == [team_a.pk, team_b.pk]
    assert api_for(cast.manager).get(f"/api/v1/teams/{team_b.pk}").status_code == 404


def test_a_head_makes_a_team_they_head_only(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.head)
    response = api.post("/api/v1/teams", {"name": "Team C", "head_id": cast.other_head.pk})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Only the owner makes someone else the head of a team."
    )
    response = api.post("/api/v1/teams", {"name": "Team C"})
    assert response.status_code == 403
    assert not Team.objects.filter(name="Team C").exists()
    response = api.post("/api/v1/teams", {"name": " Team C ", "head_id": cast.head.pk})
    assert response.status_code == 201
    team = Team.objects.get(pk=response.json()["id"])
    assert team.name == "Team C" and team.head == cast.head
    assert audit_entries(team).get().action == AuditAction.CREATE


def test_a_team_head_must_exist_and_be_a_head(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.owner)
    response = api.post("/api/v1/teams", {"name": "Team C", "head_id": 999_999})
    assert response.status_code == 422 and set(_fields(response)) == {"head_id"}
    response = api.post("/api/v1/teams", {"name": "Team C", "head_id": cast.manager.pk})
    assert response.status_code == 422 and set(_fields(response)) == {"head_id"}
    assert not Team.objects.filter(name="Team C").exists()


def test_renaming_a_team_keeps_its_head(cast: Cast, api_for: ApiFor) -> None:
    team = cast.manager.team
    assert team is not None
    response = api_for(cast.head).patch(f"/api/v1/teams/{team.pk}", {"name": "Alpha"})
    assert response.status_code == 200
    team.refresh_from_db()
    assert (team.name, team.head_id) == ("Alpha", cast.head.pk)
    other = cast.outsider.team
    assert other is not None
    response = api_for(cast.head).patch(f"/api/v1/teams/{other.pk}", {"name": "Mine"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.name == "Team B"


def test_a_taken_team_name_is_refused(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).post("/api/v1/teams", {"name": "Team B"})
    assert response.status_code == 422 and set(_fields(response)) == {"name"}


# --- Sales plans -----------------------------------------------------------------------------


def test_a_plan_is_set_for_a_month_and_filtered(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.head)
    response = api.post(
        "/api/v1/sales-plans",
        {"user_id": cast.manager.pk, "month": "2026-03-17", "revenue": "1500.50", "deals": 5},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["month"] == "2026-03-01" and Decimal(body["revenue"]) == Decimal("1500.50")
    plan = SalesPlan.objects.get(pk=body["id"])
    assert audit_entries(plan).get().actor == cast.head
    team_plan = _plan(team=cast.manager.team, month=3)
    _plan(user=cast.manager, month=4)

    def ids(**params: Any) -> list[int]:
        return [row["id"] for row in api.get("/api/v1/sales-plans", params).json()["items"]]

    assert set(ids(month="2026-03-31")) == {plan.pk, team_plan.pk}
    assert ids(team_id=cast.manager.team_id) == [team_plan.pk]
    assert len(ids(user_id=cast.manager.pk)) == 2


def test_one_plan_per_user_and_month(cast: Cast, api_for: ApiFor) -> None:
    _plan(user=cast.manager)
    response = api_for(cast.owner).post(
        "/api/v1/sales-plans", {"user_id": cast.manager.pk, "month": "2026-01-20"}
    )
    assert response.status_code == 422 and set(_fields(response)) == {"month"}
    assert SalesPlan.objects.count() == 1


def test_a_plan_is_for_a_user_or_a_team(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).post(
        "/api/v1/sales-plans",
        {"user_id": cast.manager.pk, "team_id": cast.manager.team_id, "month": "2026-01-01"},
    )
    assert response.status_code == 422 and set(_fields(response)) == {"user_id"}
    assert not SalesPlan.objects.exists()


def test_a_head_plans_for_their_people_only(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.head)
    response = api.post("/api/v1/sales-plans", {"user_id": cast.outsider.pk, "month": "2026-01-01"})
    assert response.status_code == 422 and set(_fields(response)) == {"user_id"}
    theirs = _plan(user=cast.outsider)
    assert api.get(f"/api/v1/sales-plans/{theirs.pk}").status_code == 404
    response = api.patch(f"/api/v1/sales-plans/{theirs.pk}", {"deals": 99})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.deals == 4


def test_changing_a_plan_changes_only_the_fields_sent(cast: Cast, api_for: ApiFor) -> None:
    plan = _plan(user=cast.manager)
    api = api_for(cast.owner)
    response = api.patch(f"/api/v1/sales-plans/{plan.pk}", {"revenue": "2000"})
    assert response.status_code == 200
    plan.refresh_from_db()
    assert (plan.user_id, plan.month, plan.revenue, plan.deals) == (
        cast.manager.pk,
        dt.date(2026, 1, 1),
        Decimal(2000),
        4,
    )
    assert audit_entries(plan).first().changes == {"revenue": ["1000.00", "2000.00"]}  # type: ignore[union-attr]
    response = api.patch(
        f"/api/v1/sales-plans/{plan.pk}",
        {"user_id": None, "team_id": cast.manager.team_id},
    )
    assert response.status_code == 200
    plan.refresh_from_db()
    assert (plan.user_id, plan.team_id) == (None, cast.manager.team_id)


def test_a_switched_off_users_plan_can_still_be_changed(cast: Cast, api_for: ApiFor) -> None:
    former = _switched_off(cast.manager.team)
    plan = _plan(user=former)
    api = api_for(cast.head)
    response = api.patch(f"/api/v1/sales-plans/{plan.pk}", {"deals": 7})
    assert response.status_code == 200, response.content
    plan.refresh_from_db()
    assert (plan.user_id, plan.deals) == (former.pk, 7)
    # Choosing them anew is refused, as the web form offers active users only.
    response = api.post("/api/v1/sales-plans", {"user_id": former.pk, "month": "2026-02-01"})
    assert response.status_code == 422 and set(_fields(response)) == {"user_id"}


def test_managers_do_not_see_the_plans(cast: Cast, api_for: ApiFor) -> None:
    plan = _plan(user=cast.manager)
    api = api_for(cast.manager)
    assert api.get("/api/v1/sales-plans").status_code == 403
    assert api.get(f"/api/v1/sales-plans/{plan.pk}").status_code == 403


# --- Expenses --------------------------------------------------------------------------------


def test_an_expense_is_recorded_and_filtered_by_channel_and_month(
    cast: Cast, api_for: ApiFor
) -> None:
    api = api_for(cast.head)
    response = api.post(
        "/api/v1/expenses",
        {
            "channel": " facebook ",
            "period_start": "2026-01-20",
            "period_end": "2026-02-10",
            "amount": "300",
            "note": "Winter",
        },
    )
    assert response.status_code == 201, response.content
    made = Expense.objects.get(pk=response.json()["id"])
    assert made.channel == "facebook" and made.amount == Decimal(300)
    assert audit_entries(made).get().action == AuditAction.CREATE
    january, march = _expense(month=1), _expense(month=3)

    def ids(**params: Any) -> set[int]:
        return {row["id"] for row in api.get("/api/v1/expenses", params).json()["items"]}

    assert ids(month="2026-02-15") == {made.pk}
    assert ids(month="2026-01-01") == {made.pk, january.pk}
    assert ids(channel="google_ads") == {january.pk, march.pk}


def test_an_expense_period_cannot_end_before_it_starts(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.owner).post(
        "/api/v1/expenses",
        {
            "channel": "google_ads",
            "period_start": "2026-02-01",
            "period_end": "2026-01-01",
            "amount": "1",
        },
    )
    assert response.status_code == 422 and set(_fields(response)) == {"period_end"}
    assert not Expense.objects.exists()


def test_changing_an_expense_changes_only_the_fields_sent(cast: Cast, api_for: ApiFor) -> None:
    expense = _expense()
    response = api_for(cast.owner).patch(f"/api/v1/expenses/{expense.pk}", {"note": "Search"})
    assert response.status_code == 200
    expense.refresh_from_db()
    assert (expense.note, expense.channel, expense.amount) == ("Search", "google_ads", 500)
    assert audit_entries(expense).first().changes == {"note": ["", "Search"]}  # type: ignore[union-attr]


def test_managers_may_not_record_expenses(cast: Cast, api_for: ApiFor) -> None:
    expense = _expense()
    api = api_for(cast.manager)
    response = api.patch(f"/api/v1/expenses/{expense.pk}", {"amount": "1"})
    assert response.status_code == 403
    expense.refresh_from_db()
    assert expense.amount == 500
    assert api.get("/api/v1/expenses").status_code == 403


def test_an_unknown_expense_is_not_found(cast: Cast, api_for: ApiFor) -> None:
    assert api_for(cast.owner).get("/api/v1/expenses/999999").status_code == 404


# --- Holidays --------------------------------------------------------------------------------


def test_a_holiday_is_added_changed_and_deleted(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.head)
    response = api.post("/api/v1/holidays", {"date": "2026-12-25", "name": "Christmas"})
    assert response.status_code == 201
    pk = response.json()["id"]
    response = api.patch(f"/api/v1/holidays/{pk}", {"name": " Xmas "})
    assert response.status_code == 200
    assert response.json() == {"id": pk, "date": "2026-12-25", "name": "Xmas"}
    response = api.delete(f"/api/v1/holidays/{pk}")
    assert response.status_code == 204 and response.content == b""
    assert not Holiday.objects.exists()
    assert api.get(f"/api/v1/holidays/{pk}").status_code == 404
    actions = list(
        AuditEntry.objects.filter(record_type="accounts.holiday", record_id=pk)
        .order_by("at", "id")
        .values_list("action", flat=True)
    )
    assert actions == [AuditAction.CREATE, AuditAction.UPDATE, AuditAction.DELETE]


def test_one_holiday_per_date(cast: Cast, api_for: ApiFor) -> None:
    holiday_save(by=None, holiday_id=None, date=dt.date(2026, 12, 25), name="Christmas")
    response = api_for(cast.owner).post("/api/v1/holidays", {"date": "2026-12-25"})
    assert response.status_code == 422 and set(_fields(response)) == {"date"}
    assert Holiday.objects.count() == 1


def test_a_date_must_be_written_as_a_date(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.owner)
    response = api.post("/api/v1/holidays", {"date": 0})
    assert response.status_code == 422 and set(_fields(response)) == {"date"}
    assert api.get("/api/v1/sales-plans", {"month": "0"}).status_code == 422
    assert not Holiday.objects.exists()


def test_holidays_filter_by_year(cast: Cast, api_for: ApiFor) -> None:
    old = holiday_save(by=None, holiday_id=None, date=dt.date(2025, 12, 25), name="")
    new = holiday_save(by=None, holiday_id=None, date=dt.date(2026, 12, 25), name="")
    api = api_for(cast.owner)
    assert [row["id"] for row in api.get("/api/v1/holidays").json()["items"]] == [new.pk, old.pk]
    rows = api.get("/api/v1/holidays", {"year": 2025}).json()["items"]
    assert [row["id"] for row in rows] == [old.pk]


def test_managers_may_not_delete_holidays(cast: Cast, api_for: ApiFor) -> None:
    holiday = holiday_save(by=None, holiday_id=None, date=dt.date(2026, 12, 25), name="")
    response = api_for(cast.manager).delete(f"/api/v1/holidays/{holiday.pk}")
    assert response.status_code == 403
    assert Holiday.objects.filter(pk=holiday.pk).exists()
