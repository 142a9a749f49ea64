"""email_template_save: the one way a template and its texts are written (settings screen,
tests, commands), each write audited; the rendering rules are test_mail*.py's."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.automation.mail import email_template_save
from conveyor.automation.models import BodyFormat, EmailTemplate, EmailTemplateText
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db

EN = ("Hi {{ person.first_name }}", "Hello {{ person.name }}")


def test_a_manager_writes_nothing(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        email_template_save(by=cast.manager, name="Mine", texts={"en": EN})
    assert not EmailTemplate.objects.exists()
    assert not AuditEntry.objects.exists()


def test_creating_logs_the_template_and_each_text(cast: Cast) -> None:
    template = email_template_save(
        by=cast.head,
        name="Offer",
        texts={"en": EN, "bg": ("Оферта", "<p>Здравейте</p>")},
        formats={"bg": BodyFormat.HTML},
        is_active=False,
    )
    assert not template.is_active
    [entry] = log_of(template)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)
    assert entry.changes == {"name": [None, "Offer"]}
    bg = template.texts.get(language="bg")
    [text_entry] = log_of(bg)
    assert text_entry.changes["format"] == [None, BodyFormat.HTML]


def test_saving_the_same_values_again_logs_nothing(cast: Cast) -> None:
    template = email_template_save(by=cast.owner, name="Offer", texts={"en": EN})
    entries = AuditEntry.objects.count()
    email_template_save(by=cast.owner, name="Offer", texts={"en": EN}, template=template)
    assert AuditEntry.objects.count() == entries


def test_a_changed_text_is_logged_on_the_text_and_a_dropped_one_as_deleted(cast: Cast) -> None:
    template = email_template_save(
        by=cast.owner, name="Offer", texts={"en": EN, "ru": ("Привет", "Здравствуйте")}
    )
    en, ru = template.texts.get(language="en"), template.texts.get(language="ru")
    email_template_save(
        by=cast.head,
        name="Offer",
        texts={"en": (EN[0], "Bye {{ person.name }}")},
        template=template,
    )
    assert log_of(en)[-1].changes == {"body": ["Hello {{ person.name }}", "Bye {{ person.name }}"]}
    assert log_of(ru)[-1].action == AuditAction.DELETE
    assert log_of(template) == log_of(template)[:1]  # the template itself did not change
    assert list(EmailTemplateText.objects.values_list("language", flat=True)) == ["en"]


def test_a_refused_text_leaves_the_template_as_it_was(cast: Cast) -> None:
    template = email_template_save(by=cast.owner, name="Offer", texts={"en": EN})
    entries = AuditEntry.objects.count()
    with pytest.raises(ServiceError) as error:
        email_template_save(
            by=cast.owner,
            name="Renamed",
            texts={"en": EN, "ru": ("Тема", "{% if %}")},
            template=template,
        )
    assert error.value.field == "texts.ru"
    template.refresh_from_db()
    assert template.name == "Offer"
    assert AuditEntry.objects.count() == entries
