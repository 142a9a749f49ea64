from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD, Cast

pytestmark = pytest.mark.django_db


def test_login_with_email_and_password_reaches_the_board(cast: Cast, client: Client) -> None:
    response = client.post(
        reverse("web:login"), {"username": cast.manager.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("web:board")).status_code == 200


def test_wrong_password_is_refused(cast: Cast, client: Client) -> None:
    response = client.post(reverse("web:login"), {"username": cast.manager.email, "password": "x"})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_logout_is_post_only(cast: Cast, client: Client) -> None:
    client.force_login(cast.manager)
    assert client.get(reverse("web:logout")).status_code == 405
    assert client.post(reverse("web:logout")).status_code == 302


def test_language_switch_renders_russian(cast: Cast, client: Client) -> None:
    client.force_login(cast.manager)
    client.post(reverse("set_language"), {"language": "ru", "next": "/board/"})
    response = client.get(reverse("web:board"))
    assert response.status_code == 200
    assert 'lang="ru"' in response.content.decode()
