from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_funnel_counts_only_what_the_caller_may_see(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    for owner in (cast.manager, cast.manager, cast.outsider):
        deal_open(person=PersonFactory(owner=owner), pipeline=pipeline, owner=owner, by=None)
    mine = api_for(cast.manager).get("/api/v1/reports/funnel", {"pipeline_id": pipeline.pk})
    assert mine.status_code == 200
    assert mine.json()["stages"][0]["reached"] == 2
    everyone = api_for(cast.owner).get("/api/v1/reports/funnel", {"pipeline_id": pipeline.pk})
    assert everyone.json()["stages"][0]["reached"] == 3


def test_unknown_report_and_missing_pipeline(cast: Cast, api_for: ApiFor) -> None:
    api = api_for(cast.manager)
    assert api.get("/api/v1/reports/nonsense").status_code == 404
    assert api.get("/api/v1/reports/funnel").status_code == 422
    bad = api.get(
        "/api/v1/reports/funnel",
        {"pipeline_id": 1, "date_from": "2026-02-01", "date_to": "2026-01-01"},
    )
    assert bad.status_code == 422
