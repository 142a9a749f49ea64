"""Settings → webhooks: the address goes through the SSRF guard, the signing secret is shown
once (on creation or rotation) and afterwards only by its last characters."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.automation.models import WebhookEndpoint
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.215.14"  # a public address as a literal: checked without DNS, never called
SECRET = "an-old-secret-of-32-characters!!"


@pytest.fixture(autouse=True)
def _no_allowed_networks(settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = []


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Billing",
        "url": f"https://{PUBLIC_IP}/conveyor",
        "events": ["deal_won", "deal_lost"],
        "is_active": "on",
        **overrides,
    }


@pytest.fixture
def endpoint() -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="Warehouse", url=f"https://{PUBLIC_IP}/in", secret=SECRET, events=["deal_won"]
    )


def test_a_manager_is_refused_every_page_and_nothing_changes(
    cast: Cast, endpoint: WebhookEndpoint
) -> None:
    client = _client(cast.manager)
    for url in (
        reverse("web:settings-webhooks"),
        reverse("web:settings-webhook-new"),
        reverse("web:settings-webhook", kwargs={"pk": endpoint.pk}),
    ):
        assert client.get(url).status_code == 403, url
        assert client.post(url, _post(name="Mine")).status_code == 403, url
    rotate = reverse("web:settings-webhook-rotate", kwargs={"pk": endpoint.pk})
    response = client.post(rotate)
    assert response.status_code == 403
    assert SECRET not in response.text
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.secret) == ("Warehouse", SECRET)
    assert WebhookEndpoint.objects.count() == 1
    assert not AuditEntry.objects.exists()


def test_head_creates_a_webhook_and_sees_its_secret_this_once(cast: Cast) -> None:
    client = _client(cast.head)
    response = client.post(reverse("web:settings-webhook-new"), _post())
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.name, endpoint.url) == ("Billing", f"https://{PUBLIC_IP}/conveyor")
    assert endpoint.events == ["deal_won", "deal_lost"]
    assert len(endpoint.secret) >= 40
    assert endpoint.secret in response.text
    assert "no-store" in response["Cache-Control"]
    [entry] = log_of(endpoint)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert "secret" not in entry.changes
    # Afterwards: the end of the secret only, on the list and on the webhook's page.
    for url in (
        reverse("web:settings-webhooks"),
        reverse("web:settings-webhook", kwargs={"pk": endpoint.pk}),
    ):
        page = client.get(url)
        assert page.status_code == 200
        assert endpoint.secret not in page.text, url
        assert endpoint.secret[:8] not in page.text, url
        assert f"…{endpoint.secret[-4:]}" in page.text, url
    assert "Deal won, Deal lost" in client.get(reverse("web:settings-webhooks")).text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
    ],
)
def test_a_private_or_loopback_address_is_refused_on_the_url(cast: Cast, url: str) -> None:
    response = _client(cast.owner).post(reverse("web:settings-webhook-new"), _post(url=url))
    assert response.status_code == 400
    [error] = response.context["form"].errors["url"]
    assert "private, local or reserved address" in error
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEntry.objects.exists()


def test_an_address_that_is_not_a_url_is_refused_on_the_url(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-webhook-new"), _post(url="ftp://example.com/")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["url"] == ["Enter a valid URL."]
    assert not WebhookEndpoint.objects.exists()


def test_moving_a_webhook_to_a_private_address_changes_nothing(
    cast: Cast, endpoint: WebhookEndpoint
) -> None:
    url = reverse("web:settings-webhook", kwargs={"pk": endpoint.pk})
    response = _client(cast.owner).post(url, _post(url="http://192.168.1.10/"))
    assert response.status_code == 400
    assert "192.168.1.10" in response.context["form"].errors["url"][0]
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.url) == ("Warehouse", f"https://{PUBLIC_IP}/in")
    assert not AuditEntry.objects.exists()


def test_editing_keeps_the_secret_and_logs_the_change(
    cast: Cast, endpoint: WebhookEndpoint
) -> None:
    client = _client(cast.owner)
    url = reverse("web:settings-webhook", kwargs={"pk": endpoint.pk})
    response = client.post(url, _post(name="Warehouse", events=[], is_active=""))
    assert response.headers["Location"] == reverse("web:settings-webhooks")
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.events, endpoint.is_active) == (SECRET, [], False)
    [entry] = log_of(endpoint)
    assert entry.action == AuditAction.UPDATE
    assert set(entry.changes) == {"url", "events", "is_active"}


def test_rotating_shows_the_new_secret_once_and_logs_only_that_it_changed(
    cast: Cast, endpoint: WebhookEndpoint
) -> None:
    client = _client(cast.head)
    response = client.post(reverse("web:settings-webhook-rotate", kwargs={"pk": endpoint.pk}))
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.secret != SECRET and len(endpoint.secret) >= 40
    assert endpoint.secret in response.text
    assert SECRET not in response.text
    assert "no-store" in response["Cache-Control"]
    [entry] = log_of(endpoint)
    assert (entry.action, entry.actor_id, entry.changes) == (
        AuditAction.UPDATE,
        cast.head.pk,
        {"secret": None},
    )
    page = client.get(reverse("web:settings-webhook", kwargs={"pk": endpoint.pk}))
    assert endpoint.secret not in page.text
    assert "changed (values are not kept in the log)" in page.text


def test_rotating_is_a_post(cast: Cast, endpoint: WebhookEndpoint) -> None:
    url = reverse("web:settings-webhook-rotate", kwargs={"pk": endpoint.pk})
    assert _client(cast.owner).get(url).status_code == 405
    endpoint.refresh_from_db()
    assert endpoint.secret == SECRET
