"""The admin accepts webhook endpoints and template texts only as the services would."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.automation.models import EmailTemplate, EmailTemplateText, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(cast: Cast) -> Client:
    cast.owner.is_staff = True
    cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    return client


def _endpoint(admin: Client, url: str, **extra: str) -> object:
    return admin.post(
        reverse("admin:automation_webhookendpoint_add"),
        {"name": "CRM sync", "url": url, "events": "[]", "is_active": "on",
         "created_at_0": "2026-11-23", "created_at_1": "10:00:00", **extra},
    )  # fmt: skip


def test_a_loopback_webhook_target_is_refused_in_the_admin(
    admin: Client, settings: Settings
) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = []
    response = _endpoint(admin, "http://127.0.0.1:8080/hook")
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["url"]
    assert not WebhookEndpoint.objects.exists()


def test_the_admin_neither_takes_nor_shows_a_signing_secret(
    admin: Client, settings: Settings
) -> None:
    """A typed secret is ignored (a random one is made, as by the settings screen), and the
    change page shows only the secret's last characters."""
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = _endpoint(admin, "http://127.0.0.1:8080/hook", secret="typed-" * 6)
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert "typed-" not in endpoint.secret and len(endpoint.secret) >= 32
    page = admin.get(reverse("admin:automation_webhookendpoint_change", args=[endpoint.pk]))
    html = page.content.decode()
    assert endpoint.secret not in html and endpoint.secret[:8] not in html
    assert f"…{endpoint.secret[-4:]}" in html
    assert 'name="secret"' not in html


def test_an_allowed_webhook_target_is_saved_from_the_admin(
    admin: Client, settings: Settings
) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = _endpoint(admin, "  http://127.0.0.1:8080/hook ")
    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:8080/hook"


def test_a_two_line_or_broken_template_text_is_refused_in_the_admin(admin: Client) -> None:
    def post(subject: str, body: str) -> object:
        return admin.post(
            reverse("admin:automation_emailtemplate_add"),
            {"name": "Thanks", "is_active": "on",
             "texts-TOTAL_FORMS": "1", "texts-INITIAL_FORMS": "0",
             "texts-0-language": "en", "texts-0-subject": subject, "texts-0-body": body,
             "texts-0-format": "text"},
        )  # fmt: skip

    for subject, body in (("Hi\r\nBcc: x@example.com", "Hello"), ("Hi", "{% if %}")):
        response = post(subject, body)
        assert response.status_code == 200
        assert not EmailTemplate.objects.exists()
    assert post("Hi {{ person.first_name }}", "Hello").status_code == 302
    assert EmailTemplateText.objects.get().subject == "Hi {{ person.first_name }}"
