from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import ApiToken, TokenScope
from conveyor.accounts.services import token_create, token_revoke
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.intake.models import Lead

pytestmark = pytest.mark.django_db

LEAD = {"name": "Ivan Petrov", "phone": "+359888123456"}


def test_missing_token_is_401_in_the_common_shape(anonymous: Api) -> None:
    response = anonymous.get("/api/v1/leads")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_unknown_token_is_401(cast: Cast) -> None:
    response = Api("cvr_not-a-real-token").get("/api/v1/leads")
    assert response.status_code == 401


def test_token_is_stored_hashed_only(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop")
    stored = ApiToken.objects.get(pk=new.token.pk)
    assert new.raw not in (stored.key_hash, stored.prefix)
    assert new.raw.startswith(stored.prefix)
    assert Api(new.raw).get("/api/v1/leads").status_code == 200


def test_revoked_token_is_refused(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop")
    token_revoke(token_id=new.token.pk, by=cast.manager)
    assert Api(new.raw).get("/api/v1/leads").status_code == 401


def test_expired_token_is_refused(cast: Cast) -> None:
    new = token_create(
        user=cast.manager, name="laptop", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    ApiToken.objects.filter(pk=new.token.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert Api(new.raw).get("/api/v1/leads").status_code == 401


def test_token_of_a_switched_off_user_is_refused(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    cast.manager.is_active = False
    cast.manager.save()
    assert api.get("/api/v1/leads").status_code == 401


def test_read_only_token_cannot_write(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager, scopes=(TokenScope.READ,))
    response = api.post("/api/v1/leads", LEAD)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not Lead.objects.exists()


def test_intake_token_can_send_leads_and_nothing_else(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager, scopes=(TokenScope.INTAKE,))
    assert api.post("/api/v1/leads", LEAD).status_code == 201
    assert api.get("/api/v1/leads").status_code == 403


def test_rate_limit_per_token(cast: Cast, api_for: ApiFor, settings: Settings) -> None:
    settings.CONVEYOR_API_RATE_PER_MINUTE = 2
    api, other = api_for(cast.manager), api_for(cast.manager)
    assert api.get("/api/v1/leads").status_code == 200
    assert api.get("/api/v1/leads").status_code == 200
    refused = api.get("/api/v1/leads")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused["Retry-After"] == "60"
    # Another token has its own budget.
    assert other.get("/api/v1/leads").status_code == 200


def test_last_used_time_is_recorded(cast: Cast) -> None:
    new = token_create(user=cast.manager, name="laptop")
    assert new.token.last_used_at is None
    Api(new.raw).get("/api/v1/leads")
    new.token.refresh_from_db()
    assert new.token.last_used_at is not None


def test_openapi_schema_and_docs_are_served(anonymous: Api) -> None:
    schema = anonymous.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/leads" in schema.json()["paths"]
    docs = anonymous.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"/api/v1/openapi.json" in docs.content
