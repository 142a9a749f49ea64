from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.intake.models import Lead, LeadForm, QualificationQuestion, QuestionKind
from conveyor.intake.services import form_create
from conveyor.pipelines.models import Pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _database_counters(settings: Settings) -> None:
    """Count in the test database, which is rolled back after each test, even if Redis is set."""
    settings.REDIS_URL = ""


@pytest.fixture
def form(cast: Cast, pipeline: Pipeline) -> LeadForm:
    # No minimum fill time: the test client posts within milliseconds of fetching the form.
    return form_create(
        name="Contact",
        by=cast.head,
        pipeline=pipeline,
        thank_you_text="Thanks, we will call.",
        min_fill_seconds=0,
    )


def _url(form: LeadForm) -> str:
    return reverse("web:public-form", kwargs={"key": form.key})


def _served_fields(client: Client, form: LeadForm, **query: str) -> dict[str, str]:
    """The hidden fields of the served form (its signed `_ts`, referrer, UTM)."""
    html = client.get(_url(form), query, HTTP_REFERER="https://site.example/p").content.decode()
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


def test_get_serves_a_frameable_form_with_honeypot_and_timestamp(
    client: Client, form: LeadForm
) -> None:
    response = client.get(_url(form), {"utm_source": "ads"})
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    html = response.content.decode()
    assert 'name="website"' in html and 'name="_ts"' in html and 'name="phone"' in html
    assert 'name="utm_source" value="ads"' in html


def test_urlencoded_post_records_a_lead_and_thanks(client: Client, form: LeadForm) -> None:
    hidden = _served_fields(client, form, utm_campaign="spring")
    response = client.post(
        _url(form),
        {**hidden, "name": "Ivan", "phone": "+359888123456", "website": ""},
        HTTP_REFERER="https://crm.example/f/x",
    )
    assert response.status_code == 200
    assert "Thanks, we will call." in response.content.decode()
    lead = Lead.objects.get()
    assert lead.utm == {"utm_campaign": "spring"}
    # The page the form was embedded in, not the form's own address.
    assert lead.payload["referrer"] == "https://site.example/p"
    assert lead.form == form
    assert not lead.is_suspected_spam


