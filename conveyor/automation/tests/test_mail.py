"""E-mail out, for real: aiosmtpd listens on loopback, Django's SMTP backend talks to it, and
what arrived is parsed with the standard library's `email` package."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

import pytest
from django.utils import timezone
from pytest_django import Settings

from conveyor.accounts.models import User
from conveyor.automation.attempts import retry_delay
from conveyor.automation.mail import email_queue, email_render, email_send, email_template_save
from conveyor.automation.models import EmailTemplate, EmailTemplateText, JobStatus, OutgoingEmail
from conveyor.automation.tasks import email_send_job
from conveyor.automation.tests.conftest import Inbox, smtp_start
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.people.models import Person, Suppression, SuppressionKind
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.pipelines.tests.support import T0
from conveyor.testing.factories import PersonFactory
from conveyor.testing.jobs import drain
from conveyor.touches.models import Channel, Direction, Touch, TouchKind

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db

TEXTS = {
    "en": (
        "{{ deal.title }} for {{ person.company }}",
        "Hello {{ person.first_name }},\n\n"
        "your offer: {{ deal.amount }} {{ deal.currency }} ({{ deal.stage }}, "
        "{{ deal.pipeline }}).\n"
        "We write to {{ person.email }} / {{ person.phone }}.\n\n"
        "{{ manager.name }} <{{ manager.email }}>",
    ),
    "ru": (
        "{{ deal.title }} для {{ person.company }}",
        "Здравствуйте, {{ person.first_name }}!\n\n"
        "Ваше предложение: {{ deal.amount }} {{ deal.currency }} ({{ deal.stage }}, "
        "{{ deal.pipeline }}).\n"
        "Пишем на {{ person.email }} / {{ person.phone }}.\n\n"
        "{{ manager.name }} <{{ manager.email }}>",
    ),
    "bg": (
        "{{ deal.title }} за {{ person.company }}",
        "Здравейте, {{ person.first_name }}!\n\n"
        "Вашата оферта: {{ deal.amount }} {{ deal.currency }} ({{ deal.stage }}, "
        "{{ deal.pipeline }}).\n"
        "Пишем на {{ person.email }} / {{ person.phone }}.\n\n"
        "{{ manager.name }} <{{ manager.email }}>",
    ),
}
GREETING = {"en": "Hello Ана,", "ru": "Здравствуйте, Ана!", "bg": "Здравейте, Ана!"}
SUBJECT = {"en": "Бюра for Пример ООД", "ru": "Бюра для Пример ООД", "bg": "Бюра за Пример ООД"}


@pytest.fixture
def template(cast: Cast) -> EmailTemplate:
    return email_template_save(by=cast.owner, name="Offer", texts=TEXTS)


def _speaks(user: User, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def _queue_and_send(**kwargs: Any) -> OutgoingEmail:
    queued = email_queue(**kwargs)
    return email_send(email_id=queued.pk)


# --- Variables and languages ----------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "bg"])
def test_variables_are_substituted_in_each_language_and_cyrillic_arrives_intact(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox, language: str
) -> None:
    _speaks(cast.manager, language)
    sent = _queue_and_send(by=cast.manager, template=template, deal=deal)

    assert sent.status == JobStatus.DONE
    assert sent.language == language
    message = inbox.only()
    assert message["Subject"] == SUBJECT[language]
    assert message.get_content_charset() == "utf-8"
    body = message.get_content()
    assert body.startswith(GREETING[language])
    stage = deal.stage.name
    assert f"1500.00 EUR ({stage}, {deal.pipeline.name})" in body
    assert "ana@example.org / +359888123456" in body
    assert body.rstrip().endswith("Maria Manager <manager@example.com>")
    assert sent.body == body.replace("\r\n", "\n").rstrip()


def test_language_follows_the_deal_owner_then_the_sender_then_language_code(
    cast: Cast, deal: Deal, template: EmailTemplate, settings: Settings
) -> None:
    settings.LANGUAGE_CODE = "ru"

    def used(sender: User | None) -> str:
        return email_render(
            template=template, deal=deal, person=deal.person, sender=sender
        ).language

    _speaks(cast.manager, "bg")
    _speaks(cast.head, "en")
    assert used(cast.head) == "bg"  # the deal owner's language wins over the sender's
    _speaks(cast.manager, "")
    assert used(cast.head) == "en"
    assert used(None) == "ru"  # nobody has one: LANGUAGE_CODE
    _speaks(cast.manager, "xx")  # not a language of this installation
    assert used(None) == "ru"
    asked = email_render(
        template=template, deal=deal, person=deal.person, sender=cast.head, language="bg"
    )
    assert asked.language == "bg"  # a language asked for explicitly wins


def test_a_missing_language_falls_back_to_language_code_then_english_then_any(
    cast: Cast, deal: Deal, settings: Settings
) -> None:
    settings.LANGUAGE_CODE = "bg"
    _speaks(cast.manager, "ru")

    def used(languages: list[str]) -> tuple[str, str]:
        template = email_template_save(
            by=cast.owner,
            name=f"Only {'+'.join(languages)}",
            texts={language: TEXTS[language] for language in languages},
        )
        rendered = email_render(template=template, deal=deal, person=deal.person, sender=None)
        return rendered.language, rendered.subject

    assert used(["en", "bg"]) == ("bg", SUBJECT["bg"])  # ru missing → LANGUAGE_CODE
    assert used(["en"]) == ("en", SUBJECT["en"])  # ru, bg missing → English
    settings.LANGUAGE_CODE = "en"
    _speaks(cast.manager, "")
    assert used(["ru"]) == ("ru", SUBJECT["ru"])  # en missing → whatever there is


# --- Sending --------------------------------------------------------------------------------


def test_the_sent_email_is_an_outgoing_email_touch_on_the_deal_and_the_row_is_done(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    sent = _queue_and_send(by=cast.head, template=template, deal=deal)

    message = inbox.only()
    assert inbox.envelopes[0].rcpt_tos == ["ana@example.org"]
    assert message["To"] == "ana@example.org"
    assert message["From"] == "Conveyor <sales@conveyor.example>"
    assert message["Reply-To"] == "head@example.com"
    assert sent.status == JobStatus.DONE
    assert sent.attempts == 1
    assert sent.finished_at is not None
    assert sent.message_id
    assert message["Message-ID"] == sent.message_id
    assert sent.message_id.endswith("@conveyor.example>")
    touch = Touch.objects.get(deal=deal)
    assert sent.touch == touch
    assert (touch.kind, touch.channel, touch.direction) == (
        TouchKind.WARMING,
        Channel.EMAIL,
        Direction.OUTGOING,
    )
    assert touch.person == deal.person
    assert touch.user == cast.head
    assert touch.note.startswith(f"Subject: {SUBJECT['en']}\n\nHello Ана,")


def test_an_automated_email_replies_to_the_deal_owner_and_credits_the_touch_to_them(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    sent = _queue_and_send(by=None, template=template, deal=deal)

    assert sent.status == JobStatus.DONE
    assert sent.sender == cast.manager
    assert inbox.only()["Reply-To"] == "manager@example.com"
    assert Touch.objects.get(deal=deal).user == cast.manager


def test_a_long_email_is_truncated_in_the_touch_note_only(
    cast: Cast, deal: Deal, inbox: Inbox
) -> None:
    sent = _queue_and_send(by=cast.manager, deal=deal, subject="Long", body="word " * 2000)

    assert len(sent.body) == len(("word " * 2000).strip())
    note = Touch.objects.get(deal=deal).note
    assert len(note) == 4000
    assert note.endswith("…")


@pytest.mark.django_db(transaction=True)
def test_the_real_worker_sends_a_queued_email_on_each_backend(
    job_backend: str, cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    queued = email_queue(by=cast.manager, template=template, deal=deal)
    assert not inbox.envelopes  # nothing is sent until a worker runs the job

    assert drain() == 1

    queued.refresh_from_db()
    assert queued.status == JobStatus.DONE
    assert inbox.only()["Message-ID"] == queued.message_id
    assert queued.touch is not None
    assert queued.touch.deal == deal


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_job_sends_nothing_the_second_time(
    job_backend: str, cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    queued = email_queue(by=cast.manager, template=template, deal=deal)
    email_send_job.enqueue(queued.pk)  # the sweep, or a job delivered twice

    assert drain() == 2

    queued.refresh_from_db()
    assert len(inbox.envelopes) == 1
    assert queued.status == JobStatus.DONE
    assert queued.attempts == 1
    assert Touch.objects.filter(deal=deal).count() == 1


def test_sending_a_done_email_again_sends_nothing(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    sent = _queue_and_send(by=cast.manager, template=template, deal=deal)

    again = email_send(email_id=sent.pk)

    assert again.status == JobStatus.DONE
    assert again.attempts == 1
    assert len(inbox.envelopes) == 1


def test_server_down_is_retried_with_backoff_and_then_sent_exactly_once(
    cast: Cast, deal: Deal, template: EmailTemplate, smtp_port: int
) -> None:
    queued = email_queue(by=cast.manager, template=template, deal=deal)

    before = timezone.now()
    failed = email_send(email_id=queued.pk)  # nothing listens on the port

    assert failed.status == JobStatus.RETRYING
    assert failed.attempts == 1
    assert failed.result
    expected = before + retry_delay(1)
    assert abs(failed.next_attempt_at - expected) < dt.timedelta(seconds=5)
    assert not Touch.objects.filter(deal=deal).exists()

    inbox = Inbox()
    controller = smtp_start(inbox, smtp_port)
    try:
        assert email_send(email_id=queued.pk).attempts == 1  # not due yet: not even tried
        assert not inbox.envelopes
        OutgoingEmail.objects.filter(pk=queued.pk).update(
            next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
        )
        sent = email_send(email_id=queued.pk)
        again = email_send(email_id=queued.pk)
    finally:
        controller.stop()

    assert sent.status == again.status == JobStatus.DONE
    assert sent.attempts == 2
    assert len(inbox.envelopes) == 1
    assert inbox.only()["Message-ID"] == queued.message_id  # the same on every attempt
    assert Touch.objects.filter(deal=deal).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_retry_is_enqueued_to_run_at_the_next_attempt(
    cast: Cast, deal: Deal, template: EmailTemplate, smtp_port: int, settings: Settings
) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    queued = email_queue(by=cast.manager, template=template, deal=deal)
    DBTaskResult.objects.all().delete()

    failed = email_send(email_id=queued.pk)

    [job] = DBTaskResult.objects.all()
    assert job.args_kwargs["args"] == [queued.pk]
    assert job.run_after == failed.next_attempt_at


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_a_550_rejection_fails_for_good_without_a_touch(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox, where: str
) -> None:
    if where == "rcpt":
        inbox.refuse_rcpt = "550 5.1.1 No such user"
    else:
        inbox.data_reply = "550 5.7.1 Message rejected as spam"

    failed = _queue_and_send(by=cast.manager, template=template, deal=deal)

    assert failed.status == JobStatus.FAILED
    assert failed.finished_at is not None
    assert "550" in failed.result
    assert failed.touch is None
    assert not Touch.objects.exists()
    assert email_send(email_id=failed.pk).attempts == 1  # never tried again


def test_a_451_rejection_is_retried(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    inbox.data_reply = "451 4.3.0 Try again later"

    failed = _queue_and_send(by=cast.manager, template=template, deal=deal)

    assert failed.status == JobStatus.RETRYING
    assert "451" in failed.result
    assert not Touch.objects.exists()


def test_the_last_attempt_fails_for_good(
    cast: Cast, deal: Deal, template: EmailTemplate, smtp_port: int, settings: Settings
) -> None:
    settings.CONVEYOR_RETRY_MAX_ATTEMPTS = 2
    queued = email_queue(by=cast.manager, template=template, deal=deal)
    assert email_send(email_id=queued.pk).status == JobStatus.RETRYING
    OutgoingEmail.objects.filter(pk=queued.pk).update(next_attempt_at=timezone.now())

    assert email_send(email_id=queued.pk).status == JobStatus.FAILED


# --- Refusals and protections ---------------------------------------------------------------


def _suppress(address: str) -> None:
    Suppression.objects.create(
        kind=SuppressionKind.EMAIL, digest=hashlib.sha256(address.encode()).hexdigest()
    )


def test_a_suppressed_address_is_refused(cast: Cast, deal: Deal, template: EmailTemplate) -> None:
    _suppress("ana@example.org")

    with pytest.raises(ServiceError, match="erased"):
        email_queue(by=cast.manager, template=template, deal=deal)
    assert not OutgoingEmail.objects.exists()


def test_an_address_suppressed_after_queueing_is_skipped_and_not_sent(
    cast: Cast, deal: Deal, template: EmailTemplate, inbox: Inbox
) -> None:
    queued = email_queue(by=cast.manager, template=template, deal=deal)
    _suppress("ana@example.org")

    skipped = email_send(email_id=queued.pk)

    assert skipped.status == JobStatus.SKIPPED
    assert not inbox.envelopes
    assert not Touch.objects.exists()


def test_a_person_without_an_email_is_refused(
    cast: Cast, pipeline: Pipeline, template: EmailTemplate
) -> None:
    person = PersonFactory(email="", phone="+359888000111", owner=cast.manager)
    deal = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=None, at=T0)

    with pytest.raises(ServiceError, match="no e-mail address"):
        email_queue(by=cast.manager, template=template, deal=deal)
    with pytest.raises(ServiceError, match="not valid"):
        email_queue(
            by=cast.manager,
            person=PersonFactory(
                email="ana@example.org\r\nBcc: x@evil.example", owner=cast.manager
            ),
            subject="Hi",
            body="Hi",
        )
    assert not OutgoingEmail.objects.exists()


def test_an_inactive_template_an_empty_subject_or_body_are_refused(
    cast: Cast, deal: Deal, template: EmailTemplate
) -> None:
    template.is_active = False
    template.save()
    with pytest.raises(ServiceError, match="switched off"):
        email_queue(by=cast.manager, template=template, deal=deal)
    with pytest.raises(ServiceError, match="subject"):
        email_queue(by=cast.manager, deal=deal, subject=" \r\n ", body="Hello")
    with pytest.raises(ServiceError, match="text"):
        email_queue(by=cast.manager, deal=deal, subject="Hello", body="  ")
    assert not OutgoingEmail.objects.exists()


def test_a_subject_with_cr_lf_cannot_inject_a_header(cast: Cast, deal: Deal, inbox: Inbox) -> None:
    # Through a variable of a template and through a subject typed by hand.
    Person.objects.filter(pk=deal.person_id).update(name="Ана\r\nBcc: spy@evil.example")
    deal.person.refresh_from_db()
    template = email_template_save(
        by=cast.owner, name="Hello", texts={"en": ("Hi {{ person.name }}", "Hello")}
    )
    by_template = _queue_and_send(by=cast.manager, template=template, deal=deal)
    by_hand = _queue_and_send(
        by=cast.manager, deal=deal, subject="Hi\r\nBcc: spy@evil.example\n\nbody", body="Hi"
    )

    assert by_template.status == by_hand.status == JobStatus.DONE
    first, second = inbox.messages()
    assert first["Subject"] == "Hi Ана Bcc: spy@evil.example"
    assert second["Subject"] == "Hi Bcc: spy@evil.example body"
    for message, envelope in zip(inbox.messages(), inbox.envelopes, strict=True):
        assert message["Bcc"] is None
        assert envelope.rcpt_tos == ["ana@example.org"]


def test_a_template_subject_must_be_one_line(cast: Cast) -> None:
    with pytest.raises(ServiceError, match="one line"):
        email_template_save(by=cast.owner, name="Two", texts={"en": ("Hi\nBcc: x", "Hello")})


def test_orm_traversal_in_a_template_renders_empty_and_leaks_no_secrets(
    cast: Cast, deal: Deal
) -> None:
    secrets = (
        "{{ deal.person.owner.password }}|{{ person.owner.password }}|{{ manager.password }}|"
        "{{ deal.owner.email }}|{{ person.deals.all }}|{{ manager.name }}"
    )
    template = email_template_save(by=cast.owner, name="Probe", texts={"en": ("Hi", secrets)})

    body = email_render(template=template, deal=deal, person=deal.person, sender=cast.manager).body

    assert body == "|||||Maria Manager"
    assert cast.manager.password not in body


def test_a_template_cannot_include_files_or_load_tag_libraries(cast: Cast) -> None:
    for source in ('{% include "/etc/passwd" %}', "{% load static %}{% static 'x' %}"):
        with pytest.raises(ServiceError):
            email_template_save(by=cast.owner, name="Bad", texts={"en": ("Hi", source)})
    assert not EmailTemplate.objects.exists()


def test_a_template_syntax_error_is_a_clear_service_error(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError, match="The template has an error") as error:
        email_template_save(
            by=cast.owner, name="Broken", texts={"ru": ("Hi", "{% if person.name %}no end")}
        )
    assert error.value.field == "texts.ru"
    assert "Russian" in error.value.message
    assert not EmailTemplate.objects.exists()

    # A text written around the service fails when it is used, as clearly.
    template = EmailTemplate.objects.create(name="Raw")
    EmailTemplateText.objects.create(
        template=template, language="en", subject="Hi", body="{% bogus %}"
    )
    with pytest.raises(ServiceError, match="The template has an error"):
        email_queue(by=cast.manager, template=template, deal=deal)
    assert not OutgoingEmail.objects.exists()


def test_a_manager_cannot_queue_an_email_on_the_outsiders_deal(
    cast: Cast, pipeline: Pipeline, template: EmailTemplate
) -> None:
    theirs = deal_open(
        person=PersonFactory(owner=cast.outsider),
        pipeline=pipeline,
        owner=cast.outsider,
        by=None,
        at=T0,
    )

    with pytest.raises(PermissionDenied):
        email_queue(by=cast.manager, template=template, deal=theirs)
    with pytest.raises(PermissionDenied):
        email_queue(by=cast.manager, person=theirs.person, subject="Hi", body="Hi")
    assert not OutgoingEmail.objects.exists()
    assert email_queue(by=cast.other_head, template=template, deal=theirs).to


def test_the_person_must_be_the_deals_client(cast: Cast, deal: Deal) -> None:
    with pytest.raises(ServiceError, match="deal's client"):
        email_queue(
            by=cast.manager,
            deal=deal,
            person=PersonFactory(owner=cast.manager),
            subject="Hi",
            body="Hi",
        )


# --- Templates ------------------------------------------------------------------------------


def test_only_owners_and_heads_save_templates(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        email_template_save(by=cast.manager, name="Mine", texts={"en": TEXTS["en"]})
    assert email_template_save(by=cast.head, name="Head's", texts={"en": TEXTS["en"]}).pk


def test_saving_a_template_replaces_its_texts(cast: Cast, template: EmailTemplate) -> None:
    saved = email_template_save(
        by=cast.owner,
        name=" Offer v2 ",
        texts={"bg": ("Оферта", "Здравейте")},
        template=template,
    )

    assert saved.pk == template.pk
    assert saved.name == "Offer v2"
    assert list(saved.texts.values_list("language", "subject", "body")) == [
        ("bg", "Оферта", "Здравейте")
    ]


@pytest.mark.parametrize(
    ("name", "texts", "message"),
    [
        ("", {"en": ("Hi", "Hello")}, "name"),
        ("Offer", {"en": ("Hi", "Hello")}, "already exists"),
        ("New", {}, "at least one language"),
        ("New", {"de": ("Hallo", "Hallo")}, "not a language"),
        ("New", {"en": ("Hi", " ")}, "both the subject and the text"),
    ],
)
def test_a_template_is_refused_when_incomplete(
    cast: Cast,
    template: EmailTemplate,
    name: str,
    texts: dict[str, tuple[str, str]],
    message: str,
) -> None:
    with pytest.raises(ServiceError, match=message):
        email_template_save(by=cast.owner, name=name, texts=texts)
    assert EmailTemplate.objects.count() == 1
