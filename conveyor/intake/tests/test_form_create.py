from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.intake.services import form_create
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def test_head_creates_a_form_with_a_random_key(cast: Cast, pipeline: Pipeline) -> None:
    form = form_create(
        name=" Contact us ",
        by=cast.head,
        pipeline=pipeline,
        fields=["phone", {"name": "email", "required": True}],
        thank_you_text="Thanks!",
        redirect_url="https://example.com/thanks",
    )
    other = form_create(name="Other", by=cast.owner, pipeline=pipeline)
    assert form.name == "Contact us"
    assert form.created_by == cast.head
    assert len(form.key) >= 20 and form.key != other.key
    assert form.lead_segment == pipeline.segment
    assert form.fields == [
        {"name": "name", "required": True},
        {"name": "phone", "required": False},
        {"name": "email", "required": True},
    ]


def test_a_manager_cannot_create_a_form(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        form_create(name="Mine", by=cast.manager)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"redirect_url": "javascript:alert(1)"}, "redirect_url"),
        ({"redirect_url": "ftp://example.com/"}, "redirect_url"),
        ({"fields": ["name", "company"]}, "fields"),
        ({"fields": ["phone", "shoe_size"]}, "fields"),
    ],
)
def test_bad_input_is_refused_per_field(cast: Cast, kwargs: dict[str, object], field: str) -> None:
    params: dict[str, object] = {"name": "Form", "by": cast.head, **kwargs}
    with pytest.raises(ServiceError) as caught:
        form_create(**params)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_pipeline_of_another_segment_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(ServiceError) as caught:
        form_create(name="F", by=cast.head, segment=SegmentFactory(), pipeline=pipeline)
    assert caught.value.field == "pipeline"
