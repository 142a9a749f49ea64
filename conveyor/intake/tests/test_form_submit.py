from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from pytest_django import Settings

from conftest import Cast
from conveyor.core.errors import ServiceError
from conveyor.intake.models import Lead, LeadChannel, LeadForm, QualificationQuestion, QuestionKind
from conveyor.intake.services import (
    FormNotFound,
    FormResult,
    form_create,
    form_submit,
    form_token,
)
from conveyor.pipelines.models import Pipeline

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _database_counters(settings: Settings) -> None:
    """Count in the test database, which is rolled back after each test, even if Redis is set."""
    settings.REDIS_URL = ""


@pytest.fixture
def form(cast: Cast, pipeline: Pipeline) -> LeadForm:
    return form_create(name="Contact", by=cast.head, pipeline=pipeline, thank_you_text="Thanks!")


def _submit(form: LeadForm, data: dict[str, str], **kwargs: object) -> FormResult:
    params: dict[str, object] = {
        "key": form.key,
        "data": data,
        "ip": "203.0.113.7",
        "referrer": "https://site.example/landing?utm_source=fb",
        "user_agent": "pytest",
        "idempotency_key": "",
        "now": NOW,
        **kwargs,
    }
    return form_submit(**params)  # type: ignore[arg-type]


def _served(form: LeadForm, seconds_ago: float = 30) -> str:
    return form_token(form, now=NOW - dt.timedelta(seconds=seconds_ago))


def test_valid_submission_records_a_lead_with_utm_and_referrer(
    form: LeadForm, pipeline: Pipeline
) -> None:
    result = _submit(
        form,
        {
            "name": "Ivan",
            "phone": "+359 888 123 456",
            "company": "Acme",
            "message": "Call me",
            "utm_source": "google",
            "utm_campaign": "spring",
            "_ts": _served(form),
        },
    )
    assert result.ok and result.created
    lead = Lead.objects.get()
    assert lead.channel == LeadChannel.WEB_FORM
    assert (lead.name, lead.phone, lead.form, lead.segment) == (
        "Ivan",
        "+359888123456",
        form,
        pipeline.segment,
    )
    assert lead.utm == {"utm_source": "google", "utm_campaign": "spring"}
    assert lead.payload["referrer"] == "https://site.example/landing?utm_source=fb"
    assert lead.payload["company"] == "Acme"
    assert lead.payload["note"] == "Call me"
    assert lead.payload["fill_seconds"] == 30
    assert not lead.is_suspected_spam
    assert result.message == "Thanks!"


def test_utm_falls_back_to_the_referring_page(form: LeadForm) -> None:
    _submit(form, {"name": "Ivan", "email": "ivan@example.org"})
    assert Lead.objects.get().utm == {"utm_source": "fb"}


def test_missing_name_and_contact_are_refused_per_field(form: LeadForm) -> None:
    result = _submit(form, {"name": " ", "message": "hi"})
    assert not result.ok
    assert set(result.errors) == {"name", "phone"}
    assert not Lead.objects.exists()


def test_a_bad_email_is_refused_by_lead_receive_on_its_field(form: LeadForm) -> None:
    result = _submit(form, {"name": "Ivan", "email": "not-an-address"})
    assert list(result.errors) == ["email"]
    assert not Lead.objects.exists()


def test_honeypot_filled_is_kept_and_marked(form: LeadForm) -> None:
    data = {"name": "Bot", "email": "b@example.org", "website": "http://spam", "_ts": _served(form)}
    result = _submit(form, data)
    assert result.ok
    lead = Lead.objects.get()
    assert lead.is_suspected_spam
    assert lead.payload["spam_reasons"] == ["honeypot"]


def test_too_fast_is_kept_and_marked(form: LeadForm) -> None:
    _submit(form, {"name": "Fast", "email": "f@example.org", "_ts": _served(form, 0.5)})
    lead = Lead.objects.get()
    assert lead.is_suspected_spam
    assert lead.payload["spam_reasons"] == ["too_fast"]


def test_forged_timestamp_is_kept_and_marked(form: LeadForm) -> None:
    _submit(form, {"name": "Forger", "email": "f@example.org", "_ts": "123:abc"})
    assert Lead.objects.get().payload["spam_reasons"] == ["bad_timestamp"]


def test_over_the_ip_limit_is_kept_and_marked(form: LeadForm, settings: Settings) -> None:
    settings.CONVEYOR_FORM_RATE_PER_IP = 2
    for n in range(3):
        _submit(form, {"name": f"N{n}", "email": f"n{n}@example.org", "_ts": _served(form)})
    leads = list(Lead.objects.order_by("pk"))
    assert len(leads) == 3
    assert [lead.is_suspected_spam for lead in leads] == [False, False, True]
    assert leads[2].payload["spam_reasons"] == ["rate_limit_ip"]
    # Another address is not limited by the first one's count.
    other = {"name": "Other", "email": "o@example.org", "_ts": _served(form)}
    _submit(form, other, ip="198.51.100.1")
    assert not Lead.objects.order_by("-pk").first().is_suspected_spam  # type: ignore[union-attr]


def test_over_the_form_limit_is_kept_and_marked(form: LeadForm, settings: Settings) -> None:
    settings.CONVEYOR_FORM_RATE_PER_FORM = 1
    for n in range(2):
        _submit(form, {"name": f"N{n}", "email": f"n{n}@example.org"}, ip=f"198.51.100.{n}")
    last = Lead.objects.order_by("-pk").first()
    assert last is not None and last.payload["spam_reasons"] == ["rate_limit_form"]


def test_same_idempotency_key_gives_the_same_lead(form: LeadForm) -> None:
    data = {"name": "Ivan", "email": "ivan@example.org"}
    first = _submit(form, data, idempotency_key="abc-1")
    again = _submit(form, data, idempotency_key="abc-1")
    assert first.created and not again.created
    assert first.lead == again.lead
    assert Lead.objects.count() == 1
    assert Lead.objects.get().idempotency_key == f"form:{form.key}:abc-1"


def test_unknown_or_inactive_form_is_not_found(form: LeadForm) -> None:
    with pytest.raises(FormNotFound):
        _submit(form, {"name": "Ivan", "email": "i@example.org"}, key="nope")
    LeadForm.objects.filter(pk=form.pk).update(is_active=False)
    with pytest.raises(ServiceError):
        _submit(form, {"name": "Ivan", "email": "i@example.org"})
    assert not Lead.objects.exists()


def test_required_fields_follow_the_form(cast: Cast) -> None:
    form = form_create(
        name="Strict", by=cast.head, fields=[{"name": "email", "required": True}, "company"]
    )
    result = _submit(form, {"name": "Ivan", "phone": "+359888123456"}, now=timezone.now())
    assert result.errors == {"email": ["This field is required."]}


def test_bad_answers_are_reported_with_the_missing_fields_at_once(
    form: LeadForm, pipeline: Pipeline
) -> None:
    budget = QualificationQuestion.objects.create(
        segment=pipeline.segment, position=1, text="Budget?", kind=QuestionKind.NUMBER
    )
    start = QualificationQuestion.objects.create(
        segment=pipeline.segment,
        position=2,
        text="When?",
        kind=QuestionKind.CHOICE,
        options=["Now", "Later"],
        is_required=True,
    )
    result = _submit(form, {"phone": "+359888123456", f"q_{budget.pk}": "lots"})
    assert not result.ok
    assert result.errors == {
        "name": ["This field is required."],
        f"q_{budget.pk}": ["Enter a number."],
        f"q_{start.pk}": ["This question is required."],
    }
    assert not Lead.objects.exists()
