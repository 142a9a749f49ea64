"""Each user's interface language: saved by the header switch, used on every device."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import Cast
from conveyor.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _lang(client: Client, **headers: str) -> str:
    response = client.get("/agenda/", headers=headers)
    assert response.status_code == 200
    return response["Content-Language"]


def test_switch_saves_the_language_on_the_account(cast: Cast) -> None:
    response = _client(cast.manager).post("/i18n/setlang/", {"language": "bg", "next": "/agenda/"})
    assert response.status_code == 302
    assert response["Location"] == "/agenda/"
    cast.manager.refresh_from_db()
    assert cast.manager.language == "bg"
    assert AuditEntry.objects.filter(record_id=cast.manager.pk, action="update").exists()


def test_saved_language_follows_the_user_to_another_browser(cast: Cast) -> None:
    cast.manager.language = "ru"
    cast.manager.save()
    # A new browser: no language cookie, the browser asks for English.
    assert _lang(_client(cast.manager), accept_language="en") == "ru"
    # Someone else on the same kind of browser keeps the browser's choice.
    assert _lang(_client(cast.head), accept_language="bg") == "bg"


def test_unknown_language_is_not_saved(cast: Cast) -> None:
    cast.manager.language = "bg"
    cast.manager.save()
    response = _client(cast.manager).post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert response.status_code == 302
    cast.manager.refresh_from_db()
    assert cast.manager.language == "bg"


def test_anonymous_switch_sets_only_the_cookie(cast: Cast) -> None:
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "ru", "next": "/login/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "ru"
    assert client.get("/login/")["Content-Language"] == "ru"


def test_switch_needs_post(cast: Cast) -> None:
    assert _client(cast.manager).get("/i18n/setlang/?language=bg").status_code == 405
    cast.manager.refresh_from_db()
    assert cast.manager.language == ""
