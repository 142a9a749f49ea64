from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import ApiToken, TokenKind, TokenScope
from conveyor.accounts.services import token_create, token_hash, token_revoke
from conveyor.core.errors import PermissionDenied, ServiceError

pytestmark = pytest.mark.django_db


def test_token_create_keeps_only_the_hash(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop", scopes=[TokenScope.READ])
    stored = ApiToken.objects.get()
    assert stored.key_hash == token_hash(new.raw)
    assert stored.scopes == ["read"]
    assert stored.kind == TokenKind.PERSONAL


def test_head_may_make_a_token_for_a_team_member(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="site", by=cast.head, kind=TokenKind.INTEGRATION)
    assert new.token.user == cast.manager


def test_manager_may_not_make_a_token_for_someone_else(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        token_create(user=cast.outsider, name="x", by=cast.manager)
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"scopes": ["admin"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"kind": "robot"}, "kind"),
        ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "expires_at"),
    ],
)
def test_bad_token_input_is_refused(cast: Cast, kwargs: dict[str, object], field: str) -> None:
    data: dict[str, object] = {"user": cast.manager, "name": "laptop"}
    data.update(kwargs)
    with pytest.raises(ServiceError) as error:
        token_create(**data)  # type: ignore[arg-type]
    assert error.value.field == field
    assert not ApiToken.objects.exists()


def test_no_token_for_a_switched_off_user(cast: Cast) -> None:
    cast.manager.is_active = False
    cast.manager.save()
    with pytest.raises(ServiceError):
        token_create(user=cast.manager, name="laptop")


def test_revoke_keeps_the_first_time(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop")
    first = token_revoke(token_id=new.token.pk, by=cast.manager).revoked_at
    assert first is not None and first <= timezone.now()
    assert token_revoke(token_id=new.token.pk, by=cast.manager).revoked_at == first


def test_outsider_cannot_revoke_and_learns_nothing(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop")
    with pytest.raises(ServiceError, match="No such token"):
        token_revoke(token_id=new.token.pk, by=cast.outsider)
    new.token.refresh_from_db()
    assert new.token.revoked_at is None


def test_head_can_revoke_a_team_members_token(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop")
    assert token_revoke(token_id=new.token.pk, by=cast.head).revoked_at is not None
