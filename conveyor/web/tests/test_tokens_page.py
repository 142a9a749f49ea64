from __future__ import annotations

import pytest
from django.test import Client

from conftest import Cast
from conveyor.accounts.models import ApiToken
from conveyor.accounts.services import token_create
from conveyor.api.tests.conftest import Api

pytestmark = pytest.mark.django_db


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_new_token_is_shown_once_and_works(cast: Cast) -> None:
    client = _client(cast.manager)
    response = client.post(
        "/account/tokens/", {"name": "website", "kind": "integration", "scopes": ["intake"]}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["new_token"].raw
    assert raw.encode() in response.content
    token = ApiToken.objects.get()
    assert (token.user, token.kind, token.scopes) == (cast.manager, "integration", ["intake"])
    assert (
        Api(raw).post("/api/v1/leads", {"name": "A", "phone": "+359888123456"}).status_code == 201
    )
    again = client.get("/account/tokens/")
    assert raw.encode() not in again.content
    assert token.prefix.encode() in again.content


def test_token_needs_a_scope(cast: Cast) -> None:
    response = _client(cast.manager).post("/account/tokens/", {"name": "x", "kind": "personal"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_only_own_tokens_are_listed_and_revocable(cast: Cast) -> None:
    own = token_create(user=cast.manager, name="mine")
    other = token_create(user=cast.outsider, name="theirs")
    client = _client(cast.manager)
    page = client.get("/account/tokens/")
    assert b"mine" in page.content and b"theirs" not in page.content
    assert client.post(f"/account/tokens/{other.token.pk}/revoke/").status_code == 404
    other.token.refresh_from_db()
    assert other.token.revoked_at is None
    assert client.post(f"/account/tokens/{own.token.pk}/revoke/").status_code == 302
    own.token.refresh_from_db()
    assert own.token.revoked_at is not None
    assert Api(own.raw).get("/api/v1/leads").status_code == 401


def test_revoke_needs_post(cast: Cast) -> None:
    own = token_create(user=cast.manager, name="mine")
    assert _client(cast.manager).get(f"/account/tokens/{own.token.pk}/revoke/").status_code == 405


def test_anonymous_is_sent_to_login() -> None:
    response = Client().get("/account/tokens/")
    assert response.status_code == 302 and "/login/" in response["Location"]
