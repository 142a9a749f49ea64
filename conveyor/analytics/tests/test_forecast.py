"""The forecast report against a hand-built history whose every number is worked out below.

As of NOW = 2026-04-15 12:00 UTC with `months=3`, the history is the deals closed in
[2026-01-15 12:00 UTC, NOW).

Pipeline B2B, set probabilities S1 0.1, S2 0.25, S3 0.5, S4 0.8. History (closed deals):
  h1 won  S1 S2 S3 S4   10 days after opening             (manager)
  h2 won  S1 -> S3      20 days (skips S2)                (manager)
  h7 won                30 days                           (manager)
  h8 won                16 days                           (manager)
  h3 lost S1 -> S3      skipped S2, highest 3             (manager)
  h4 lost S1 S2         highest 2                         (manager)
  h5 lost S1            highest 1, closed exactly at the history's start (in)   (manager)
  h6 lost S1 S2 S3 -> back to S2, highest 3 (the back move does not lower it) (outsider)
  old won               2 days, closed 3 hours before the history's start (out)
Median time to win: wins 10, 16, 20, 30 days -> (16 + 20) / 2 = 18 days.
Reached: S1 = 4 won + 4 lost = 8; S2 = 4 + 3 (h3 h4 h6) = 7; S3 = 4 + 2 (h3 h6) = 6; S4 = 4.
Measured odds: S1 4/8 = 0.5; S2 4/7 = 0.5714; S3 4/6 = 0.6667; S4 4/4 = 1.0.

Open B2B deals (expected close = opened + 18 days; months in UTC):
  o1 S1 1000 opened 04-12 22:30 -> 04-30 22:30 April (1 May 01:30 in Sofia)   (manager)
  o2 S2 2000 opened 04-01 09:00 -> 04-19 April                                (manager)
  o6 S2 1000 opened 04-02 09:00 -> 04-20 April                                (manager)
  o3 S3 3000 opened 04-14 09:00 -> 05-02 May                                  (manager)
  o4 S4 4000 opened 01-05 09:00 -> 01-23: overdue, current month April        (outsider)
Pipeline B2C (Asked 0.2, Paid 0.6): one win Asked -> Paid in 90 days (outsider), so both
stages measure 1/1; open q1 at Asked 500, opened 04-10 09:00 -> 07-09 July (outsider).
Pipeline Partners (Called 0.3): no history; open r1 700 -> current month, weighted 0.3 both
ways (outsider).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics.forecast import REPORT, forecast, months_before
from conveyor.analytics.tests.history import Step, at, build_deal, enter, lost, move, won
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, Pipeline, Stage
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)  # the window: not used by the forecast
QUERIES = 4  # history, median time to win, open deals by month and stage, stages


@dataclass
class World:
    b2b: Pipeline
    b2c: Pipeline
    partners: Pipeline
    stages: list[Stage]
    deals: dict[str, Deal]


def _deal(
    pipeline: Pipeline,
    opened: dt.datetime,
    steps: list[Step],
    *,
    owner: User | None,
    amount: str = "1000",
    source: str = "website",
) -> Deal:
    reason = LossReasonFactory() if steps[-1].kind == "lost" else None
    deal = build_deal(pipeline, opened, steps, lost_reason=reason)
    Deal.objects.filter(pk=deal.pk).update(owner=owner, amount=Decimal(amount))
    if source != "website":
        deal.person.source = source
        deal.person.save()
    return deal


def _set_probabilities(pipeline: Pipeline, *probabilities: str) -> list[Stage]:
    stages = list(pipeline.stages.order_by("position"))
    for stage, probability in zip(stages, probabilities, strict=True):
        stage.probability = Decimal(probability)
        stage.save()
    return stages


@pytest.fixture
def world(cast: Cast) -> World:
    b2b = pipeline_with_stages(name="B2B")
    b2c = pipeline_with_stages(["Asked", "Paid"], name="B2C")
    partners = pipeline_with_stages(["Called"], name="Partners")
    s1, s2, s3, s4 = _set_probabilities(b2b, "0.1", "0.25", "0.5", "0.8")
    asked, paid = _set_probabilities(b2c, "0.2", "0.6")
    (called,) = _set_probabilities(partners, "0.3")
    m, o = cast.manager, cast.outsider
    day = 24
    deals = {
        "h1": _deal(
            b2b,
            at("2026-02-01"),
            [enter(s1), move(s2, 1), move(s3, 2), move(s4, 3), won(10 * day)],
            owner=m,
        ),
        "h2": _deal(b2b, at("2026-02-10"), [enter(s1), move(s3, 5), won(20 * day)], owner=m),
        "h7": _deal(b2b, at("2026-03-01"), [enter(s1), won(30 * day)], owner=m),
        "h8": _deal(b2b, at("2026-03-20"), [enter(s1), won(16 * day)], owner=m),
        "h3": _deal(b2b, at("2026-03-01"), [enter(s1), move(s3, 2), lost(48)], owner=m),
        "h4": _deal(b2b, at("2026-03-02"), [enter(s1), move(s2, 2), lost(48)], owner=m),
        # Closed at 2026-01-15 12:00 UTC: exactly the history's start.
        "h5": _deal(b2b, at("2026-01-14"), [enter(s1), lost(27)], owner=m),
        "h6": _deal(
            b2b,
            at("2026-03-05"),
            [enter(s1), move(s2, 1), move(s3, 2), move(s2, 3), lost(4)],
            owner=o,
        ),
        # Won at 2026-01-15 09:00 UTC, 3 hours before the history: 2 days would move the median.
        "old": _deal(b2b, at("2026-01-13"), [enter(s1), won(48)], owner=m),
        "o1": _deal(b2b, at("2026-04-12", hours=13.5), [enter(s1)], owner=m),
        "o2": _deal(b2b, at("2026-04-01"), [enter(s1), move(s2, 1)], owner=m, amount="2000"),
        "o6": _deal(b2b, at("2026-04-02"), [enter(s2)], owner=m),
        "o3": _deal(
            b2b,
            at("2026-04-14"),
            [enter(s1), move(s3, 1)],
            owner=m,
            amount="3000",
            source="referral",
        ),
        "o4": _deal(
            b2b,
            at("2026-01-05"),
            [enter(s1), move(s2, 1), move(s3, 2), move(s4, 3)],
            owner=o,
            amount="4000",
        ),
        "qh": _deal(b2c, at("2026-01-01"), [enter(asked), move(paid, 1), won(90 * day)], owner=o),
        "q1": _deal(b2c, at("2026-04-10"), [enter(asked)], owner=o, amount="500"),
        "r1": _deal(partners, at("2026-04-01"), [enter(called)], owner=o, amount="700"),
    }
    return World(b2b, b2c, partners, [s1, s2, s3, s4, asked, paid, called], deals)


def _run(months: int = 3, **filters: Any) -> dict[str, Any]:
    return forecast(ReportFilter(JAN, APR, **filters), months=months, now=NOW)


def _money_row(deals: int, value: float, ws: float, wm: float, gap: float) -> dict[str, Any]:
    return {
        "open_deals": deals,
        "open_value": value,
        "weighted_set": ws,
        "weighted_measured": wm,
        "gap": gap,
    }


def test_whole_report(world: World, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(QUERIES):
        report = _run()
    z = _money_row(0, 0.0, 0.0, 0.0, 0.0)
    assert report == {
        "filter": {
            "from": "2026-01-01",
            "to": "2026-04-01",
            "segment": None,
            "pipeline": None,
            "team": None,
            "manager": None,
            "source": None,
        },
        "as_of": "2026-04-15",
        "months": 3,
        "history_from": "2026-01-15",
        "currency": "EUR",
        "days_to_win": {"B2B": 18.0, "B2C": 90.0},
        # 7 deals; 1000 + 2000 + 1000 + 3000 + 4000 + 500 + 700 = 12200;
        # set: 100 + 500 + 250 + 1500 + 3200 + 100 + 210 = 5860;
        # measured: 500 + 3000 * 4/7 (1714.2857) + 2000 + 4000 + 500 + 210 = 8924.2857.
        "totals": _money_row(7, 12200.0, 5860.0, 8924.29, 3064.29),
        "by_month": [
            # o1 o2 o6 o4 r1: 8700; set 100 + 500 + 250 + 3200 + 210 = 4260;
            # measured 500 + 1714.2857 + 4000 + 210 = 6424.2857.
            {"month": "2026-04", **_money_row(5, 8700.0, 4260.0, 6424.29, 2164.29)},
            {"month": "2026-05", **_money_row(1, 3000.0, 1500.0, 2000.0, 500.0)},  # o3
            {"month": "2026-06", **z},  # nothing expected: shown, so the months are a series
            {"month": "2026-07", **_money_row(1, 500.0, 100.0, 500.0, 400.0)},  # q1
        ],
        "by_stage": [
            {
                "pipeline": "B2B",
                "position": 1,
                "stage": "Left a request",
                "set_probability": 0.1,
                "measured_probability": 0.5,
                "probability_gap": 0.4,
                "history_reached": 8,
                "history_won": 4,
                **_money_row(1, 1000.0, 100.0, 500.0, 400.0),
            },
            {
                "pipeline": "B2B",
                "position": 2,
                "stage": "Told us the task",
                "set_probability": 0.25,
                "measured_probability": 0.5714,
                "probability_gap": 0.3214,  # 4/7 - 1/4 = 9/28
                "history_reached": 7,
                "history_won": 4,
                **_money_row(2, 3000.0, 750.0, 1714.29, 964.29),
            },
            {
                "pipeline": "B2B",
                "position": 3,
                "stage": "Received the offer",
                "set_probability": 0.5,
                "measured_probability": 0.6667,
                "probability_gap": 0.1667,
                "history_reached": 6,
                "history_won": 4,
                **_money_row(1, 3000.0, 1500.0, 2000.0, 500.0),
            },
            {
                "pipeline": "B2B",
                "position": 4,
                "stage": "Agreed terms",
                "set_probability": 0.8,
                "measured_probability": 1.0,
                "probability_gap": 0.2,
                "history_reached": 4,
                "history_won": 4,
                **_money_row(1, 4000.0, 3200.0, 4000.0, 800.0),
            },
            {
                "pipeline": "B2C",
                "position": 1,
                "stage": "Asked",
                "set_probability": 0.2,
                "measured_probability": 1.0,
                "probability_gap": 0.8,
                "history_reached": 1,
                "history_won": 1,
                **_money_row(1, 500.0, 100.0, 500.0, 400.0),
            },
            {
                "pipeline": "B2C",
                "position": 2,
                "stage": "Paid",
                "set_probability": 0.6,
                "measured_probability": 1.0,
                "probability_gap": 0.4,
                "history_reached": 1,
                "history_won": 1,
                **z,
            },
            {
                "pipeline": "Partners",
                "position": 1,
                "stage": "Called",
                "set_probability": 0.3,
                "measured_probability": None,  # no history: weighted by the set probability
                "probability_gap": None,
                "history_reached": 0,
                "history_won": 0,
                **_money_row(1, 700.0, 210.0, 210.0, 0.0),
            },
        ],
    }


def test_months_are_in_the_account_time_zone(world: World, settings: Any) -> None:
    # Europe/Sofia is UTC+3 in April: o1's expected close 2026-04-30 22:30 UTC is 1 May. NOW is
    # 15:00 there, so the history starts 2026-01-15 15:00 Sofia (UTC+2) = 13:00 UTC and h5
    # (closed 12:00 UTC) drops out: S1 reached 4 + 3 = 7, measured 4/7.
    settings.TIME_ZONE = "Europe/Sofia"
    report = _run()
    s1 = report["by_stage"][0]
    assert (s1["history_reached"], s1["measured_probability"]) == (7, 0.5714)
    # April: o2 o6 o4 r1 = 7700; set 500 + 250 + 3200 + 210 = 4160; measured 1714.2857 + 4000
    # + 210. May: o1 o3 = 4000; set 100 + 1500; measured 1000 * 4/7 (571.4286) + 2000.
    assert report["by_month"][:2] == [
        {"month": "2026-04", **_money_row(4, 7700.0, 4160.0, 5924.29, 1764.29)},
        {"month": "2026-05", **_money_row(2, 4000.0, 1600.0, 2571.43, 971.43)},
    ]


def test_more_months_of_history(world: World) -> None:
    # months=4: the history starts 2025-12-15 12:00 UTC and takes in "old" (won in 2 days):
    # wins 2, 10, 16, 20, 30 -> median 16 days; S1 reached 9, measured 5/9.
    report = _run(months=4)
    assert report["history_from"] == "2025-12-15"
    assert report["days_to_win"]["B2B"] == 16.0
    s1 = report["by_stage"][0]
    assert (s1["history_reached"], s1["history_won"], s1["measured_probability"]) == (
        9,
        5,
        0.5556,
    )


def test_manager_sees_own_deals_and_own_odds(world: World, cast: Cast) -> None:
    # The manager's history: wins h1 h2 h7 h8, lost h3 (3) h4 (2) h5 (1): reached S1 7, S2 6,
    # S3 5 -> odds 4/7, 4/6, 4/5. Open o1 S1 1000, o2 + o6 S2 3000, o3 S3 3000:
    # set 100 + 750 + 1500 = 2350; measured 1000 * 4/7 + 3000 * 4/6 + 3000 * 4/5
    # = 571.4286 + 2000 + 2400 = 4971.4286.
    expected = _money_row(4, 7000.0, 2350.0, 4971.43, 2621.43)
    as_viewer = _run(viewer=cast.manager)
    assert as_viewer["totals"] == expected
    assert [row["month"] for row in as_viewer["by_month"]] == ["2026-04", "2026-05"]
    assert {row["pipeline"] for row in as_viewer["by_stage"]} == {"B2B"}
    assert _run(manager=cast.manager)["totals"] == expected
    assert _run(team=cast.manager.team)["totals"] == expected
    assert _run(viewer=cast.head)["totals"] == expected  # the head's team is the manager's

    # The outsider: history h6 only (lost, highest 3; no win, so no median): B2B odds 0/1 for
    # S1-S3, none for S4. o4 (S4, 4000) weighted 0.8 both ways, current month; q1 July; r1.
    outsider = _run(viewer=cast.outsider)
    assert outsider["days_to_win"] == {"B2C": 90.0}
    assert outsider["totals"] == _money_row(3, 5200.0, 3510.0, 3910.0, 400.0)
    assert [row["month"] for row in outsider["by_month"]] == [
        "2026-04",
        "2026-05",
        "2026-06",
        "2026-07",
    ]
    b2b = [row for row in outsider["by_stage"] if row["pipeline"] == "B2B"]
    assert [row["measured_probability"] for row in b2b] == [0.0, 0.0, 0.0, None]


def test_pipeline_segment_and_source_narrow(world: World) -> None:
    # B2B only: o1 o2 o6 o3 o4 = 11000; set 100 + 500 + 250 + 1500 + 3200 = 5550;
    # measured 500 + 1714.2857 + 2000 + 4000 = 8214.2857.
    expected = _money_row(5, 11000.0, 5550.0, 8214.29, 2664.29)
    by_pipeline = _run(pipeline=world.b2b)
    assert by_pipeline["totals"] == expected
    assert {row["pipeline"] for row in by_pipeline["by_stage"]} == {"B2B"}
    assert by_pipeline["days_to_win"] == {"B2B": 18.0}
    assert _run(segment=world.b2b.segment)["totals"] == expected

    # Source "referral": o3 alone, and no history of that source: odds none, weighted 0.5 both
    # ways, no median so the current month.
    referral = _run(source="referral")
    assert referral["totals"] == _money_row(1, 3000.0, 1500.0, 1500.0, 0.0)
    assert referral["by_month"] == [{"month": "2026-04", **referral["totals"]}]


def test_nothing_open(db: None) -> None:
    report = _run()
    assert report["totals"] == _money_row(0, 0.0, 0.0, 0.0, 0.0)
    assert (report["by_month"], report["by_stage"], report["days_to_win"]) == ([], [], {})


def test_months_before_clamps_the_day() -> None:
    assert months_before(dt.datetime(2026, 3, 31, 8, tzinfo=UTC), 1) == dt.datetime(
        2026, 2, 28, 8, tzinfo=UTC
    )
    assert months_before(dt.datetime(2026, 1, 10, tzinfo=UTC), 13) == dt.datetime(
        2024, 12, 10, tzinfo=UTC
    )


def test_query_count_does_not_grow_with_deals(world: World) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            _run()
        return len(captured)

    assert count() == QUERIES
    s1, s2 = world.stages[0], world.stages[1]
    for index in range(20):
        opened = at("2026-03-01", hours=index)
        _deal(world.b2b, opened, [enter(s1), move(s2, 1)], owner=None)
        _deal(world.b2b, opened, [enter(s1), won(24 * (index + 1))], owner=None)
        _deal(world.partners, opened, [enter(world.stages[-1]), lost(2)], owner=None)
    assert count() == QUERIES
    assert _run()["totals"]["open_deals"] == 7 + 20


def test_command_and_api_return_the_report(
    world: World, cast: Cast, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = ""  # rate counting in the database, as in the API tests
    api = Api(token_create(user=cast.owner, name="test", scopes=(TokenScope.READ,)).raw)
    args = ["forecast", "--from", "2026-01-01", "--to", "2026-04-01", "--months", "3"]
    params = {"date_from": "2026-01-01", "date_to": "2026-04-01", "months": 3}
    out = io.StringIO()
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    call_command("report", *args, "--format", "json", stdout=out)
    expected = REPORT.execute(ReportFilter(JAN, APR), months=3)
    response = api.get("/api/v1/reports/forecast", params)
    assert expected == _run()
    assert json.loads(out.getvalue()) == expected
    assert response.status_code == 200
    assert response.json() == expected
    assert REPORT.tables(expected)[0].header() == [
        "month",
        "open_deals",
        "open_value",
        "weighted_set",
        "weighted_measured",
        "gap",
    ]


def test_default_months_is_six(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    report = REPORT.execute(ReportFilter(JAN, APR))
    assert (report["months"], report["history_from"]) == (6, "2025-10-15")
