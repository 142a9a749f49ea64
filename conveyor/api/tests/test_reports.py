from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from pytest_django import Settings

from conftest import Cast
from conveyor.analytics.reports import FILE_TYPES, REPORTS
from conveyor.analytics.snapshots import SNAPSHOT_TYPES
from conveyor.api.tests.conftest import ApiFor
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.browser import NEEDS_CHROMIUM
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


def test_a_report_downloads_as_csv_and_xlsx_counting_what_the_caller_may_see(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline
) -> None:
    for owner in (cast.manager, cast.outsider):
        deal_open(person=PersonFactory(owner=owner), pipeline=pipeline, owner=owner, by=None)
    params = {"pipeline_id": pipeline.pk}
    api = api_for(cast.manager)
    as_json = api.get("/api/v1/reports/funnel", params).json()
    as_csv = api.get("/api/v1/reports/funnel", {**params, "format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_csv["Content-Disposition"] == 'attachment; filename="funnel.csv"'
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    # The main table: one row per stage, the first stage reached by the manager's deal only.
    assert len(rows) == 1 + len(as_json["stages"])
    assert rows[1][rows[0].index("reached")] == "1"
    as_xlsx = api.get("/api/v1/reports/funnel", {**params, "format": "xlsx"})
    assert as_xlsx.status_code == 200
    assert as_xlsx["Content-Type"] == FILE_TYPES["xlsx"]
    sheets = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).worksheets
    assert len(sheets) == len(REPORTS["funnel"].tables(as_json))


def test_an_unknown_format_is_refused(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    response = api_for(cast.manager).get(
        "/api/v1/reports/funnel", {"pipeline_id": pipeline.pk, "format": "pdf"}
    )
    assert response.status_code == 422
    assert "format" in response.json()["error"]["fields"]


@NEEDS_CHROMIUM
@pytest.mark.parametrize(("format", "magic"), [("pdf", b"%PDF-"), ("png", b"\x89PNG\r\n\x1a\n")])
def test_the_dashboard_prints_as_the_web_page_does(
    cast: Cast, api_for: ApiFor, pipeline: Pipeline, format: str, magic: bytes
) -> None:
    deal_open(
        person=PersonFactory(owner=cast.manager), pipeline=pipeline, owner=cast.manager, by=None
    )
    answer = api_for(cast.head).get("/api/v1/reports/dashboard", {"format": format})
    assert answer.status_code == 200
    assert answer["Content-Type"] == SNAPSHOT_TYPES[format]
    assert answer["Content-Disposition"] == f'attachment; filename="dashboard.{format}"'
    assert answer.content.startswith(magic)


def test_only_the_dashboard_prints(cast: Cast, api_for: ApiFor, pipeline: Pipeline) -> None:
    refused = api_for(cast.head).get(
        "/api/v1/reports/funnel", {"format": "pdf", "pipeline_id": pipeline.pk}
    )
    assert refused.status_code == 422
    assert "format" in refused.json()["error"]["fields"]


def test_without_chromium_the_dashboard_print_is_503_in_the_error_shape(
    cast: Cast, api_for: ApiFor, settings: Settings
) -> None:
    settings.CONVEYOR_CHROMIUM = "/nonexistent/chromium"
    answer = api_for(cast.head).get("/api/v1/reports/dashboard", {"format": "png"})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    # The other formats do not need it.
    assert api_for(cast.head).get("/api/v1/reports/dashboard", {"format": "csv"}).status_code == 200
