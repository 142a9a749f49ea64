"""Formatted (HTML) e-mail templates: cleaned to the allow-list when saved, variables escaped
when rendered, sent as text with an HTML alternative through a real SMTP server on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib import admin
from django.test import Client

from conveyor.automation.mail import email_queue, email_render, email_send, email_template_save
from conveyor.automation.models import BodyFormat, EmailTemplate, EmailTemplateText, JobStatus
from conveyor.automation.tests.conftest import Inbox
from conveyor.core.errors import ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db

BODY = (
    "<p>Hello <strong>{{ person.first_name }}</strong>,</p>"
    "<ul><li>{{ deal.amount }} {{ deal.currency }}</li><li>{{ deal.stage }}</li></ul>"
    '<p><a href="https://shop.example/offer?id=1&amp;x=2">The offer</a></p>'
    '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    '<p style="color:red" onclick="steal()">{{ manager.name }}</p>'
)


def _html_template(cast: Cast, body: str = BODY) -> EmailTemplate:
    return email_template_save(
        by=cast.owner,
        name="Formatted offer",
        texts={"en": ("Offer for {{ person.name }}", body)},
        formats={"en": BodyFormat.HTML},
    )


def test_formatted_body_is_cleaned_when_saved(cast: Cast) -> None:
    text = _html_template(cast).texts.get()
    assert text.format == BodyFormat.HTML
    assert "<strong>{{ person.first_name }}</strong>" in text.body
    for dropped in ("<img", "onerror", "<script", "alert(2)", "style=", "onclick"):
        assert dropped not in text.body
    assert 'rel="noopener noreferrer nofollow"' in text.body


def test_variables_are_escaped_in_a_formatted_body(cast: Cast, deal: Deal, person: Person) -> None:
    person.name = '<img src=x onerror="alert(1)"> Ана'
    person.save()
    rendered = email_render(
        template=_html_template(cast), deal=deal, person=person, sender=cast.manager
    )
    assert "<img" not in rendered.html
    assert "&lt;img" in rendered.html
    assert "<strong>&lt;img</strong>" in rendered.html  # the first name is "<img"
    # The text twin reads as text: the name as written, items and the link's address.
    assert rendered.body.startswith("Hello <img,")
    assert "- 1500.00 EUR" in rendered.body
    assert "The offer (https://shop.example/offer?id=1&x=2)" in rendered.body


def test_a_javascript_link_from_a_variable_is_dropped(
    cast: Cast, deal: Deal, person: Person
) -> None:
    person.email = "javascript:alert(1)"
    person.save()
    template = _html_template(cast, '<p><a href="{{ person.email }}">write</a></p>')
    rendered = email_render(template=template, deal=deal, person=person, sender=None)
    assert "javascript" not in rendered.html
    assert rendered.html.startswith("<p><a rel=")


def test_formatted_email_goes_out_with_text_and_html_parts(
    cast: Cast, deal: Deal, inbox: Inbox
) -> None:
    queued = email_queue(by=cast.manager, template=_html_template(cast), deal=deal)
    sent = email_send(email_id=queued.pk)
    assert sent.status == JobStatus.DONE
    message = inbox.only()
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().startswith("Hello Ана,")
    assert "<strong>Ана</strong>" in html.get_content()
    assert "<script" not in html.get_content() and "onerror" not in html.get_content()
    # The touch on the deal keeps the readable text, not the markup.
    assert sent.touch is not None and "<strong>" not in sent.touch.note


def test_plain_template_still_goes_out_as_plain_text(cast: Cast, deal: Deal, inbox: Inbox) -> None:
    template = email_template_save(
        by=cast.owner, name="Plain", texts={"en": ("Hi", "Hello <b>{{ person.first_name }}</b>")}
    )
    sent = email_send(email_id=email_queue(by=cast.manager, template=template, deal=deal).pk)
    message = inbox.only()
    assert message.get_content_type() == "text/plain"
    assert message.get_content().startswith("Hello <b>Ана</b>")
    assert sent.html_body == ""


def test_a_formatted_body_with_nothing_left_after_cleaning_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError, match="Write both the subject and the text"):
        _html_template(cast, "<script>alert(1)</script><img src=x>")
    assert not EmailTemplateText.objects.exists()


def test_unknown_format_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError, match="Unknown format"):
        email_template_save(
            by=cast.owner, name="X", texts={"en": ("Hi", "Hello")}, formats={"en": "rtf"}
        )


def test_admin_cleans_a_formatted_body(cast: Cast) -> None:
    assert EmailTemplate in admin.site._registry
    cast.owner.is_staff = True
    cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    response = client.post(
        "/admin/automation/emailtemplate/add/",
        {
            "name": "From admin",
            "is_active": "on",
            "texts-TOTAL_FORMS": "1",
            "texts-INITIAL_FORMS": "0",
            "texts-MIN_NUM_FORMS": "0",
            "texts-MAX_NUM_FORMS": "1000",
            "texts-0-language": "en",
            "texts-0-subject": "Hi",
            "texts-0-body": '<p onmouseover="x()">Hi <a href="javascript:x()">there</a></p>',
            "texts-0-format": "html",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    text = EmailTemplateText.objects.get(template__name="From admin")
    assert text.body == '<p>Hi <a rel="noopener noreferrer nofollow">there</a></p>'
