from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


def test_pipeline_stages_in_order(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    api = api_for(cast.manager)
    assert [row["id"] for row in api.get("/api/v1/pipelines").json()] == [pipeline.pk]
    stages = api.get(f"/api/v1/pipelines/{pipeline.pk}/stages").json()
    assert [row["position"] for row in stages] == [1, 2, 3, 4]
    assert stages[0]["name"] == "Left a request"
    assert api.get("/api/v1/pipelines/999999/stages").status_code == 404


def test_archived_stages_on_request_only(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    pipeline.stages.filter(position=4).update(is_archived=True)
    api = api_for(cast.manager)
    assert len(api.get(f"/api/v1/pipelines/{pipeline.pk}/stages").json()) == 3
    assert len(api.get(f"/api/v1/pipelines/{pipeline.pk}/stages", {"archived": "true"}).json()) == 4


def test_loss_reasons_of_a_pipeline_include_the_general_ones(cast: Cast, api_for: ApiFor) -> None:
    one, other = pipeline_with_stages(["A"]), pipeline_with_stages(["B"])
    general = LossReasonFactory(name="No budget")
    own = LossReasonFactory(name="Chose a rival", pipeline=one)
    LossReasonFactory(name="Elsewhere", pipeline=other)
    rows = api_for(cast.manager).get("/api/v1/loss-reasons", {"pipeline_id": one.pk}).json()
    assert {row["id"] for row in rows} == {general.pk, own.pk}
