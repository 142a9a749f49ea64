from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import PASSWORD, Cast

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings: Settings) -> None:
    settings.REDIS_URL = ""
    settings.CONVEYOR_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.CONVEYOR_LOGIN_FAILURES_PER_IP = 5


def _login(client: Client, email: str, password: str, ip: str = "10.0.0.1") -> Client:
    client.post(reverse("web:login"), {"username": email, "password": password}, REMOTE_ADDR=ip)
    return client


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_account_is_locked_after_its_failures_even_for_the_right_password(cast: Cast) -> None:
    for _attempt in range(3):
        _login(Client(), cast.manager.email, "wrong")
    client = Client()
    response = client.post(
        reverse("web:login"),
        {"username": cast.manager.email, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.9",
    )
    assert not _logged_in(client)
    assert b"Too many failed logins" in response.content
    # Another account is not affected.
    assert _logged_in(_login(Client(), cast.head.email, PASSWORD, ip="10.0.0.9"))


def test_address_is_locked_after_its_failures(cast: Cast) -> None:
    for number in range(5):
        _login(Client(), f"nobody{number}@example.com", "wrong", ip="10.0.0.2")
    assert not _logged_in(_login(Client(), cast.owner.email, PASSWORD, ip="10.0.0.2"))
    assert _logged_in(_login(Client(), cast.owner.email, PASSWORD, ip="10.0.0.3"))


def test_successful_logins_do_not_count(cast: Cast) -> None:
    for _attempt in range(6):
        client = _login(Client(), cast.manager.email, PASSWORD)
        assert _logged_in(client)
