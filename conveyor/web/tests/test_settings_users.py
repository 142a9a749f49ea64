"""Settings → users and teams: the owner manages everyone, a head of sales the managers of the
teams they head; only the owner makes owners and heads."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import PASSWORD, Cast
from conveyor.accounts.models import Role, Team, User
from conveyor.core.models import AuditAction
from conveyor.testing.audit import log_of
from conveyor.testing.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Another-pass-456"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _user_post(cast: Cast, **overrides: Any) -> dict[str, Any]:
    return {
        "email": "New.Person@Example.com",
        "name": "Nina New",
        "role": Role.MANAGER,
        "team": cast.head.team_id,
        "capacity": "40",
        "language": "bg",
        "is_active": "on",
        "password": NEW_PASSWORD,
        **overrides,
    }


def _edit(user: User) -> str:
    return reverse("web:settings-user", kwargs={"pk": user.pk})


def test_a_manager_is_refused_every_page_and_nothing_changes(cast: Cast) -> None:
    team = cast.manager.team
    assert team is not None
    urls = [
        reverse("web:settings-users"),
        reverse("web:settings-user-new"),
        _edit(cast.manager),
        reverse("web:settings-teams"),
        reverse("web:settings-team-new"),
        reverse("web:settings-team", kwargs={"pk": team.pk}),
    ]
    client = _client(cast.manager)
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, _user_post(cast, name="Hijacked")).status_code == 403, url
    cast.manager.refresh_from_db()
    assert cast.manager.name == "Maria Manager"
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_head_adds_a_manager_to_their_team_who_can_log_in(cast: Cast) -> None:
    response = _client(cast.head).post(reverse("web:settings-user-new"), _user_post(cast))
    assert response.headers["Location"] == reverse("web:settings-users")
    user = User.objects.get(email="new.person@example.com")
    assert (user.role, user.team, user.capacity, user.language) == (
        Role.MANAGER,
        cast.head.team,
        40,
        "bg",
    )
    assert Client().login(email="new.person@example.com", password=NEW_PASSWORD)
    [entry] = log_of(user)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert "password" not in entry.changes


def test_head_sees_and_edits_only_the_managers_of_their_teams(cast: Cast) -> None:
    client = _client(cast.head)
    listed = {user.email for user in client.get(reverse("web:settings-users")).context["users"]}
    assert listed == {cast.head.email, cast.manager.email}
    assert client.get(_edit(cast.outsider)).status_code == 404
    assert client.get(_edit(cast.owner)).status_code == 404
    response = client.post(_edit(cast.outsider), _user_post(cast, name="Taken over"))
    assert response.status_code == 404
    cast.outsider.refresh_from_db()
    assert cast.outsider.name == "Oleg Outsider"


def test_head_cannot_put_a_user_into_another_heads_team(cast: Cast) -> None:
    other_team = cast.outsider.team
    assert other_team is not None
    response = _client(cast.head).post(
        _edit(cast.manager), _user_post(cast, email=cast.manager.email, team=other_team.pk)
    )
    assert response.status_code == 400
    assert "team" in response.context["form"].errors
    cast.manager.refresh_from_db()
    assert cast.manager.team == cast.head.team


def test_only_the_owner_makes_a_head(cast: Cast) -> None:
    response = _client(cast.head).post(
        _edit(cast.manager), _user_post(cast, email=cast.manager.email, role=Role.HEAD)
    )
    assert response.status_code == 400
    assert "role" in response.context["form"].errors
    cast.manager.refresh_from_db()
    assert cast.manager.role == Role.MANAGER
    response = _client(cast.owner).post(
        _edit(cast.manager), _user_post(cast, email=cast.manager.email, role=Role.HEAD)
    )
    assert response.status_code == 302
    cast.manager.refresh_from_db()
    assert (cast.manager.role, cast.manager.is_staff) == (Role.HEAD, True)


def test_a_password_reset_is_audited_without_its_value(cast: Cast) -> None:
    response = _client(cast.head).post(
        _edit(cast.manager),
        _user_post(cast, email=cast.manager.email, name=cast.manager.name, capacity="60"),
    )
    assert response.status_code == 302
    cast.manager.refresh_from_db()
    assert cast.manager.check_password(NEW_PASSWORD)
    [entry] = log_of(cast.manager)
    assert entry.changes["password"] is None
    assert NEW_PASSWORD not in str(entry.changes)


def test_an_empty_password_keeps_the_current_one(cast: Cast) -> None:
    _client(cast.head).post(
        _edit(cast.manager), _user_post(cast, email=cast.manager.email, password="")
    )
    cast.manager.refresh_from_db()
    assert cast.manager.check_password(PASSWORD)
    assert cast.manager.name == "Nina New"


def test_a_weak_password_is_shown_on_the_field_and_nothing_saved(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-user-new"), _user_post(cast, password="123")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["password"]
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_a_taken_email_is_shown_on_the_field(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-user-new"), _user_post(cast, email="MANAGER@example.com")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == ["A user with this e-mail already exists."]


def test_nobody_switches_themselves_off(cast: Cast) -> None:
    data = _user_post(cast, email=cast.head.email, role=Role.HEAD)
    del data["is_active"]
    response = _client(cast.head).post(_edit(cast.head), data)
    assert response.status_code == 400
    assert response.context["form"].errors["is_active"] == ["You cannot switch yourself off."]
    cast.head.refresh_from_db()
    assert cast.head.is_active


def test_owner_creates_a_team_with_a_head_and_head_renames_it(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-team-new"), {"name": "Team C", "head": cast.head.pk}
    )
    assert response.headers["Location"] == reverse("web:settings-teams")
    team = Team.objects.get(name="Team C")
    response = _client(cast.head).post(
        reverse("web:settings-team", kwargs={"pk": team.pk}),
        {"name": "Team C (north)", "head": cast.head.pk},
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.name == "Team C (north)"
    assert [entry.action for entry in log_of(team)] == [AuditAction.CREATE, AuditAction.UPDATE]


def test_head_cannot_give_a_team_to_another_head(cast: Cast) -> None:
    team = cast.head.team
    assert team is not None
    response = _client(cast.head).post(
        reverse("web:settings-team", kwargs={"pk": team.pk}),
        {"name": team.name, "head": cast.other_head.pk},
    )
    assert response.status_code == 400
    assert "head" in response.context["form"].errors
    team.refresh_from_db()
    assert team.head == cast.head


def test_the_lists_run_the_same_queries_for_one_or_many(
    cast: Cast, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.owner)
    urls = [reverse("web:settings-users"), reverse("web:settings-teams")]
    few = {}
    for url in urls:
        with django_assert_max_num_queries(10) as counted:
            client.get(url)
        few[url] = len(counted)
    for _ in range(6):
        team = TeamFactory(head=UserFactory(role=Role.HEAD))
        UserFactory.create_batch(3, team=team)
    for url in urls:
        with CaptureQueriesContext(connection) as many:
            assert client.get(url).status_code == 200
        assert len(many) == few[url], url
