from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from conveyor.accounts.models import ApiToken, Role, Team, User
from conveyor.api.tests.conftest import Api

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_user_create_makes_a_head_of_a_new_team() -> None:
    out = _run(
        "user",
        "create",
        "--email",
        "Head@Example.com",
        "--role",
        "head",
        "--team",
        "North",
        "--password",
        "Long-pass-123",
    )
    user = User.objects.get(email="head@example.com")
    assert f"id {user.pk}" in out
    assert user.role == Role.HEAD and user.check_password("Long-pass-123")
    assert Team.objects.get(name="North").head == user
    assert user.team is not None and user.team.name == "North"


def test_user_create_joins_an_existing_team() -> None:
    _run(
        "user",
        "create",
        "--email",
        "h@example.com",
        "--role",
        "head",
        "--team",
        "North",
        "--password",
        "Long-pass-123",
    )
    _run(
        "user",
        "create",
        "--email",
        "m@example.com",
        "--team",
        "North",
        "--password",
        "Long-pass-123",
    )
    team = Team.objects.get(name="North")
    assert team.members.count() == 2
    assert team.head is not None and team.head.email == "h@example.com"


def test_user_create_prints_a_generated_password() -> None:
    out = _run("user", "create", "--email", "m@example.com")
    password = out.split("Password: ")[1].strip()
    assert User.objects.get(email="m@example.com").check_password(password)


def test_user_create_refuses_a_weak_password_and_writes_nothing() -> None:
    with pytest.raises(CommandError, match="password"):
        _run("user", "create", "--email", "m@example.com", "--team", "North", "--password", "123")
    assert not User.objects.exists()
    assert not Team.objects.exists()


def test_user_create_refuses_a_duplicate_email() -> None:
    _run("user", "create", "--email", "m@example.com", "--password", "Long-pass-123")
    with pytest.raises(CommandError, match="already exists"):
        _run("user", "create", "--email", "M@example.com", "--password", "Long-pass-123")


def test_token_create_prints_a_working_token() -> None:
    _run("user", "create", "--email", "m@example.com", "--password", "Long-pass-123")
    raw = _run("token", "create", "--user", "m@example.com").strip()
    assert raw.startswith("cvr_") and "\n" not in raw
    assert Api(raw).get("/api/v1/leads").status_code == 200
    listing = _run("token", "list")
    assert "m@example.com" in listing and raw not in listing
    token = ApiToken.objects.get()
    _run("token", "revoke", str(token.pk))
    assert Api(raw).get("/api/v1/leads").status_code == 401


def test_token_create_for_an_unknown_user_fails_clearly() -> None:
    with pytest.raises(CommandError, match="no user"):
        _run("token", "create", "--user", "ghost@example.com")


def test_token_create_with_an_unknown_scope_fails_clearly() -> None:
    _run("user", "create", "--email", "m@example.com", "--password", "Long-pass-123")
    with pytest.raises(CommandError, match="scopes"):
        _run("token", "create", "--user", "m@example.com", "--scopes", "read,admin")
    assert not ApiToken.objects.exists()
