"""Users, teams and API tokens are audited: who made them, who revoked a token; never a
password or a token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import ApiToken, Role, Team, User
from conveyor.accounts.services import team_ensure, token_create, token_revoke, user_create
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import actions_of, log_of

pytestmark = pytest.mark.django_db


def test_creating_a_user_records_the_role_and_never_the_password(cast: Cast) -> None:
    user = user_create(
        email="new@example.com", password="Very-secret-42", role=Role.HEAD, by=cast.owner
    )
    [entry] = log_of(user)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.owner.pk)
    assert entry.changes["role"] == [None, "head"]
    assert "password" not in entry.changes
    stored = User.objects.get(pk=user.pk).password
    assert stored not in str(entry.changes)


def test_a_team_is_recorded_when_made_and_when_it_gets_a_head(cast: Cast) -> None:
    team = team_ensure(name="Team C", by=cast.owner)
    team_ensure(name="Team C", head=cast.head, by=cast.owner)
    team_ensure(name="Team C", head=cast.manager, by=cast.owner)  # has a head: no change
    assert actions_of(team) == [AuditAction.CREATE, AuditAction.UPDATE]
    assert log_of(team)[1].changes == {"head": [None, cast.head.pk]}
    assert Team.objects.get(pk=team.pk).head_id == cast.head.pk


def test_a_token_is_recorded_when_made_and_revoked_never_its_secret(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="Telephony", by=cast.head)
    token_revoke(token_id=new.token.pk, by=cast.manager)
    token_revoke(token_id=new.token.pk, by=cast.manager)  # the first time stays: no entry
    created, revoked = log_of(new.token)
    assert (created.action, created.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert (revoked.action, revoked.actor_id) == (AuditAction.REVOKE, cast.manager.pk)
    assert list(revoked.changes) == ["revoked_at"]
    token = ApiToken.objects.get()
    log = str(list(AuditEntry.objects.values_list("changes", flat=True)))
    assert new.raw not in log and token.key_hash not in log and token.prefix not in log


@pytest.mark.django_db(transaction=True)
def test_a_password_set_on_the_admins_password_page_is_recorded_without_the_hash(
    cast: Cast,
) -> None:
    # Transactional: Django's password page runs outside any transaction of its own.
    cast.owner.is_staff = cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[cast.manager.pk]),
        {
            "password1": "Brand-new-pass-42",
            "password2": "Brand-new-pass-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = log_of(cast.manager)[-1]
    assert (entry.action, entry.actor_id, entry.changes) == (
        AuditAction.UPDATE,
        cast.owner.pk,
        {"password": None},
    )
    assert User.objects.get(pk=cast.manager.pk).password not in str(entry.changes)
