from __future__ import annotations

from typing import Any

import pytest

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.intake.models import LeadForm
from conveyor.intake.services import form_create, form_update
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import SegmentFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(cast: Cast, pipeline: Pipeline) -> LeadForm:
    return form_create(
        name="Contact",
        by=cast.head,
        pipeline=pipeline,
        fields=["phone", "email"],
        thank_you_text="Thanks!",
    )


def _changes(**overrides: Any) -> dict[str, Any]:
    """Every setting form_update takes, with sensible new values."""
    return {
        "name": "Contact us",
        "segment": None,
        "pipeline": None,
        "fields": [{"name": "email", "required": True}, "company"],
        "thank_you_text": "  We will call you.  ",
        "redirect_url": "",
        "min_fill_seconds": 5,
        "is_active": True,
        **overrides,
    }


def _snapshot(form: LeadForm) -> dict[str, Any]:
    form.refresh_from_db()
    return {
        "name": form.name,
        "segment": form.segment_id,
        "pipeline": form.pipeline_id,
        "fields": form.fields,
        "thank_you_text": form.thank_you_text,
        "redirect_url": form.redirect_url,
        "min_fill_seconds": form.min_fill_seconds,
        "is_active": form.is_active,
    }


def test_head_changes_every_setting_and_the_key_stays(cast: Cast, form: LeadForm) -> None:
    key = form.key
    other = pipeline_with_stages()
    updated = form_update(
        form_id=form.pk,
        by=cast.head,
        **_changes(
            segment=other.segment,
            pipeline=other,
            redirect_url=" https://site.example/thanks ",
            is_active=False,
        ),
    )
    assert updated.key == key
    assert _snapshot(form) == {
        "name": "Contact us",
        "segment": other.segment.pk,
        "pipeline": other.pk,
        "fields": [
            {"name": "name", "required": True},
            {"name": "email", "required": True},
            {"name": "company", "required": False},
        ],
        "thank_you_text": "We will call you.",
        "redirect_url": "https://site.example/thanks",
        "min_fill_seconds": 5,
        "is_active": False,
    }
    assert form.lead_segment == other.segment


def test_a_switched_off_form_can_be_switched_on_again(cast: Cast, form: LeadForm) -> None:
    form_update(form_id=form.pk, by=cast.owner, **_changes(is_active=False))
    form_update(form_id=form.pk, by=cast.owner, **_changes(is_active=True))
    assert _snapshot(form)["is_active"] is True


def test_the_server_operator_may_change_a_form(form: LeadForm) -> None:
    form_update(form_id=form.pk, by=None, **_changes(name="By the operator"))
    assert _snapshot(form)["name"] == "By the operator"


@pytest.mark.parametrize("who", ["manager", "outsider"])
def test_a_manager_is_refused_and_nothing_changes(cast: Cast, form: LeadForm, who: str) -> None:
    before = _snapshot(form)
    with pytest.raises(PermissionDenied):
        form_update(form_id=form.pk, by=getattr(cast, who), **_changes(is_active=False))
    assert _snapshot(form) == before


def test_an_inactive_head_is_refused(cast: Cast, form: LeadForm) -> None:
    cast.head.is_active = False
    cast.head.save()
    with pytest.raises(PermissionDenied):
        form_update(form_id=form.pk, by=cast.head, **_changes())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"redirect_url": "javascript:alert(1)"}, "redirect_url"),
        ({"redirect_url": "ftp://example.com/"}, "redirect_url"),
        ({"fields": ["name", "company"]}, "fields"),
        ({"fields": ["phone", "shoe_size"]}, "fields"),
        ({"min_fill_seconds": -1}, "min_fill_seconds"),
        ({"min_fill_seconds": 601}, "min_fill_seconds"),
    ],
)
def test_bad_input_is_refused_per_field_and_nothing_is_written(
    cast: Cast, form: LeadForm, overrides: dict[str, Any], field: str
) -> None:
    before = _snapshot(form)
    with pytest.raises(ServiceError) as caught:
        form_update(form_id=form.pk, by=cast.head, **_changes(**overrides))
    assert caught.value.field == field
    assert _snapshot(form) == before


def test_a_pipeline_of_another_segment_is_refused(cast: Cast, form: LeadForm) -> None:
    before = _snapshot(form)
    with pytest.raises(ServiceError) as caught:
        form_update(
            form_id=form.pk,
            by=cast.head,
            **_changes(segment=SegmentFactory(), pipeline=pipeline_with_stages()),
        )
    assert caught.value.field == "pipeline"
    assert _snapshot(form) == before


def test_a_missing_form_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as caught:
        form_update(form_id=999_999, by=cast.head, **_changes())
    assert caught.value.field == "form"
    assert not LeadForm.objects.exists()


def test_a_switched_off_pipeline_takes_no_new_form_but_keeps_the_ones_it_has(
    cast: Cast, form: LeadForm, pipeline: Pipeline
) -> None:
    closed = pipeline_with_stages(["New"], name="Closed")
    closed.is_active = False
    closed.save()
    with pytest.raises(ServiceError) as refused:
        form_update(form_id=form.pk, by=cast.head, **_changes(pipeline=closed))
    assert refused.value.field == "pipeline"
    with pytest.raises(ServiceError):
        form_create(name="Other", by=cast.head, pipeline=closed, fields=["email"])
    # Its own pipeline switched off since: the form's other settings still change.
    pipeline.is_active = False
    pipeline.save()
    changed = form_update(form_id=form.pk, by=cast.head, **_changes(pipeline=pipeline))
    assert (changed.pipeline_id, changed.name) == (pipeline.pk, "Contact us")
