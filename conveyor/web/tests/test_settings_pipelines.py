"""Settings → segments, pipelines and stages: the index, lists, create and edit pages, the
stage order, archiving, and who may use them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Pipeline, Process, Segment, Stage
from conveyor.testing.audit import log_of
from conveyor.testing.factories import (
    DealFactory,
    PipelineFactory,
    SegmentFactory,
    pipeline_with_stages,
)

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _stage_post(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Asked for the invoice",
        "exit_criterion": "Said they read it",
        "target_action": "Get a reply",
        "probability": "40",
        "rot_days": "7",
        "script": "Ask what they think.",
        "playbook": "!Sent the price\nAsked about the budget",
        **overrides,
    }


@pytest.fixture
def urls(pipeline: Pipeline) -> list[str]:
    stage = pipeline.stages.first()
    assert stage is not None
    return [
        reverse("web:settings"),
        reverse("web:settings-segments"),
        reverse("web:settings-segment-new"),
        reverse("web:settings-segment", kwargs={"pk": pipeline.segment_id}),
        reverse("web:settings-pipelines"),
        reverse("web:settings-pipeline-new"),
        reverse("web:settings-pipeline", kwargs={"pk": pipeline.pk}),
        reverse("web:settings-stage-new", kwargs={"pipeline_pk": pipeline.pk}),
        reverse("web:settings-stage", kwargs={"pk": stage.pk}),
    ]


def test_owner_and_head_open_every_page(cast: Cast, urls: list[str]) -> None:
    for user in (cast.owner, cast.head):
        client = _client(user)
        for url in urls:
            assert client.get(url).status_code == 200, url


def test_a_manager_is_refused_every_page_and_every_post_changes_nothing(
    cast: Cast, pipeline: Pipeline, urls: list[str]
) -> None:
    client = _client(cast.manager)
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "Hijacked", **_stage_post()}).status_code == 403, url
    order = reverse("web:settings-stage-order", kwargs={"pk": pipeline.pk})
    first = pipeline.stages.order_by("position").first()
    assert first is not None
    assert client.post(order, {"down": first.pk}).status_code == 403
    pipeline.refresh_from_db()
    assert pipeline.name != "Hijacked"
    assert not Segment.objects.filter(name="Hijacked").exists()
    assert pipeline.stages.order_by("position").first() == first
    assert not Stage.objects.filter(name="Asked for the invoice").exists()


def test_the_header_links_settings_for_heads_and_the_admin_for_staff(cast: Cast) -> None:
    page = _client(cast.head).get(reverse("web:board")).content.decode()
    assert f'href="{reverse("web:settings")}"' in page
    cast.head.is_staff = True
    cast.head.save()
    page = _client(cast.head).get(reverse("web:board")).content.decode()
    assert f'href="{reverse("admin:index")}">Admin<' in page
    manager_page = _client(cast.manager).get(reverse("web:board")).content.decode()
    assert f'href="{reverse("web:settings")}"' not in manager_page


def test_the_index_links_web_forms_and_import(cast: Cast) -> None:
    page = _client(cast.head).get(reverse("web:settings")).content.decode()
    assert reverse("web:lead-forms") in page
    assert reverse("web:crm-import") in page


def test_head_creates_a_segment_and_the_entry_is_audited(cast: Cast) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-segment-new"), {"name": "  Small business ", "description": "SMB"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("web:settings-segments")
    segment = Segment.objects.get(name="Small business")
    [entry] = log_of(segment)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.head.pk)


def test_a_taken_segment_name_is_shown_on_the_field_and_nothing_is_saved(cast: Cast) -> None:
    SegmentFactory(name="Retail")
    other = SegmentFactory(name="Wholesale")
    response = _client(cast.owner).post(
        reverse("web:settings-segment", kwargs={"pk": other.pk}),
        {"name": "Retail", "description": ""},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == ["Segment with this Name already exists."]
    other.refresh_from_db()
    assert other.name == "Wholesale"
    assert log_of(other) == []


def test_head_creates_a_pipeline_and_lands_on_its_page(cast: Cast) -> None:
    segment = SegmentFactory()
    response = _client(cast.head).post(
        reverse("web:settings-pipeline-new"),
        {"name": "SMB / first sale", "segment": segment.pk, "process": Process.CONVERSION},
    )
    pipeline = Pipeline.objects.get(name="SMB / first sale")
    assert response.headers["Location"] == reverse(
        "web:settings-pipeline", kwargs={"pk": pipeline.pk}
    )
    assert pipeline.is_active is False  # an unticked box is not posted
    assert pipeline.segment == segment


def test_a_new_stage_goes_to_the_end_with_its_playbook(cast: Cast, pipeline: Pipeline) -> None:
    response = _client(cast.head).post(
        reverse("web:settings-stage-new", kwargs={"pipeline_pk": pipeline.pk}), _stage_post()
    )
    assert response.status_code == 302
    stage = pipeline.stages.get(name="Asked for the invoice")
    assert stage.position == 5
    assert stage.probability == Decimal("0.4")
    assert stage.rot_days == 7
    assert stage.playbook == [
        {"text": "Sent the price", "mandatory": True},
        {"text": "Asked about the budget", "mandatory": False},
    ]
    page = _client(cast.head).get(reverse("web:settings-stage", kwargs={"pk": stage.pk}))
    form = page.context["form"]
    assert form["probability"].value() == Decimal(40)
    assert form["playbook"].value() == "!Sent the price\nAsked about the budget"


def test_a_playbook_item_listed_twice_is_shown_on_its_field(cast: Cast, pipeline: Pipeline) -> None:
    stage = pipeline.stages.get(position=1)
    response = _client(cast.head).post(
        reverse("web:settings-stage", kwargs={"pk": stage.pk}),
        _stage_post(playbook="Call\n!Call"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["playbook"] == ["The item 'Call' is listed twice."]
    stage.refresh_from_db()
    assert (stage.name, stage.playbook) == ("Left a request", [])


def test_a_probability_over_100_percent_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    stage = pipeline.stages.get(position=1)
    response = _client(cast.head).post(
        reverse("web:settings-stage", kwargs={"pk": stage.pk}), _stage_post(probability="120")
    )
    assert response.status_code == 400
    assert "probability" in response.context["form"].errors
    stage.refresh_from_db()
    assert stage.probability == 0


def test_a_stage_with_open_deals_cannot_be_archived(cast: Cast, pipeline: Pipeline) -> None:
    stage = pipeline.stages.get(position=2)
    DealFactory(pipeline=pipeline, stage=stage)
    response = _client(cast.head).post(
        reverse("web:settings-stage", kwargs={"pk": stage.pk}),
        _stage_post(name=stage.name, is_archived="on"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["is_archived"] == [
        "1 open deal is at this stage: move it to another stage first."
    ]
    stage.refresh_from_db()
    assert stage.is_archived is False


def test_moving_a_stage_up_swaps_it_with_the_one_before(cast: Cast, pipeline: Pipeline) -> None:
    third = pipeline.stages.get(position=3)
    response = _client(cast.head).post(
        reverse("web:settings-stage-order", kwargs={"pk": pipeline.pk}), {"up": third.pk}
    )
    assert response.status_code == 302
    names = list(pipeline.stages.order_by("position").values_list("name", flat=True))
    assert names == ["Left a request", "Received the offer", "Told us the task", "Agreed terms"]


def test_typed_numbers_reorder_the_stages(cast: Cast, pipeline: Pipeline) -> None:
    stages = list(pipeline.stages.order_by("position"))
    data = {
        f"order_{stage.pk}": str(number) for stage, number in zip(stages, [4, 3, 2, 1], strict=True)
    }
    response = _client(cast.owner).post(
        reverse("web:settings-stage-order", kwargs={"pk": pipeline.pk}), data, follow=True
    )
    assert "Stage order saved." in response.content.decode()
    names = list(pipeline.stages.order_by("position").values_list("name", flat=True))
    assert names == ["Agreed terms", "Received the offer", "Told us the task", "Left a request"]


def test_the_pipeline_page_lists_archived_stages_last(cast: Cast, pipeline: Pipeline) -> None:
    first = pipeline.stages.get(position=1)
    first.is_archived = True
    first.save()
    page = _client(cast.head).get(reverse("web:settings-pipeline", kwargs={"pk": pipeline.pk}))
    names = [stage.name for stage in page.context["stages"]]
    assert names[-1] == "Left a request"
    assert f'name="order_{first.pk}"' not in page.content.decode()


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_pipeline_list_runs_the_same_queries_for_one_or_many(
    cast: Cast, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.head)
    pipeline_with_stages()
    url = reverse("web:settings-pipelines")
    with django_assert_max_num_queries(9) as few:
        client.get(url)
    for _ in range(5):
        pipeline_with_stages(segment=SegmentFactory())
    PipelineFactory(is_active=False)
    assert _queries(client, url) == len(few)


def test_the_segment_list_runs_the_same_queries_for_one_or_many(
    cast: Cast, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.head)
    SegmentFactory()
    url = reverse("web:settings-segments")
    with django_assert_max_num_queries(9) as few:
        client.get(url)
    for _ in range(5):
        pipeline_with_stages(segment=SegmentFactory())
    assert _queries(client, url) == len(few)


def test_the_pipeline_page_runs_the_same_queries_for_few_or_many_stages(
    cast: Cast, django_assert_max_num_queries: Any
) -> None:
    client = _client(cast.head)
    small = pipeline_with_stages(["Only"])
    big = pipeline_with_stages([f"Stage {n}" for n in range(12)])
    DealFactory(pipeline=big, stage=big.stages.get(position=3))
    with django_assert_max_num_queries(16) as few:
        client.get(reverse("web:settings-pipeline", kwargs={"pk": small.pk}))
    assert _queries(client, reverse("web:settings-pipeline", kwargs={"pk": big.pk})) == len(few)
