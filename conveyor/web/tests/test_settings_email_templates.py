"""Settings → e-mail templates: a template's name, switch and texts per language, saved through
`email_template_save` (formatted texts cleaned, every text rendered with sample data)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.automation.mail import email_template_save
from conveyor.automation.models import BodyFormat, EmailTemplate, EmailTemplateText
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Offer",
        "is_active": "on",
        "subject_en": "Your offer, {{ person.first_name }}",
        "format_en": "text",
        "body_en": "Hello {{ person.name }}, here it is.",
        "subject_ru": "",
        "format_ru": "text",
        "body_ru": "",
        "subject_bg": "",
        "format_bg": "text",
        "body_bg": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def template(cast: Cast) -> EmailTemplate:
    return email_template_save(
        by=cast.owner,
        name="Welcome",
        texts={"en": ("Welcome", "Hello {{ person.name }}"), "ru": ("Привет", "Здравствуйте")},
    )


def test_a_manager_is_refused_every_page_and_nothing_changes(
    cast: Cast, template: EmailTemplate
) -> None:
    client = _client(cast.manager)
    entries = AuditEntry.objects.count()
    for url in (
        reverse("web:settings-email-templates"),
        reverse("web:settings-email-template-new"),
        reverse("web:settings-email-template", kwargs={"pk": template.pk}),
    ):
        assert client.get(url).status_code == 403, url
        assert client.post(url, _post(name="Mine")).status_code == 403, url
    assert list(EmailTemplate.objects.values_list("name", flat=True)) == ["Welcome"]
    assert AuditEntry.objects.count() == entries


def test_the_list_names_each_templates_languages(cast: Cast, template: EmailTemplate) -> None:
    response = _client(cast.head).get(reverse("web:settings-email-templates"))
    assert response.status_code == 200
    assert "English, Russian" in response.text
    assert reverse("web:settings-email-template", kwargs={"pk": template.pk}) in response.text


def test_head_creates_a_template_in_two_languages(cast: Cast) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-email-template-new"),
        _post(
            subject_bg="Вашата оферта",
            body_bg="<p>Здравейте, <b>{{ person.first_name }}</b></p>",
            format_bg="html",
        ),
    )
    template = EmailTemplate.objects.get()
    assert response.headers["Location"] == reverse(
        "web:settings-email-template", kwargs={"pk": template.pk}
    )
    texts = {text.language: text for text in template.texts.all()}
    assert set(texts) == {"en", "bg"}
    assert texts["bg"].format == BodyFormat.HTML
    assert texts["en"].format == BodyFormat.TEXT
    [entry] = log_of(template)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert [e.action for text in texts.values() for e in log_of(text)] == [AuditAction.CREATE] * 2


def test_a_formatted_text_is_cleaned_when_saved(cast: Cast, template: EmailTemplate) -> None:
    url = reverse("web:settings-email-template", kwargs={"pk": template.pk})
    body = '<p onclick="x()">Hi</p><script>alert(1)</script><img src=x onerror=alert(2)>'
    response = _client(cast.owner).post(
        url,
        _post(name="Welcome", body_en=body, format_en="html", subject_ru="Привет", body_ru="Да"),
    )
    assert response.status_code == 302
    text = template.texts.get(language="en")
    assert (text.format, text.body) == (BodyFormat.HTML, "<p>Hi</p>")


def test_the_page_shows_each_languages_text_and_leaving_one_empty_removes_it(
    cast: Cast, template: EmailTemplate
) -> None:
    client = _client(cast.owner)
    url = reverse("web:settings-email-template", kwargs={"pk": template.pk})
    page = client.get(url)
    assert page.context["form"]["subject_ru"].value() == "Привет"
    assert page.context["form"]["body_en"].value() == "Hello {{ person.name }}"
    ru = template.texts.get(language="ru")
    response = client.post(url, _post(name="Welcome", is_active=""))
    assert response.status_code == 302
    template.refresh_from_db()
    assert not template.is_active
    assert list(template.texts.values_list("language", flat=True)) == ["en"]
    assert log_of(template)[-1].changes == {"is_active": [True, False]}
    assert log_of(ru)[-1].action == AuditAction.DELETE


def test_a_text_that_does_not_render_is_shown_on_its_language(
    cast: Cast, template: EmailTemplate
) -> None:
    url = reverse("web:settings-email-template", kwargs={"pk": template.pk})
    entries = AuditEntry.objects.count()
    response = _client(cast.owner).post(
        url, _post(name="Renamed", subject_bg="Здравейте", body_bg="{% if %}")
    )
    assert response.status_code == 400
    [error] = response.context["form"].errors["body_bg"]
    assert error.startswith("Bulgarian: ")
    template.refresh_from_db()
    assert template.name == "Welcome"
    assert template.texts.count() == 2
    assert AuditEntry.objects.count() == entries


def test_a_subject_without_a_text_is_refused(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-email-template-new"), _post(body_en="")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["body_en"] == [
        "Write both the subject and the text in English."
    ]
    assert not EmailTemplate.objects.exists()


def test_a_template_with_no_language_written_is_refused(cast: Cast) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-email-template-new"), _post(subject_en="", body_en="")
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "Write the template in at least one language."
    ]
    assert not EmailTemplate.objects.exists()
    assert not EmailTemplateText.objects.exists()


def test_a_taken_name_is_shown_on_the_name(cast: Cast, template: EmailTemplate) -> None:
    response = _client(cast.owner).post(
        reverse("web:settings-email-template-new"), _post(name="welcome")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == ["A template with this name already exists."]
    assert EmailTemplate.objects.count() == 1
