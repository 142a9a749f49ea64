from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.intake.models import LeadForm
from conveyor.intake.services import form_create, form_update
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import pipeline_with_stages

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _database_counters(settings: Settings) -> None:
    """Count in the test database, which is rolled back after each test, even if Redis is set."""
    settings.REDIS_URL = ""


@pytest.fixture
def form(cast: Cast, pipeline: Pipeline) -> LeadForm:
    return form_create(
        name="Contact",
        by=cast.head,
        pipeline=pipeline,
        fields=["phone", {"name": "email", "required": True}],
        thank_you_text="Thanks!",
    )


def _logged_in(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _edit_url(form: LeadForm) -> str:
    return reverse("web:lead-form-edit", kwargs={"pk": form.pk})


def _post(form: LeadForm, pipeline: Pipeline, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Contact us",
        "pipeline": pipeline.pk,
        "shown": ["name", "email", "company"],
        "required": ["email"],
        "thank_you_text": "We will call.",
        "redirect_url": "",
        "min_fill_seconds": "7",
        "is_active": "on",
        **overrides,
    }


def test_the_edit_page_shows_the_current_settings(cast: Cast, form: LeadForm) -> None:
    response = _logged_in(cast.owner).get(_edit_url(form))
    assert response.status_code == 200
    edit = response.context["edit"]
    assert edit["name"].value() == "Contact"
    assert edit["shown"].value() == ["name", "phone", "email"]
    assert edit["required"].value() == ["name", "email"]
    assert edit["min_fill_seconds"].value() == 3
    assert edit["is_active"].value() is True
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_head_saves_the_form_and_is_sent_back_to_it(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    key = form.key
    client = _logged_in(cast.head)
    response = client.post(_edit_url(form), _post(form, pipeline))
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("web:lead-form", kwargs={"pk": form.pk})
    form.refresh_from_db()
    assert (form.name, form.key, form.thank_you_text, form.min_fill_seconds) == (
        "Contact us",
        key,
        "We will call.",
        7,
    )
    assert form.fields == [
        {"name": "name", "required": True},
        {"name": "email", "required": True},
        {"name": "company", "required": False},
    ]
    assert "Form saved." in client.get(response.headers["Location"]).content.decode()


def test_switching_a_form_off_makes_its_public_address_not_found(
    cast: Cast, client: Client, form: LeadForm, pipeline: Pipeline
) -> None:
    public = reverse("web:public-form", kwargs={"key": form.key})
    assert client.get(public).status_code == 200
    data = _post(form, pipeline)
    del data["is_active"]  # an unticked checkbox is not posted
    assert _logged_in(cast.head).post(_edit_url(form), data).status_code == 302
    form.refresh_from_db()
    assert form.is_active is False
    assert client.get(public).status_code == 404
    detail = _logged_in(cast.head).get(reverse("web:lead-form", kwargs={"pk": form.pk}))
    assert "Switched off" in detail.content.decode()


def test_a_bad_redirect_is_shown_on_its_field_and_nothing_is_saved(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    response = _logged_in(cast.head).post(
        _edit_url(form), _post(form, pipeline, redirect_url="javascript:alert(1)")
    )
    assert response.status_code == 400
    assert response.context["edit"].errors["redirect_url"] == [
        "Enter a web address starting with http:// or https://."
    ]
    form.refresh_from_db()
    assert (form.name, form.redirect_url, form.min_fill_seconds) == ("Contact", "", 3)


def test_a_fill_time_out_of_range_is_refused(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    response = _logged_in(cast.head).post(
        _edit_url(form), _post(form, pipeline, min_fill_seconds="900")
    )
    assert response.status_code == 400
    assert "between 0 and 600 seconds" in response.content.decode()
    form.refresh_from_db()
    assert form.min_fill_seconds == 3


def test_a_pipeline_of_another_segment_is_refused(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    other = pipeline_with_stages()
    response = _logged_in(cast.head).post(
        _edit_url(form), _post(form, pipeline, segment=other.segment.pk)
    )
    assert response.status_code == 400
    assert response.context["edit"].errors["pipeline"] == [
        "This pipeline belongs to another segment."
    ]
    form.refresh_from_db()
    assert form.segment_id is None


def test_a_manager_cannot_open_or_post_the_edit_page(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    client = _logged_in(cast.manager)
    assert client.get(_edit_url(form)).status_code == 403
    assert client.post(_edit_url(form), _post(form, pipeline, name="Mine")).status_code == 403
    form.refresh_from_db()
    assert form.name == "Contact"


def test_an_unknown_form_is_404(cast: Cast) -> None:
    assert (
        _logged_in(cast.head).get(reverse("web:lead-form-edit", kwargs={"pk": 999})).status_code
        == 404
    )


def test_the_form_list_links_to_editing_and_counts_leads_in_one_query(
    cast: Cast, pipeline: Pipeline, django_assert_max_num_queries: Any
) -> None:
    client = _logged_in(cast.owner)
    for n in range(2):
        form_create(name=f"Form {n}", by=cast.owner, pipeline=pipeline)
    with django_assert_max_num_queries(10) as few:
        client.get(reverse("web:lead-forms"))
    for n in range(2, 12):
        form_create(name=f"Form {n}", by=cast.owner, pipeline=pipeline)
    with django_assert_max_num_queries(len(few)):
        response = client.get(reverse("web:lead-forms"))
    html = response.content.decode()
    for form in LeadForm.objects.all():
        assert f'href="{_edit_url(form)}"' in html


def test_saving_keeps_a_pipeline_switched_off_since(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    pipeline.is_active = False
    pipeline.save()
    client = _logged_in(cast.head)
    assert (
        f'<option value="{pipeline.pk}" selected>' in client.get(_edit_url(form)).content.decode()
    )
    response = client.post(_edit_url(form), _post(form, pipeline, thank_you_text="New text"))
    assert response.status_code == 302
    form.refresh_from_db()
    assert (form.pipeline_id, form.thank_you_text) == (pipeline.pk, "New text")


def test_a_save_over_a_later_change_is_shown_again_and_saves_nothing(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    client = _logged_in(cast.owner)
    page = client.get(_edit_url(form)).content.decode()
    opened = re.search(r'name="seen" value="(\d+)"', page)
    assert opened is not None
    # Meanwhile the head renames the form.
    form_update(
        form_id=form.pk,
        by=cast.head,
        name="Contact (head)",
        segment=form.segment,
        pipeline=form.pipeline,
        fields=form.fields,
        thank_you_text=form.thank_you_text,
        redirect_url=form.redirect_url,
        min_fill_seconds=form.min_fill_seconds,
        is_active=form.is_active,
    )

    answer = client.post(_edit_url(form), _post(form, pipeline, seen=opened.group(1)))

    assert answer.status_code == 400
    assert "Someone saved this record after you opened it" in answer.content.decode()
    form.refresh_from_db()
    assert (form.name, form.thank_you_text) == ("Contact (head)", "Thanks!")