def test_urlencoded_post_redirects_when_the_form_says_so(cast: Cast, client: Client) -> None:
    form = form_create(name="R", by=cast.head, redirect_url="https://site.example/thanks")
    response = client.post(_url(form), {"name": "Ivan", "email": "i@example.org"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://site.example/thanks"


def test_json_post_records_a_lead_with_utm_and_referrer(client: Client, form: LeadForm) -> None:
    body = {
        "name": "Maria",
        "email": "Maria@Example.org",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "referrer": "https://site.example/pricing",
    }
    response = client.post(_url(form), json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert response.json() == {"ok": True, "lead_id": lead.pk, "message": "Thanks, we will call."}
    assert lead.email == "maria@example.org"
    assert lead.utm == {"utm_source": "newsletter", "utm_medium": "email"}
    assert lead.payload["referrer"] == "https://site.example/pricing"


def test_missing_name_and_contact_is_400_per_field(client: Client, form: LeadForm) -> None:
    response = client.post(_url(form), {"message": "hi"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert body["errors"] == {
        "name": ["This field is required."],
        "phone": ["Enter a phone number or an e-mail."],
    }
    assert not Lead.objects.exists()
    html = client.post(_url(form), {"message": "hi"})
    assert html.status_code == 400
    assert "This field is required." in html.content.decode()


def test_bad_json_is_400(client: Client, form: LeadForm) -> None:
    response = client.post(_url(form), "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_honeypot_filled_is_kept_and_marked(client: Client, form: LeadForm) -> None:
    hidden = _served_fields(client, form)
    response = client.post(
        _url(form), {**hidden, "name": "Bot", "email": "b@example.org", "website": "x"}
    )
    assert response.status_code == 200  # a robot is not told it was caught
    lead = Lead.objects.get()
    assert lead.is_suspected_spam and lead.payload["spam_reasons"] == ["honeypot"]


def test_too_fast_is_kept_and_marked(client: Client, cast: Cast) -> None:
    form = form_create(name="Default", by=cast.head)
    # Posted straight after the form was served: under the default 3-second minimum.
    hidden = _served_fields(client, form)
    client.post(_url(form), {**hidden, "name": "Speedy", "email": "s@example.org"})
    lead = Lead.objects.get()
    assert lead.is_suspected_spam and lead.payload["spam_reasons"] == ["too_fast"]


def test_over_the_ip_limit_is_kept_and_marked(
    client: Client, form: LeadForm, settings: Settings
) -> None:
    settings.CONVEYOR_FORM_RATE_PER_IP = 1
    for n in range(2):
        response = client.post(
            _url(form),
            {"name": f"N{n}", "email": f"n{n}@example.org"},
            HTTP_ACCEPT="application/json",
        )
        assert response.status_code == 201
    leads = list(Lead.objects.order_by("pk"))
    assert [lead.is_suspected_spam for lead in leads] == [False, True]
    assert leads[1].payload["spam_reasons"] == ["rate_limit_ip"]


def test_same_idempotency_key_gives_one_lead_and_the_same_body(
    client: Client, form: LeadForm
) -> None:
    body = json.dumps({"name": "Ivan", "phone": "+359888123456"})
    first = client.post(
        _url(form), body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = client.post(
        _url(form), body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.content == again.content
    assert Lead.objects.count() == 1


def test_unknown_form_is_404(client: Client, form: LeadForm) -> None:
    url = reverse("web:public-form", kwargs={"key": "no-such-form"})
    assert client.get(url).status_code == 404
    response = client.post(url, {"name": "Ivan", "email": "i@example.org"})
    assert response.status_code == 404
    response = client.post(url, "{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert not Lead.objects.exists()


def test_post_needs_no_csrf_token(form: LeadForm) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(_url(form), {"name": "Ivan", "email": "i@example.org"})
    assert response.status_code == 200
    assert Lead.objects.count() == 1


def _snippets(page: str) -> list[str]:
    """The HTML source the form's page shows for copying (unescaped once, as copied)."""
    found = re.findall(r'<pre class="card snippet"><code>(.*?)</code></pre>', page, re.S)
    return [unescape(snippet) for snippet in found]


def _logged_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_head_creates_a_form_and_sees_the_snippets(cast: Cast, pipeline: Pipeline) -> None:
    client = _logged_in(cast.head)
    assert client.get(reverse("web:lead-forms")).status_code == 200
    response = client.post(
        reverse("web:lead-forms"),
        {
            "name": "Landing",
            "pipeline": pipeline.pk,
            "shown": ["name", "email", "company"],
            "required": ["email"],
            "thank_you_text": "Thanks",
        },
    )
    form = LeadForm.objects.get()
    assert response.status_code == 302
    assert form.fields == [
        {"name": "name", "required": True},
        {"name": "email", "required": True},
        {"name": "company", "required": False},
    ]
    snippets = _snippets(client.get(response.headers["Location"]).content.decode())
    url = f"http://testserver/f/{form.key}"
    assert snippets[0].startswith(f'<iframe src="{url}"')
    assert snippets[1].startswith(f'<form action="{url}" method="post">')


def test_a_bad_redirect_is_shown_on_its_field(cast: Cast) -> None:
    response = _logged_in(cast.owner).post(
        reverse("web:lead-forms"),
        {"name": "X", "shown": ["name", "phone"], "redirect_url": "javascript:alert(1)"},
    )
    assert response.status_code == 400
    assert "http:// or https://" in response.content.decode()
    assert not LeadForm.objects.exists()


def test_a_manager_cannot_manage_forms(cast: Cast, form: LeadForm) -> None:
    client = _logged_in(cast.manager)
    assert client.get(reverse("web:lead-forms")).status_code == 403
    assert client.post(reverse("web:lead-forms"), {"name": "X"}).status_code == 403
    assert client.get(reverse("web:lead-form", kwargs={"pk": form.pk})).status_code == 403


@pytest.fixture
def questions(pipeline: Pipeline) -> dict[str, QualificationQuestion]:
    """One question of each kind in the form's segment."""
    segment = pipeline.segment

    def ask(position: int, text: str, kind: str, **kwargs: object) -> QualificationQuestion:
        return QualificationQuestion.objects.create(
            segment=segment, position=position, text=text, kind=kind, **kwargs
        )

    return {
        "choice": ask(
            1,
            "When do you start?",
            QuestionKind.CHOICE,
            options=["This week", "Later"],
            scoring={"This week": 10, "Later": 0, "Never <ever>": 0},
            is_required=True,
        ),
        "number": ask(2, "How many seats?", QuestionKind.NUMBER, scoring=[[3, 20, 6]]),
        "yes_no": ask(3, "Do you use a CRM?", QuestionKind.YES_NO, scoring={"no": 5}),
        "text": ask(4, "Anything else?", QuestionKind.TEXT, scoring={"answered": 1}),
    }


def test_the_served_form_asks_the_segments_questions(
    client: Client, form: LeadForm, questions: dict[str, QualificationQuestion]
) -> None:
    page = client.get(_url(form)).content.decode()
    choice, number, yes_no, text = (questions[k].pk for k in ("choice", "number", "yes_no", "text"))
    # Each input is labelled: a <label for> its id, or a fieldset's legend for the radios.
    assert f'<label for="f-q_{choice}">When do you start? *</label>' in page
    assert f'<select id="f-q_{choice}" name="q_{choice}" required>' in page
    assert '<option value="This week">This week</option>' in page
    assert '<option value="Never &lt;ever&gt;">Never &lt;ever&gt;</option>' in page  # escaped
    assert f'<label for="f-q_{number}">How many seats?</label>' in page
    assert f'<input id="f-q_{number}" name="q_{number}" value="" type="number"' in page
    assert "<legend>Do you use a CRM?</legend>" in page
    assert f'name="q_{yes_no}" value="yes"' in page and f'name="q_{yes_no}" value="no"' in page
    assert f'<label for="f-q_{text}">Anything else?</label>' in page
    assert f'<input id="f-q_{text}" name="q_{text}" value="">' in page


def test_posted_answers_give_the_lead_its_score_and_temperature(
    client: Client, form: LeadForm, questions: dict[str, QualificationQuestion]
) -> None:
    hidden = _served_fields(client, form)
    response = client.post(
        _url(form),
        {
            **hidden,
            "name": "Ivan",
            "phone": "+359888123456",
            f"q_{questions['choice'].pk}": "This week",
            f"q_{questions['number'].pk}": "12",
            f"q_{questions['yes_no'].pk}": "no",
            f"q_{questions['text'].pk}": "",
        },
    )
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert (lead.score, lead.temperature) == (10 + 6 + 5, "hot")
    assert lead.payload["answers"] == {
        str(questions["choice"].pk): "This week",
        str(questions["number"].pk): 12,
        str(questions["yes_no"].pk): "no",
    }


def test_an_invalid_answer_is_shown_next_to_its_question_and_nothing_is_written(
    client: Client, form: LeadForm, questions: dict[str, QualificationQuestion]
) -> None:
    choice, number = questions["choice"].pk, questions["number"].pk
    response = client.post(
        _url(form),
        {"name": "Ivan", "phone": "+359888123456", f"q_{choice}": "", f"q_{number}": "lots"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    number_input = page.index(f'<input id="f-q_{number}"')
    number_error = page.index(f'<ul class="errors" id="f-q_{number}-errors"><li>Enter a number.')
    yes_no_question = page.index("<legend>Do you use a CRM?")
    assert number_input < number_error < yes_no_question  # right after its own input
    assert (
        'value="lots" type="number"' in page and f'aria-describedby="f-q_{number}-errors"' in page
    )
    choice_error = page.index(
        f'<ul class="errors" id="f-q_{choice}-errors"><li>This question is required.'
    )
    assert page.index(f'<select id="f-q_{choice}"') < choice_error < number_input
    assert 'value="Ivan"' in page  # what was typed is kept
    assert not Lead.objects.exists()


def test_json_answers_errors_per_question(
    client: Client, form: LeadForm, questions: dict[str, QualificationQuestion]
) -> None:
    choice, yes_no = questions["choice"].pk, questions["yes_no"].pk
    body = {"name": "Maria", "email": "m@example.org", f"q_{choice}": "Soon", f"q_{yes_no}": "?"}
    response = client.post(_url(form), json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "errors": {
            f"q_{choice}": ["'Soon' is not one of the options."],
            f"q_{yes_no}": ["Answer yes or no."],
        },
    }
    assert not Lead.objects.exists()
    body.update({f"q_{choice}": "Later", f"q_{yes_no}": "yes"})
    response = client.post(_url(form), json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    assert Lead.objects.get().temperature == "cold"


def test_the_html_snippet_carries_the_questions(
    cast: Cast, form: LeadForm, questions: dict[str, QualificationQuestion]
) -> None:
    page = _logged_in(cast.head).get(reverse("web:lead-form", kwargs={"pk": form.pk}))
    snippet = _snippets(page.content.decode())[1]
    choice, number, yes_no, text = (questions[k].pk for k in ("choice", "number", "yes_no", "text"))
    assert f'<label>When do you start? <select name="q_{choice}" required>' in snippet
    # The site gets valid HTML: user text is escaped once in what is copied.
    assert '<option value="Never &lt;ever&gt;">Never &lt;ever&gt;</option>' in snippet
    assert f'<input type="number" step="any" name="q_{number}">' in snippet
    assert "<legend>Do you use a CRM?</legend>" in snippet
    assert f'<input type="radio" name="q_{yes_no}" value="yes">' in snippet
    assert f'<label>Anything else? <input name="q_{text}"></label>' in snippet
    assert snippet.index(f"q_{choice}") < snippet.index('<input name="website"')


def test_the_form_page_has_no_questions_without_a_segment(cast: Cast, client: Client) -> None:
    form = form_create(name="Plain", by=cast.head, min_fill_seconds=0)
    assert 'name="q_' not in client.get(_url(form)).content.decode()
    page = _logged_in(cast.head).get(reverse("web:lead-form", kwargs={"pk": form.pk}))
    assert "q_" not in _snippets(page.content.decode())[1]
