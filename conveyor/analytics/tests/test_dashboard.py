"""The `dashboard` report: every tile is the number of the report that owns it, a manager's
dashboard is theirs only, and its query count does not grow with the deals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import Cast
from conveyor.accounts.models import SalesPlan, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics import conveyor_path, discipline, funnel, key_counts, plan_fact
from conveyor.analytics.metrics.dashboard import REPORT, tables
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_lose, deal_move, deal_open, deal_win
from conveyor.testing.factories import LossReasonFactory, PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

UTC = dt.UTC
FROM, TO = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
T0 = dt.datetime(2026, 3, 2, 10, tzinfo=UTC)


def pipelines() -> tuple[Pipeline, Pipeline]:
    return (
        pipeline_with_stages(["Asked", "Met", "Proposal"], name="Retail"),
        pipeline_with_stages(["Asked", "Signed"], name="Wholesale"),
    )


def add_deals(cast: Cast, pipelines: tuple[Pipeline, ...], deals: int = 2) -> None:
    """Per pipeline, for the manager and for the outsider, `deals` deals opened in March: one
    won, one lost at the second stage, the rest left open at the first."""
    reason = LossReasonFactory()
    for pipeline in pipelines:
        stages = list(pipeline.stages.order_by("position"))
        for owner in (cast.manager, cast.outsider):
            for n in range(deals):
                at = T0 + dt.timedelta(hours=n)
                deal = deal_open(
                    person=PersonFactory(owner=owner),
                    pipeline=pipeline,
                    owner=owner,
                    by=None,
                    amount=Decimal(100),
                    at=at,
                )
                if n == 0:
                    deal_win(
                        deal_id=deal.pk, amount=Decimal(250), version=deal.version, by=None, at=at
                    )
                elif n == 1:
                    moved = deal_move(
                        deal_id=deal.pk, stage=stages[1], version=deal.version, by=None, at=at
                    )
                    deal_lose(deal_id=deal.pk, reason=reason, version=moved.version, by=None, at=at)


def history(cast: Cast) -> tuple[Pipeline, Pipeline]:
    made = pipelines()
    add_deals(cast, made)
    SalesPlan.objects.create(user=cast.manager, month=FROM, revenue=Decimal(1000), deals=4)
    return made


def test_every_tile_is_the_number_of_its_own_report(cast: Cast) -> None:
    first, second = history(cast)
    f = ReportFilter(date_from=FROM, date_to=TO, viewer=cast.owner)

    data = REPORT.execute(f)

    counts = key_counts.run(f, period="month")["totals"]
    assert data["key_counts"] == counts
    # Worked by hand: one win of 250 per pipeline and owner.
    assert (counts["deals_won"], counts["revenue"]) == (4, 1000.0)
    assert data["plan_fact"]["managers"] == plan_fact.run(f)["managers"]
    # A past window shows its last month, with no run rate (the month is over).
    assert (data["plan_fact"]["month"], data["plan_fact"]["working_days"]) == ("2026-03", None)
    manager_row = next(
        r for r in data["plan_fact"]["managers"] if r["manager"] == cast.manager.email
    )
    assert (manager_row["plan_revenue"], manager_row["fact_revenue"]) == (1000.0, 500.0)
    assert [p["pipeline"] for p in data["funnels"]] == ["Retail", "Wholesale"]
    for pipeline, tile in zip((first, second), data["funnels"], strict=True):
        full = funnel.run(dataclasses.replace(f, pipeline=pipeline))
        assert (tile["cohort"], tile["won"], tile["lost"]) == (4, 2, 2)
        assert tile["stages"] == [
            {k: s[k] for k in ("position", "stage", "reached", "conversion_to_next")}
            for s in full["stages"]
        ]
    lists = discipline.run(f)
    assert data["attention"]["stalled_deals"] == lists["stalled_deals"]["count"]
    assert data["attention"]["overdue_tasks"] == lists["overdue_tasks"]["count"]
    assert data["repeat_purchase_rate"] == conveyor_path.run(f)["repeat_purchase_rate"]
    titles = [str(t.title) for t in tables(data)]
    assert titles[:2] == ["Key counts", "Plan vs fact"]
    assert "Funnel: Wholesale" in titles


def test_a_manager_sees_only_their_own_numbers_even_when_asking_for_all(cast: Cast) -> None:
    history(cast)

    def won(viewer: User) -> int:
        data = REPORT.execute(ReportFilter(date_from=FROM, date_to=TO, viewer=viewer))
        return int(data["key_counts"]["deals_won"])

    assert won(cast.owner) == 4
    assert won(cast.head) == 2  # team A: the manager's two wins
    assert won(cast.manager) == 2
    mine = REPORT.execute(ReportFilter(date_from=FROM, date_to=TO, viewer=cast.manager))
    assert mine["filter"]["manager"] == cast.manager.email
    assert {r["manager"] for r in mine["plan_fact"]["managers"]} == {cast.manager.email}
    assert [p["cohort"] for p in mine["funnels"]] == [2, 2]


def test_a_long_window_shows_one_month_of_plan(cast: Cast) -> None:
    history(cast)
    f = ReportFilter(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 3, 15))
    plans = REPORT.execute(f)["plan_fact"]
    assert plans["month"] == "2026-03"
    assert [(r["manager"], r["fact_revenue"]) for r in plans["managers"]] == [
        (cast.manager.email, 500.0),
        (cast.outsider.email, 500.0),
    ]


def test_segment_and_pipeline_filters_choose_the_funnels(cast: Cast) -> None:
    first, second = history(cast)
    f = ReportFilter(date_from=FROM, date_to=TO, pipeline=second)
    assert [p["pipeline"] for p in REPORT.execute(f)["funnels"]] == ["Wholesale"]
    f = ReportFilter(date_from=FROM, date_to=TO, segment=first.segment)
    assert [p["pipeline"] for p in REPORT.execute(f)["funnels"]] == ["Retail"]


def test_query_count_does_not_grow_with_the_deals(cast: Cast) -> None:
    made = history(cast)
    f = ReportFilter(date_from=FROM, date_to=TO, viewer=cast.head)
    with CaptureQueriesContext(connection) as few:
        REPORT.execute(f)
    add_deals(cast, made, deals=20)
    with CaptureQueriesContext(connection) as many:
        REPORT.execute(f)
    assert len(many) == len(few)
    # Nor with the pipelines: every active pipeline's stages and cohort are read at once (and
    # no time in stage, which the dashboard does not show).
    third = pipeline_with_stages(["Only"], name="Third")
    with CaptureQueriesContext(connection) as more:
        data = REPORT.execute(f)
    assert len(more) == len(few)
    assert third.pk in [tile["pipeline_id"] for tile in data["funnels"]]


def test_command_and_api_give_the_same_json(cast: Cast) -> None:
    history(cast)
    out = io.StringIO()
    call_command("report", "dashboard", "--from", "2026-03-01", "--to", "2026-04-01", stdout=out)
    from_command = json.loads(out.getvalue())
    api = Api(token_create(user=cast.owner, name="t").raw)
    response = api.get(
        "/api/v1/reports/dashboard", {"date_from": "2026-03-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    from_api = response.json()
    # "now"-based parts (the discipline lists' ages) may differ by the seconds between calls.
    for data in (from_command, from_api):
        data.pop("attention")
    assert from_command == from_api
    assert from_api["key_counts"]["deals_won"] == 4
