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


def _endpoint(admin: Client, url: str, secret: str = "s" * 32) -> object:
    return admin.post(
        reverse("admin:automation_webhookendpoint_add"),
        {"name": "CRM sync", "url": url, "secret": secret, "events": "[]", "is_active": "on",
         "created_at_0": "2026-11-23", "created_at_1": "10:00:00"},
    )  # fmt: skip


def test_a_loopback_webhook_target_is_refused_in_the_admin(
    admin: Client, settings: Settings
) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = []
    response = _endpoint(admin, "http://127.0.0.1:8080/hook")
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors["url"]
    assert not WebhookEndpoint.objects.exists()


def test_a_short_signing_secret_is_refused_in_the_admin(admin: Client, settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = _endpoint(admin, "http://127.0.0.1:8080/hook", secret="short")
    assert response.context["adminform"].form.errors["secret"]
    assert not WebhookEndpoint.objects.exists()


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
