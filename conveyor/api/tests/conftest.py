"""API test helpers: a client that sends a bearer token, and tokens for the cast."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import TokenScope, User
from conveyor.accounts.services import token_create


class Api:
    """Calls the API as one token."""

    def __init__(self, raw_token: str | None) -> None:
        self.client = Client()
        self.raw = raw_token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.raw is not None:
            out.setdefault("Authorization", f"Bearer {self.raw}")
        return out

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.post(
            path,
            data=json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self._headers(headers),
        )

    def post_form(self, path: str, data: dict[str, Any], **headers: str) -> Any:
        """A multipart POST, as a file upload is sent: `data` may hold open files."""
        return self.client.post(path, data=data, headers=self._headers(headers))

    def patch(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.patch(
            path,
            data=json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self._headers(headers),
        )

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(path, headers=self._headers(headers))


ApiFor = Callable[..., Api]


@pytest.fixture(autouse=True)
def _database_rate_counting(settings: Settings) -> None:
    settings.REDIS_URL = ""


@pytest.fixture
def api_for(cast: Cast) -> ApiFor:
    def make(user: User, scopes: tuple[str, ...] = (TokenScope.READ, TokenScope.WRITE)) -> Api:
        return Api(token_create(user=user, name="test", scopes=scopes).raw)

    return make


@pytest.fixture
def anonymous() -> Api:
    return Api(None)
