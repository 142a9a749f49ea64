"""The settings services of accounts: user_save (who may change whom), team_save and
sales_plan_save, and the shared full_clean_or_refuse (core.errors)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from conftest import PASSWORD, Cast
from conveyor.accounts.models import Role, SalesPlan, Team, User
from conveyor.accounts.services import (
    sales_plan_save,
    team_save,
    user_save,
)
from conveyor.core.errors import PermissionDenied, ServiceError, full_clean_or_refuse
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Segment
from conveyor.testing.audit import actions_of, log_of

pytestmark = pytest.mark.django_db


def _fields(user: User, **overrides: Any) -> dict[str, Any]:
    """user_save's arguments with the user's current values."""
    return {
        "user_id": user.pk,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "team": user.team,
        "capacity": user.capacity,
        "language": user.language,
        "is_active": user.is_active,
        **overrides,
    }


def _new(team: Team | None, **overrides: Any) -> dict[str, Any]:
    return {
        "user_id": None,
        "email": "Ivo@Example.com ",
        "name": "Ivo",
        "role": Role.MANAGER,
        "team": team,
        "capacity": 30,
        "language": "",
        "is_active": True,
        "password": "Good-pass-789",
        **overrides,
    }


def test_a_manager_may_not_manage_users_teams_or_plans(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        user_save(by=cast.manager, **_fields(cast.manager, capacity=999))
    with pytest.raises(PermissionDenied):
        team_save(by=cast.manager, team_id=None, name="Mine", head=cast.manager)
    with pytest.raises(PermissionDenied):
        sales_plan_save(
            by=cast.manager,
            plan_id=None,
            user=cast.manager,
            team=None,
            month=dt.date(2026, 1, 1),
            revenue=Decimal(1),
            deals=1,
        )
    cast.manager.refresh_from_db()
    assert cast.manager.capacity == 60
    assert not Team.objects.filter(name="Mine").exists()
    assert not SalesPlan.objects.exists()


def test_head_creates_a_manager_in_their_team(cast: Cast) -> None:
    user = user_save(by=cast.head, **_new(cast.head.team))
    assert (user.email, user.role, user.team, user.is_staff) == (
        "ivo@example.com",
        Role.MANAGER,
        cast.head.team,
        False,
    )
    assert user.check_password("Good-pass-789")
    [entry] = log_of(user)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_head_puts_new_users_only_into_teams_they_head(cast: Cast) -> None:
    for team in (cast.outsider.team, None):
        with pytest.raises(PermissionDenied) as refused:
            user_save(by=cast.head, **_new(team))
        assert refused.value.field == "team"
    assert not User.objects.filter(email="ivo@example.com").exists()


def test_head_makes_no_heads_or_owners(cast: Cast) -> None:
    for role in (Role.HEAD, Role.OWNER):
        with pytest.raises(PermissionDenied) as refused:
            user_save(by=cast.head, **_new(cast.head.team, role=role))
        assert refused.value.field == "role"
        with pytest.raises(PermissionDenied):
            user_save(by=cast.head, **_fields(cast.manager, role=role))
    cast.manager.refresh_from_db()
    assert cast.manager.role == Role.MANAGER


def test_head_manages_only_managers_of_their_teams(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        user_save(by=cast.head, **_fields(cast.outsider, capacity=1))
    with pytest.raises(PermissionDenied):
        user_save(by=cast.head, **_fields(cast.owner, capacity=1))
    # A head of sales who is a member of a team our head heads is still not theirs to manage.
    cast.other_head.team = cast.head.team
    cast.other_head.save()
    with pytest.raises(PermissionDenied):
        user_save(by=cast.head, **_fields(cast.other_head, capacity=1))
    assert {u.capacity for u in (cast.outsider, cast.owner, cast.other_head)} == {60}


def test_head_edits_their_own_profile_but_keeps_their_role(cast: Cast) -> None:
    user_save(by=cast.head, **_fields(cast.head, name="Hristo H.", language="bg"))
    cast.head.refresh_from_db()
    assert (cast.head.name, cast.head.language, cast.head.role) == ("Hristo H.", "bg", Role.HEAD)
    with pytest.raises(PermissionDenied):
        user_save(by=cast.head, **_fields(cast.head, role=Role.MANAGER))


def test_owner_promotes_a_manager_and_the_admin_access_follows(cast: Cast) -> None:
    user_save(by=cast.owner, **_fields(cast.manager, role=Role.HEAD))
    cast.manager.refresh_from_db()
    assert (cast.manager.role, cast.manager.is_staff, cast.manager.is_superuser) == (
        Role.HEAD,
        True,
        False,
    )
    [entry] = log_of(cast.manager)
    assert entry.changes["role"] == [Role.MANAGER, Role.HEAD]


def test_the_last_active_owner_stays_one(cast: Cast) -> None:
    with pytest.raises(ServiceError) as refused:
        user_save(by=cast.owner, **_fields(cast.owner, role=Role.HEAD))
    assert refused.value.field == "role"
    second = user_save(by=cast.owner, **_new(None, role=Role.OWNER, email="o2@example.com"))
    user_save(by=second, **_fields(cast.owner, role=Role.HEAD))
    cast.owner.refresh_from_db()
    assert cast.owner.role == Role.HEAD


def test_nobody_switches_themselves_off(cast: Cast) -> None:
    with pytest.raises(ServiceError) as refused:
        user_save(by=cast.owner, **_fields(cast.owner, is_active=False))
    assert refused.value.field == "is_active"


def test_a_new_user_needs_a_good_password(cast: Cast) -> None:
    for password, message in (("", "Give the new user a password."), ("123", None)):
        with pytest.raises(ServiceError) as refused:
            user_save(by=cast.owner, **_new(None, password=password))
        assert refused.value.field == "password"
        if message:
            assert refused.value.message == message
    assert not User.objects.filter(email="ivo@example.com").exists()


def test_a_password_change_is_logged_as_changed_without_a_value(cast: Cast) -> None:
    user_save(by=cast.head, **_fields(cast.manager), password="Fresh-pass-321")
    cast.manager.refresh_from_db()
    assert cast.manager.check_password("Fresh-pass-321")
    assert not cast.manager.check_password(PASSWORD)
    [entry] = log_of(cast.manager)
    assert entry.changes == {"password": None}


def test_an_unknown_language_and_a_bad_email_are_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as refused:
        user_save(by=cast.owner, **_fields(cast.manager, language="xx"))
    assert refused.value.field == "language"
    with pytest.raises(ServiceError) as refused:
        user_save(by=cast.owner, **_fields(cast.manager, email="not-an-address"))
    assert refused.value.field == "email"
    assert actions_of(cast.manager) == []


def test_team_save_owner_names_a_head_and_a_head_keeps_their_teams(cast: Cast) -> None:
    team = team_save(by=cast.owner, team_id=None, name=" North ", head=cast.other_head)
    assert (team.name, team.head) == ("North", cast.other_head)
    with pytest.raises(PermissionDenied):
        team_save(by=cast.head, team_id=team.pk, name="Mine now", head=cast.head)
    mine = team_save(by=cast.head, team_id=None, name="South", head=cast.head)
    with pytest.raises(PermissionDenied) as refused:
        team_save(by=cast.head, team_id=mine.pk, name="South", head=cast.other_head)
    assert refused.value.field == "head"
    with pytest.raises(ServiceError) as refused:
        team_save(by=cast.owner, team_id=mine.pk, name="South", head=cast.manager)
    assert refused.value.field == "head"
    mine.refresh_from_db()
    assert mine.head == cast.head
    assert actions_of(mine) == [AuditAction.CREATE]


def test_sales_plan_save_takes_the_month_and_refuses_a_second_one(cast: Cast) -> None:
    plan = sales_plan_save(
        by=cast.head,
        plan_id=None,
        user=None,
        team=cast.head.team,
        month=dt.date(2026, 2, 17),
        revenue=Decimal("50000"),
        deals=20,
    )
    assert plan.month == dt.date(2026, 2, 1)
    with pytest.raises(ServiceError) as refused:
        sales_plan_save(
            by=cast.owner,
            plan_id=None,
            user=None,
            team=cast.head.team,
            month=dt.date(2026, 2, 1),
            revenue=Decimal(1),
            deals=1,
        )
    assert refused.value.field == "month"
    assert actions_of(plan) == [AuditAction.CREATE]


def test_head_plans_only_for_their_teams_and_people(cast: Cast) -> None:
    for user, team in ((cast.outsider, None), (None, cast.outsider.team)):
        with pytest.raises(PermissionDenied):
            sales_plan_save(
                by=cast.head,
                plan_id=None,
                user=user,
                team=team,
                month=dt.date(2026, 2, 1),
                revenue=Decimal(1),
                deals=1,
            )
    theirs = SalesPlan.objects.create(user=cast.outsider, month=dt.date(2026, 2, 1), deals=2)
    with pytest.raises(PermissionDenied):
        sales_plan_save(
            by=cast.head,
            plan_id=theirs.pk,
            user=cast.manager,
            team=None,
            month=dt.date(2026, 2, 1),
            revenue=Decimal(1),
            deals=1,
        )
    theirs.refresh_from_db()
    assert theirs.user == cast.outsider


def test_full_clean_or_refuse_names_the_field() -> None:
    with pytest.raises(ServiceError) as refused:
        full_clean_or_refuse(Segment(name=""))
    assert refused.value.field == "name"
