"""The `velocity` report: time in stage and days to win, against a hand-built history whose every
number is worked out by hand below."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import Cast
from conveyor.accounts.models import TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import REPORTS, report_csv
from conveyor.analytics.tests.history import (
    History,
    at,
    build_deal,
    build_history,
    enter,
    lost,
    move,
    won,
)
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
REPORT = REPORTS["velocity"]
# Finished intervals by stage (two: counts, then the values at the quantiles' ranks), the
# stages to list, the won deals.
QUERIES = 4


@dataclass
class Velocity:
    history: History
    other: Pipeline
    deals: dict[str, Deal]


def _own(owner: User | None, *deals: Deal) -> None:
    Deal.objects.filter(pk__in=[d.pk for d in deals]).update(owner=owner)


@pytest.fixture
def velocity(cast: Cast, pipeline: Pipeline) -> Velocity:
    """The shared history (pipeline "Main": back moves d2 d9, a skipped stage d3, open deals
    d2 d6 d9 with running stays; "other" won in Other S1 after 7h) plus:

    - o2 (Other, opened 02-04): S1 3h, S2 2h, back to S1 1h, S2 (running) — open;
    - w1 (Main, opened 02-01): S1 48h, won — 2 days, first purchase;
    - w2 (Main, opened 01-20): S1 24h, S2 216h, won — 10 days, purchase 2;
    - w3 (Main, opened 2025-12-01, before the window): S1 960h, won 01-10 — 40 days, purchase 3;
    - w4 (Main, opened 2025-12-20): won exactly at 2026-04-01 00:00 UTC — outside the window;
    - w5 (Main, opened 03-01): S1 72h, won — 3 days, first purchase.

    Other's stages have the same names as Main's first two.
    """
    pipeline.name = "Main"
    pipeline.save()
    other = pipeline_with_stages(["Left a request", "Told us the task"], name="Other")
    history = build_history(pipeline, other)
    s1, s2 = history.s1, history.s2
    o1, o2 = other.stages.order_by("position")
    extra = {
        "o2": build_deal(other, at("2026-02-04"), [enter(o1), move(o2, 3), move(o1, 5),
                                                   move(o2, 6)]),
        "w1": build_deal(pipeline, at("2026-02-01"), [enter(s1), won(48)]),
        "w2": build_deal(pipeline, at("2026-01-20"), [enter(s1), move(s2, 24), won(240)]),
        "w3": build_deal(pipeline, at("2025-12-01"), [enter(s1), won(40 * 24)]),
        # 2025-12-20 09:00 to 2026-04-01 00:00 = 102 days - 9 hours = 2439 hours.
        "w4": build_deal(pipeline, at("2025-12-20"), [enter(s1), won(102 * 24 - 9)]),
        "w5": build_deal(pipeline, at("2026-03-01"), [enter(s1), won(72)]),
    }  # fmt: skip
    assert extra["w4"].closed_at == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    Deal.objects.filter(pk=extra["w2"].pk).update(purchase_number=2)
    Deal.objects.filter(pk=extra["w3"].pk).update(purchase_number=3)
    deals = {**history.deals, **extra}
    # Owners: the manager (team A) d1 w1 w2; the head (team A) w3; the outsider (team B) d3 o2.
    _own(cast.manager, deals["d1"], deals["w1"], deals["w2"])
    _own(cast.head, deals["w3"])
    _own(cast.outsider, deals["d3"], deals["o2"])
    for name in ("d2", "other"):
        person = deals[name].person
        person.source = "referral"
        person.save()
    return Velocity(history=history, other=other, deals=deals)


def _run(**kwargs: Any) -> dict[str, Any]:
    return REPORT.run(ReportFilter(date_from=JAN, date_to=APR, **kwargs))


def _row(pipeline: str, position: int, stage: str, *numbers: Any) -> dict[str, Any]:
    intervals, median, p90 = numbers
    return {
        "pipeline": pipeline,
        "position": position,
        "stage": stage,
        "intervals": intervals,
        "hours_median": median,
        "hours_p90": p90,
    }


def _days(deals: int, median: Any, p90: Any, mean: Any) -> dict[str, Any]:
    return {"deals": deals, "median": median, "p90": p90, "mean": mean}


def _whole(report: dict[str, Any]) -> None:
    # Cohort = deals opened in [01-01, 04-01) UTC: d1..d9, other, o2, w1, w2, w5 (not "before",
    # "at_end" (opened at the window's end: its S1 50h would show), w3, w4).
    # Finished stays in hours, sorted; percentile position = fraction * (n - 1):
    # Main S1: d5 1, d8 1, d9 1.5 (its 2nd stay after the back move), d9 2, d1 2.5, d2 4, d7 5,
    #   d3 8, w2 24, w1 48, w5 72 (d6's stay is running; d4 opened at S2), n = 11:
    #   median pos 5 -> 4.0; p90 pos 9 -> 48.0
    # Main S2: d8 1, d9 2.5, d4 3, d9 3, d2 6 (its 2nd stay is running), d1 10, w2 216, n = 7
    #   (d3 skipped S2: no stay there): median pos 3 -> 3.0; p90 pos 5.4 -> 10 + 0.4 * 206 = 92.4
    # Main S3: d8 2, d2 6, d3 12, d1 24 (d9's is running), n = 4:
    #   median pos 1.5 -> 6 + 0.5 * 6 = 9.0; p90 pos 2.7 -> 12 + 0.7 * 12 = 20.4
    # Main S4: d1 4, d8 6: median 5.0; p90 pos 0.9 -> 4 + 0.9 * 2 = 5.8
    # Main S5 (archived, d8 went through it): 20; S6 (archived, untouched) is not listed.
    # Other S1: o2 1, o2 3, other 7: median 3.0; p90 pos 1.8 -> 3 + 0.8 * 4 = 6.2
    # Other S2: o2 2 (its second stay is running): 2.0
    assert report["stages"] == [
        _row("Main", 1, "Left a request", 11, 4.0, 48.0),
        _row("Main", 2, "Told us the task", 7, 3.0, 92.4),
        _row("Main", 3, "Received the offer", 4, 9.0, 20.4),
        _row("Main", 4, "Agreed terms", 2, 5.0, 5.8),
        _row("Main", 5, "Paid a deposit", 1, 20.0, 20.0),
        _row("Other", 1, "Left a request", 3, 3.0, 6.2),
        _row("Other", 2, "Told us the task", 1, 2.0, 2.0),
    ]
    # Won in the window (w4, won at its end, is not): other 7h = 0.2917 d, d1 40.5h = 1.6875 d,
    # w1 2 d, w5 3 d (first purchases); w2 10 d, w3 40 d (repeat; w3 opened before the window).
    # All, n = 6: median pos 2.5 -> (2 + 3) / 2 = 2.5; p90 pos 4.5 -> 10 + 0.5 * 30 = 25.0;
    #   mean (0.2917 + 1.6875 + 2 + 3 + 10 + 40) / 6 = 56.9792 / 6 = 9.4965 -> 9.5
    # First, n = 4: median pos 1.5 -> (1.6875 + 2) / 2 = 1.84375 -> 1.84; p90 pos 2.7 -> 2.7;
    #   mean 6.9792 / 4 = 1.7448 -> 1.74
    # Repeat, n = 2: median 25.0; p90 pos 0.9 -> 10 + 0.9 * 30 = 37.0; mean 25.0
    assert report["days_to_win"] == {
        **_days(6, 2.5, 25.0, 9.5),
        "first": _days(4, 1.84, 2.7, 1.74),
        "repeat": _days(2, 25.0, 37.0, 25.0),
    }


def test_whole_report(velocity: Velocity) -> None:
    with CaptureQueriesContext(connection) as captured:
        report = _run()
    assert len(captured) == QUERIES
    for query in captured[:2]:  # the stays, from the stage changes alone (no join)
        assert "pipelines_stagechange" in query["sql"] and "JOIN" not in query["sql"]
    if connection.vendor == "postgresql":  # the days to win are computed by the database
        assert "FILTER (WHERE" in captured[3]["sql"]
    assert report["cohort"] == "opened_in_window"
    assert report["wins"] == "won_in_window"
    assert report["filter"]["to"] == "2026-04-01"
    _whole(report)


def test_python_percentiles_match_the_database(velocity: Velocity, monkeypatch: Any) -> None:
    """The streamed (SQLite) path gives the same report on any database; on PostgreSQL this
    checks it against percentile_cont."""
    monkeypatch.setattr("conveyor.analytics.metrics.velocity.on_postgresql", lambda qs: False)
    _whole(_run())


def test_window_in_the_account_time_zone(velocity: Velocity, settings: Any) -> None:
    # Europe/Sofia: UTC+2 in January, UTC+3 from 29 March 2026: the window is
    # [2025-12-31 22:00 UTC, 2026-03-31 21:00 UTC): "before" (opened 12-31 23:30 UTC, S1 100h)
    # joins the cohort and d9 (opened 03-31 23:30 UTC) leaves it (S1 2, 1.5; S2 3, 2.5).
    settings.TIME_ZONE = "Europe/Sofia"
    report = _run()
    # Main S1: [1, 1, 2.5, 4, 5, 8, 24, 48, 72, 100], n = 10: median pos 4.5 -> 6.5;
    # p90 pos 8.1 -> 72 + 0.1 * 28 = 74.8.
    assert report["stages"][0] == _row("Main", 1, "Left a request", 10, 6.5, 74.8)
    # Main S2: [1, 3, 6, 10, 216], n = 5: median 6.0; p90 pos 3.6 -> 10 + 0.6 * 206 = 133.6
    assert report["stages"][1] == _row("Main", 2, "Told us the task", 5, 6.0, 133.6)
    assert report["days_to_win"]["deals"] == 6  # the same wins


def test_filters_narrow_the_numbers(velocity: Velocity, cast: Cast) -> None:
    # Manager: d1 w1 w2, all in Main. S1 [2.5, 24, 48]: median 24; p90 pos 1.8 -> 24 + 0.8 *
    # 24 = 43.2. S2 [10, 216]: median 113; p90 10 + 0.9 * 206 = 195.4. S3 [24], S4 [4]; the
    # archived S5 is not listed (none of these went through it), nor is Other.
    mine = _run(manager=cast.manager)
    assert mine["stages"] == [
        _row("Main", 1, "Left a request", 3, 24.0, 43.2),
        _row("Main", 2, "Told us the task", 2, 113.0, 195.4),
        _row("Main", 3, "Received the offer", 1, 24.0, 24.0),
        _row("Main", 4, "Agreed terms", 1, 4.0, 4.0),
    ]
    # Wins d1 1.6875, w1 2, w2 10: median 2.0; p90 pos 1.8 -> 2 + 0.8 * 8 = 8.4; mean
    # 13.6875 / 3 = 4.5625 -> 4.56. First [1.6875, 2]: median 1.84375 -> 1.84, p90 1.6875 +
    # 0.9 * 0.3125 = 1.96875 -> 1.97, mean 1.84. Repeat [10].
    assert mine["days_to_win"] == {
        **_days(3, 2.0, 8.4, 4.56),
        "first": _days(2, 1.84, 1.97, 1.84),
        "repeat": _days(1, 10.0, 10.0, 10.0),
    }
    # Team A adds the head's w3 (won in the window, opened before it: no stays in the cohort).
    team_a = _run(team=cast.manager.team)
    assert team_a["stages"] == mine["stages"]
    assert team_a["days_to_win"]["repeat"] == _days(2, 25.0, 37.0, 25.0)  # w2 10, w3 40
    # Team B: d3 (Main S1 8, skipped S2, S3 12) and o2 (Other S1 3 and 1, S2 2); no wins.
    team_b = _run(team=cast.outsider.team)
    assert team_b["stages"] == [
        _row("Main", 1, "Left a request", 1, 8.0, 8.0),
        _row("Main", 2, "Told us the task", 0, None, None),
        _row("Main", 3, "Received the offer", 1, 12.0, 12.0),
        _row("Main", 4, "Agreed terms", 0, None, None),
        _row("Other", 1, "Left a request", 2, 2.0, 2.8),  # [1, 3]: p90 1 + 0.9 * 2
        _row("Other", 2, "Told us the task", 1, 2.0, 2.0),
    ]
    assert team_b["days_to_win"] == {
        **_days(0, None, None, None),
        "first": _days(0, None, None, None),
        "repeat": _days(0, None, None, None),
    }
    # Pipeline Other (and its segment: each factory pipeline has its own): only its stages;
    # the one win is "other", 7h = 0.2917 days.
    other = _run(pipeline=velocity.other)
    assert other["stages"] == _whole_rows()[5:]
    assert other["days_to_win"]["first"] == _days(1, 0.29, 0.29, 0.29)
    segment = _run(segment=velocity.other.segment)
    assert (segment["stages"], segment["days_to_win"]) == (other["stages"], other["days_to_win"])
    # Source "referral": d2 (Main S1 4, S2 6 and a running stay, S3 6) and other (Other S1 7).
    referral = _run(source="referral")
    assert [(r["pipeline"], r["position"], r["intervals"], r["hours_median"])
            for r in referral["stages"]] == [
        ("Main", 1, 1, 4.0), ("Main", 2, 1, 6.0), ("Main", 3, 1, 6.0), ("Main", 4, 0, None),
        ("Other", 1, 1, 7.0), ("Other", 2, 0, None),
    ]  # fmt: skip
    assert referral["days_to_win"]["deals"] == 1


def _whole_rows() -> list[dict[str, Any]]:
    return [
        _row("Main", 1, "Left a request", 11, 4.0, 48.0),
        _row("Main", 2, "Told us the task", 7, 3.0, 92.4),
        _row("Main", 3, "Received the offer", 4, 9.0, 20.4),
        _row("Main", 4, "Agreed terms", 2, 5.0, 5.8),
        _row("Main", 5, "Paid a deposit", 1, 20.0, 20.0),
        _row("Other", 1, "Left a request", 3, 3.0, 6.2),
        _row("Other", 2, "Told us the task", 1, 2.0, 2.0),
    ]


def test_a_chosen_pipeline_is_listed_even_without_deals(velocity: Velocity) -> None:
    empty = pipeline_with_stages(["Only stage"], name="Empty")
    report = _run(pipeline=empty)
    assert report["stages"] == [_row("Empty", 1, "Only stage", 0, None, None)]
    assert report["days_to_win"]["deals"] == 0


def test_each_viewer_sees_only_their_deals(velocity: Velocity, cast: Cast) -> None:
    seen, filtered = _run(viewer=cast.manager), _run(manager=cast.manager)
    assert (seen["stages"], seen["days_to_win"]) == (filtered["stages"], filtered["days_to_win"])
    outsider = _run(viewer=cast.outsider)
    assert [r["intervals"] for r in outsider["stages"]] == [1, 0, 1, 0, 2, 1]  # d3, o2
    # The head: team A (d1 w1 w2 w3) and the deals with no owner — everything but d3 and o2.
    # Main S1 loses d3's 8: [1, 1, 1.5, 2, 2.5, 4, 5, 24, 48, 72], n = 10: median pos 4.5 ->
    # (2.5 + 4) / 2 = 3.25; p90 pos 8.1 -> 48 + 0.1 * 24 = 50.4.
    head = _run(viewer=cast.head)
    assert head["stages"][0] == _row("Main", 1, "Left a request", 10, 3.25, 50.4)
    assert head["days_to_win"]["deals"] == 6
    assert _run(viewer=cast.owner)["stages"] == _whole_rows()


def test_query_count_does_not_grow_with_deals(pipeline: Pipeline) -> None:
    s1, s2, s3 = pipeline.stages.order_by("position")[:3]
    reason = LossReasonFactory()

    def add(count: int) -> None:
        for n in range(count):
            opened = at("2026-02-01", n)
            if n % 3 == 0:
                path = [enter(s1), move(s2, 1 + n), move(s1, 2 + n), move(s3, 3 + n), won(4 + n)]
            elif n % 3 == 1:
                path = [enter(s1), move(s3, n + 1)]
            else:
                path = [enter(s2), lost(n + 1)]
            build_deal(pipeline, opened, path, lost_reason=reason)

    add(2)
    with CaptureQueriesContext(connection) as small:
        # n = 0: two stays in S1 (a back move), n = 1: one.
        assert _run()["stages"][0]["intervals"] == 3
    add(18)
    with CaptureQueriesContext(connection) as large:
        assert _run()["days_to_win"]["deals"] == 1 + 6  # n = 0 of the 2; 0, 3, ..., 15 of the 18
    assert len(small) == len(large) == QUERIES


def test_command_api_and_page_return_the_report(
    velocity: Velocity, cast: Cast, settings: Any
) -> None:
    settings.REDIS_URL = ""  # rate counting in the database, as in the API tests
    out = io.StringIO()
    call_command("report", "velocity", "--from", "2026-01-01", "--to", "2026-04-01", stdout=out)
    expected = _run()
    assert json.loads(out.getvalue()) == expected
    api = Api(token_create(user=cast.owner, name="test", scopes=(TokenScope.READ,)).raw)
    response = api.get(
        "/api/v1/reports/velocity", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    assert response.json() == expected
    header, rows = report_csv(REPORT, expected)  # the CSV is the time-in-stage table
    assert header == ["pipeline", "position", "stage", "intervals", "hours_median", "hours_p90"]
    assert rows[0] == ["Main", 1, "Left a request", 11, 4.0, 48.0]
    client = Client()
    client.force_login(cast.manager)
    page = client.get("/reports/velocity/", {"date_from": "2026-01-01", "date_to": "2026-04-01"})
    assert page.status_code == 200
    assert page.context["data"]["days_to_win"]["deals"] == 3  # d1 w1 w2
