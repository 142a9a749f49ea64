"""The `funnel-compare` report: two funnels side by side, paired by stage position, with the
differences worked out by hand; the four ways of choosing side B; bad choices refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from conftest import Cast
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics import funnel
from conveyor.analytics.metrics.funnel_compare import REPORT, tables
from conveyor.api.tests.conftest import Api
from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_lose, deal_move, deal_open, deal_win
from conveyor.testing.factories import (
    LossReasonFactory,
    PersonFactory,
    SegmentFactory,
    pipeline_with_stages,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# Side A: ten days of March; "previous" is the ten days before, [Feb 19, Mar 1).
FROM, TO = dt.date(2026, 3, 1), dt.date(2026, 3, 11)


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


def opened(pipeline: Pipeline, day: str, owner: object = None) -> int:
    deal = deal_open(person=PersonFactory(), pipeline=pipeline, owner=owner, by=None, at=at(day))  # type: ignore[arg-type]
    return deal.pk


def won(pipeline: Pipeline, day: str) -> None:
    pk = opened(pipeline, day)
    deal_win(deal_id=pk, version=1, by=None, amount=Decimal(100), at=at(day))


def lost_at_second(pipeline: Pipeline, day: str) -> None:
    pk = opened(pipeline, day)
    second = pipeline.stages.get(position=2)
    moved = deal_move(deal_id=pk, stage=second, version=1, by=None, at=at(day))
    deal_lose(deal_id=pk, reason=LossReasonFactory(), version=moved.version, by=None, at=at(day))


@pytest.fixture
def retail() -> Pipeline:
    pipeline = pipeline_with_stages(["Asked", "Met", "Signed"], name="Retail")
    won(pipeline, "2026-03-02")  # A
    opened(pipeline, "2026-03-10")  # A, the window's last day
    lost_at_second(pipeline, "2026-02-19")  # B (previous), its first day
    opened(pipeline, "2026-02-18")  # neither: a day before "previous"
    opened(pipeline, "2026-03-11")  # neither: A's end is not included
    return pipeline


def test_previous_window_side_by_side_worked_by_hand(retail: Pipeline) -> None:
    data = REPORT.execute(ReportFilter(date_from=FROM, date_to=TO, pipeline=retail))

    assert (data["a"]["from"], data["a"]["to"]) == ("2026-03-01", "2026-03-11")
    assert (data["b"]["from"], data["b"]["to"]) == ("2026-02-19", "2026-03-01")
    assert (data["a"]["cohort"], data["a"]["won"], data["a"]["open"]) == (2, 1, 1)
    assert (data["b"]["cohort"], data["b"]["won"], data["b"]["lost"]) == (1, 0, 1)
    assert data["difference"] == {
        "cohort": 1,
        "won": 1,
        "lost": -1,
        "open": 1,
        "end_to_end_conversion": 0.5,
    }
    assert [
        (s["stage_a"], s["reached_a"], s["conversion_a"], s["reached_b"], s["conversion_b"])
        for s in data["stages"]
    ] == [
        ("Asked", 2, 0.5, 1, 1.0),
        ("Met", 1, 1.0, 1, 0.0),
        ("Signed", 1, 1.0, 0, None),
    ]
    assert [s["conversion_difference"] for s in data["stages"]] == [-0.5, 1.0, None]


def test_each_side_is_exactly_the_funnel_report(retail: Pipeline) -> None:
    f = ReportFilter(date_from=FROM, date_to=TO, pipeline=retail)
    data = REPORT.execute(f, against="window", other_from=dt.date(2026, 2, 1), other_to=FROM)
    b = funnel.run(dataclasses.replace(f, date_from=dt.date(2026, 2, 1), date_to=FROM))
    assert data["b"]["cohort"] == b["cohort"] == 2
    assert [s["reached_b"] for s in data["stages"]] == [s["reached"] for s in b["stages"]]


def test_a_year_before(retail: Pipeline) -> None:
    won(retail, "2025-03-05")
    data = REPORT.execute(ReportFilter(date_from=FROM, date_to=TO, pipeline=retail), against="year")
    assert (data["b"]["from"], data["b"]["to"]) == ("2025-03-01", "2025-03-11")
    assert (data["b"]["cohort"], data["b"]["won"]) == (1, 1)


def test_two_segments_funnels_are_paired_by_position(retail: Pipeline) -> None:
    wholesale = pipeline_with_stages(
        ["Asked", "Got a price", "Tested", "Ordered"], name="Wholesale", segment=SegmentFactory()
    )
    lost_at_second(wholesale, "2026-03-03")
    # The segment filter narrows side A; side B is the other segment's pipeline as it is.
    f = ReportFilter(date_from=FROM, date_to=TO, pipeline=retail, segment=retail.segment)

    data = REPORT.execute(f, against="pipeline", other_pipeline_id=wholesale.pk)

    assert data["b"]["pipeline"] == "Wholesale"
    assert data["b"]["cohort"] == 1
    assert [(s["position"], s["stage_a"], s["stage_b"]) for s in data["stages"]] == [
        (1, "Asked", "Asked"),
        (2, "Met", "Got a price"),
        (3, "Signed", "Tested"),
        (4, None, "Ordered"),
    ]
    assert data["stages"][3]["conversion_difference"] is None
    assert [str(t.title) for t in tables(data)] == ["Stage by stage", "Cohorts"]
    out = io.StringIO()
    call_command(
        "report", "funnel-compare", "--pipeline", "Retail", "--segment", retail.segment.name,
        "--from", "2026-03-01", "--to", "2026-03-11", "--against", "pipeline",
        "--other-pipeline", "Wholesale", stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue()) == data


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"against": "window", "other_from": FROM}, "other_from"),
        ({"against": "window", "other_from": FROM, "other_to": FROM}, "other_to"),
        ({"against": "pipeline"}, "other_pipeline_id"),
        ({"against": "pipeline", "other_pipeline_id": 999_999}, "other_pipeline_id"),
    ],
)
def test_an_incomplete_choice_is_refused_with_its_field(
    retail: Pipeline, options: dict[str, object], field: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        REPORT.execute(ReportFilter(date_from=FROM, date_to=TO, pipeline=retail), **options)
    assert refused.value.field == field


def test_web_page_command_and_api_agree(cast: Cast, retail: Pipeline) -> None:
    query = {
        "pipeline_id": retail.pk,
        "date_from": "2026-03-01",
        "date_to": "2026-03-11",
        "against": "window",
        "other_from": "2026-02-01",
        "other_to": "2026-03-01",
    }
    client = Client()
    client.force_login(cast.owner)
    page = client.get("/reports/funnel-compare/", query)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Funnel comparison" in html
    assert '<option value="window" selected>another window</option>' in html
    api = Api(token_create(user=cast.owner, name="t").raw).get(
        "/api/v1/reports/funnel-compare", query
    )
    assert api.status_code == 200
    out = io.StringIO()
    call_command(
        "report",
        "funnel-compare",
        "--pipeline",
        "Retail",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-11",
        "--against",
        "window",
        "--other-from",
        "2026-02-01",
        "--other-to",
        "2026-03-01",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == api.json() == page.context["data"]


def test_refusals_reach_the_reader_everywhere(cast: Cast, retail: Pipeline) -> None:
    query = {"pipeline_id": retail.pk, "date_from": "2026-03-01", "against": "pipeline"}
    client = Client()
    client.force_login(cast.owner)
    page = client.get("/reports/funnel-compare/", query)
    assert page.status_code == 200
    assert "Choose the other pipeline." in page.content.decode()
    api = Api(token_create(user=cast.owner, name="t").raw).get(
        "/api/v1/reports/funnel-compare", query
    )
    assert api.status_code == 422
    assert "other_pipeline_id" in api.json()["error"]["fields"]
    with pytest.raises(CommandError, match="--other-pipeline: Choose the other pipeline"):
        call_command(
            "report", "funnel-compare", "--pipeline", "Retail", "--from", "2026-03-01",
            "--to", "2026-03-11", "--against", "pipeline",
        )  # fmt: skip
