"""`/api/v1/me`: my account, my tokens (a token never makes a wider or longer-lived one), my
calendar feed address."""

from __future__ import annotations

import datetime as dt
from typing import get_args

import pytest
from django.test import Client
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import ApiToken, TokenKind, TokenScope
from conveyor.accounts.services import token_create
from conveyor.api.account import Scope, TokenIn
from conveyor.api.tests.conftest import Api, ApiFor

pytestmark = pytest.mark.django_db


def test_me_says_who_i_am_without_secrets(cast: Cast, api_for: ApiFor) -> None:
    answer = api_for(cast.manager).get("/api/v1/me").json()
    assert answer == {
        "id": cast.manager.pk,
        "email": cast.manager.email,
        "name": cast.manager.name,
        "role": "manager",
        "team_id": cast.manager.team_id,
        "language": "",
        "has_calendar_feed": False,
    }


def test_my_language_is_kept_and_an_unknown_one_is_refused(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    assert api.patch("/api/v1/me", {"language": "ru"}).json()["language"] == "ru"
    cast.manager.refresh_from_db()
    assert cast.manager.language == "ru"
    refused = api.patch("/api/v1/me", {"language": "xx"})
    assert refused.status_code == 422
    assert "language" in refused.json()["error"]["fields"]
    cast.manager.refresh_from_db()
    assert cast.manager.language == "ru"
    # Nothing sent, nothing changed.
    assert api.patch("/api/v1/me", {}).json()["language"] == "ru"


def test_a_new_token_is_answered_once_and_works(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    made = api.post("/api/v1/me/tokens", {"name": "phone", "scopes": ["read"]})
    assert made.status_code == 201
    assert "no-store" in made["Cache-Control"]
    raw = made.json()["token"]
    assert raw.startswith(made.json()["prefix"])
    listed = api.get("/api/v1/me/tokens").json()
    assert [t["name"] for t in listed] == ["phone", "test"]
    assert all("token" not in t for t in listed)
    phone = Api(raw)
    assert phone.get("/api/v1/me").json()["id"] == cast.manager.pk
    assert phone.post("/api/v1/me/tokens", {"name": "x"}).status_code == 403  # read only


def test_a_token_cannot_make_one_with_a_scope_it_lacks(cast: Cast) -> None:
    writer = Api(token_create(user=cast.manager, name="w", scopes=[TokenScope.WRITE]).raw)
    refused = writer.post("/api/v1/me/tokens", {"name": "wider"})  # read+write by default
    assert refused.status_code == 403
    assert "scopes" in refused.json()["error"]["fields"]
    assert not ApiToken.objects.filter(name="wider").exists()
    assert (
        writer.post("/api/v1/me/tokens", {"name": "same", "scopes": ["write"]}).status_code == 201
    )


def test_an_expiring_token_makes_tokens_that_expire_no_later(cast: Cast) -> None:
    ends = timezone.now() + dt.timedelta(days=2)
    short = Api(token_create(user=cast.manager, name="short", expires_at=ends).raw)
    made = short.post("/api/v1/me/tokens", {"name": "child"})
    assert made.status_code == 201
    assert ApiToken.objects.get(name="child").expires_at == ends
    later = (ends + dt.timedelta(days=1)).isoformat()
    refused = short.post("/api/v1/me/tokens", {"name": "longer", "expires_at": later})
    assert refused.status_code == 403
    assert "expires_at" in refused.json()["error"]["fields"]
    assert not ApiToken.objects.filter(name="longer").exists()


def test_a_replayed_token_creation_does_not_answer_the_secret_again(
    cast: Cast, api_for: ApiFor
) -> None:
    api = api_for(cast.manager)
    first = api.post("/api/v1/me/tokens", {"name": "ci"}, **{"Idempotency-Key": "k1"})
    assert first.status_code == 201
    again = api.post("/api/v1/me/tokens", {"name": "ci"}, **{"Idempotency-Key": "k1"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_response_not_kept"
    assert ApiToken.objects.filter(name="ci").count() == 1


def test_revoking_my_token_stops_it(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    spare = token_create(user=cast.manager, name="spare")
    revoked = api.post(f"/api/v1/me/tokens/{spare.token.pk}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert Api(spare.raw).get("/api/v1/me").status_code == 401
    # The calling token may revoke itself; it stops working at once.
    own = ApiToken.objects.get(user=cast.manager, name="test")
    assert api.post(f"/api/v1/me/tokens/{own.pk}/revoke").status_code == 200
    assert api.get("/api/v1/me").status_code == 401


def test_someone_elses_token_is_not_found_and_keeps_working(cast: Cast, api_for: ApiFor) -> None:
    theirs = token_create(user=cast.manager, name="theirs")
    # Even the owner, who manages everyone: /me is one's own account only.
    refused = api_for(cast.owner).post(f"/api/v1/me/tokens/{theirs.token.pk}/revoke")
    assert refused.status_code == 404
    assert Api(theirs.raw).get("/api/v1/me").status_code == 200
    assert api_for(cast.owner).get("/api/v1/me/tokens").json()[0]["name"] == "test"


def test_calendar_address_is_made_then_replaced_and_the_old_one_stops(
    cast: Cast, api_for: ApiFor
) -> None:
    api = api_for(cast.manager)
    none = api.get("/api/v1/me/calendar")
    assert none.json() == {"url": None}
    made = api.post("/api/v1/me/calendar")
    assert made.status_code == 200
    assert "no-store" in made["Cache-Control"]
    url = made.json()["url"]
    assert url.startswith("http://testserver/calendar/") and url.endswith(".ics")
    assert api.get("/api/v1/me/calendar").json() == {"url": url}
    assert api.get("/api/v1/me").json()["has_calendar_feed"] is True
    feed = Client().get(url.removeprefix("http://testserver"))
    assert feed.status_code == 200
    assert feed.content.startswith(b"BEGIN:VCALENDAR")
    replaced = api.post("/api/v1/me/calendar").json()["url"]
    assert replaced != url
    assert Client().get(url.removeprefix("http://testserver")).status_code == 404


def test_the_schema_offers_every_token_scope_and_kind() -> None:
    assert set(get_args(Scope)) == set(TokenScope.values)
    kind = TokenIn.model_fields["kind"].annotation
    assert set(get_args(kind)) == set(TokenKind.values)
