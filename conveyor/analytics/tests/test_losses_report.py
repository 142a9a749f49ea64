"""The `losses` report: deals lost in the window by stage and reason, against a hand-built
history whose every number is worked out by hand below."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
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
)
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, LossReason, Pipeline, Stage
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
REPORT = REPORTS["losses"]


@dataclass
class Losses:
    history: History
    other: Pipeline
    deals: dict[str, Deal]


def _own(owner: User | None, *deals: Deal) -> None:
    Deal.objects.filter(pk__in=[d.pk for d in deals]).update(owner=owner)


@pytest.fixture
def losses(cast: Cast, pipeline: Pipeline) -> Losses:
    """The shared history (main pipeline "Main") plus a second pipeline "Other" whose stage
    names repeat Main's, and deals lost at the window's edges.

    Lost in [2026-01-01, 2026-04-01) UTC, by closed_at:
      Main  S1 "Left a request":  d5 Not our client (refused by us), d7 No answer,
                                  before No answer (opened before the window, lost 01-05),
                                  late No answer (lost 03-31 22:00 UTC),
                                  e1 Too expensive, e2 Chose a competitor
      Main  S2 "Told us the task": d4 No answer, at_start No budget (lost 01-01 00:00 UTC)
      Main  S3 "Received the offer": d3 No budget (skipped S2)
      Main  S5 "Paid a deposit" (archived): d8 No budget
      Other S1 "Left a request":  o1 No answer
      Other S2 "Told us the task": o2 Not our client (refused by us), after a back move
    Not counted: at_end_lost (lost 04-01 00:00 UTC, opened in the window), the open and won deals.
    """
    pipeline.name = "Main"
    pipeline.save()
    other = pipeline_with_stages(["Left a request", "Told us the task"], name="Other")
    history = build_history(pipeline, other)
    s1, s2 = history.s1, history.s2
    o1_stage, o2_stage = other.stages.order_by("position")
    too_expensive = LossReasonFactory(name="Too expensive")
    competitor = LossReasonFactory(name="Chose a competitor")
    d = history.deals
    no_answer, no_budget = history.no_answer, history.no_budget

    def lost_after(
        pipe: Pipeline, day: str, stage: Stage, hours: float, reason: LossReason
    ) -> Deal:
        return build_deal(pipe, at(day), [enter(stage), lost(hours)], lost_reason=reason)

    extra = {
        "late": lost_after(pipeline, "2026-03-31", s1, 13, no_answer),  # 03-31 22:00 UTC
        "at_start": lost_after(pipeline, "2025-12-31", s2, 15, no_budget),  # 01-01 00:00 UTC
        "at_end_lost": lost_after(pipeline, "2026-03-31", s1, 15, no_answer),  # 04-01 00:00 UTC
        "e1": lost_after(pipeline, "2026-02-02", s1, 1, too_expensive),
        "e2": lost_after(pipeline, "2026-02-03", s1, 1, competitor),
        "o1": lost_after(other, "2026-02-01", o1_stage, 1, no_answer),
        "o2": build_deal(
            other,
            at("2026-02-04"),
            [enter(o1_stage), move(o2_stage, 2), move(o1_stage, 3), move(o2_stage, 4), lost(5)],
            lost_reason=history.not_our_client,
            refused_by_us=True,
        ),
    }
    deals = {**d, **extra}
    # Owners: the manager (team A) d5 d7 late o1; the head (team A) d4; the outsider (team B)
    # d3 o2; nobody the rest.
    _own(cast.manager, deals["d5"], deals["d7"], deals["late"], deals["o1"])
    _own(cast.head, deals["d4"])
    _own(cast.outsider, deals["d3"], deals["o2"])
    for name in ("d3", "o1"):
        person = deals[name].person
        person.source = "referral"
        person.save()
    return Losses(history=history, other=other, deals=deals)


def _run(**kwargs: Any) -> dict[str, Any]:
    return REPORT.run(ReportFilter(date_from=JAN, date_to=APR, **kwargs))


def test_whole_report(losses: Losses) -> None:
    report = _run()
    # 12 lost in the window (see the fixture); refused by us d5 o2 -> 2 / 12 = 0.1667.
    assert report["cohort"] == "lost_in_window"
    assert report["filter"]["from"] == "2026-01-01"
    assert (report["lost"], report["refused_by_us"], report["refused_by_us_share"]) == (
        12,
        2,
        0.1667,
    )
    # Main S1: 6 lost (d5 d7 before late e1 e2) = 6 / 12 = 0.5, refused 1 (d5); reasons
    # No answer 3, then three at 1 ordered by name: Chose a competitor, Not our client, (Too
    # expensive is the 4th and left out of the top 3).
    # Main S2: d4 at_start = 2 / 12 = 0.1667, No answer 1 and No budget 1 (by name).
    # Main S3, S5, Other S1, Other S2: 1 each = 1 / 12 = 0.0833.
    assert report["by_stage"] == [
        {
            "pipeline": "Main",
            "position": 1,
            "stage": "Left a request",
            "lost": 6,
            "refused_by_us": 1,
            "share_of_losses": 0.5,
            "top_reasons": [
                {"reason": "No answer", "count": 3},
                {"reason": "Chose a competitor", "count": 1},
                {"reason": "Not our client", "count": 1},
            ],
        },
        {
            "pipeline": "Main",
            "position": 2,
            "stage": "Told us the task",
            "lost": 2,
            "refused_by_us": 0,
            "share_of_losses": 0.1667,
            "top_reasons": [
                {"reason": "No answer", "count": 1},
                {"reason": "No budget", "count": 1},
            ],
        },
        {
            "pipeline": "Main",
            "position": 3,
            "stage": "Received the offer",
            "lost": 1,
            "refused_by_us": 0,
            "share_of_losses": 0.0833,
            "top_reasons": [{"reason": "No budget", "count": 1}],
        },
        {
            "pipeline": "Main",
            "position": 5,
            "stage": "Paid a deposit",
            "lost": 1,
            "refused_by_us": 0,
            "share_of_losses": 0.0833,
            "top_reasons": [{"reason": "No budget", "count": 1}],
        },
        {
            "pipeline": "Other",
            "position": 1,
            "stage": "Left a request",
            "lost": 1,
            "refused_by_us": 0,
            "share_of_losses": 0.0833,
            "top_reasons": [{"reason": "No answer", "count": 1}],
        },
        {
            "pipeline": "Other",
            "position": 2,
            "stage": "Told us the task",
            "lost": 1,
            "refused_by_us": 1,
            "share_of_losses": 0.0833,
            "top_reasons": [{"reason": "Not our client", "count": 1}],
        },
    ]
    # No answer: d4 d7 before late o1 = 5 / 12 = 0.4167; No budget: d3 d8 at_start = 3 / 12
    # = 0.25; Not our client: d5 o2 = 2 / 12 = 0.1667; the two others 1 / 12 = 0.0833.
    assert report["by_reason"] == [
        {"reason": "No answer", "lost": 5, "share": 0.4167},
        {"reason": "No budget", "lost": 3, "share": 0.25},
        {"reason": "Not our client", "lost": 2, "share": 0.1667},
        {"reason": "Chose a competitor", "lost": 1, "share": 0.0833},
        {"reason": "Too expensive", "lost": 1, "share": 0.0833},
    ]
    keys = ("pipeline", "position", "stage", "reason", "lost")
    assert report["matrix"] == [
        dict(zip(keys, row, strict=True))
        for row in [
            ("Main", 1, "Left a request", "No answer", 3),
            ("Main", 1, "Left a request", "Chose a competitor", 1),
            ("Main", 1, "Left a request", "Not our client", 1),
            ("Main", 1, "Left a request", "Too expensive", 1),
            ("Main", 2, "Told us the task", "No answer", 1),
            ("Main", 2, "Told us the task", "No budget", 1),
            ("Main", 3, "Received the offer", "No budget", 1),
            ("Main", 5, "Paid a deposit", "No budget", 1),
            ("Other", 1, "Left a request", "No answer", 1),
            ("Other", 2, "Told us the task", "Not our client", 1),
        ]
    ]
    # The matrix adds up to the totals.
    assert sum(row["lost"] for row in report["matrix"]) == report["lost"]


def test_same_named_reasons_of_two_pipelines_are_one_reason(losses: Losses) -> None:
    # A second "No answer" reason, offered only in Other: o1 is moved to it.
    other_no_answer = LossReason.objects.create(name="No answer", pipeline=losses.other)
    Deal.objects.filter(pk=losses.deals["o1"].pk).update(lost_reason=other_no_answer)
    assert _run()["by_reason"][0] == {"reason": "No answer", "lost": 5, "share": 0.4167}


def test_window_is_half_open_in_the_account_time_zone(losses: Losses, settings: Any) -> None:
    # Europe/Sofia: UTC+2 in January, UTC+3 from 29 March 2026; the window is
    # [2025-12-31 22:00 UTC, 2026-03-31 21:00 UTC): "late" (lost 03-31 22:00 UTC) falls out,
    # "at_start" (01-01 00:00 UTC) and "before" (01-05) stay in.
    settings.TIME_ZONE = "Europe/Sofia"
    report = _run()
    assert report["lost"] == 11
    assert report["by_stage"][0]["lost"] == 5
    assert report["by_stage"][0]["top_reasons"][0] == {"reason": "No answer", "count": 2}
    # A window starting on 2026-01-01 00:00 UTC exactly keeps at_start; one ending then drops it.
    settings.TIME_ZONE = "UTC"
    edge = REPORT.run(ReportFilter(date_from=dt.date(2025, 12, 1), date_to=JAN))
    assert edge["lost"] == 0  # at_start is lost at the window's (exclusive) end
    edge = REPORT.run(ReportFilter(date_from=JAN, date_to=dt.date(2026, 1, 2)))
    assert edge["lost"] == 1  # at_start, lost at the window's (inclusive) start
    assert edge["by_stage"][0]["stage"] == "Told us the task"


def test_filters_narrow_the_numbers(losses: Losses, cast: Cast) -> None:
    # Manager: d5 (S1 Not our client, refused), d7 (S1 No answer), late (S1 No answer),
    # o1 (Other S1 No answer): 4 lost, 1 refused = 0.25.
    mine = _run(manager=cast.manager)
    assert (mine["lost"], mine["refused_by_us"], mine["refused_by_us_share"]) == (4, 1, 0.25)
    assert [(r["pipeline"], r["position"], r["lost"]) for r in mine["by_stage"]] == [
        ("Main", 1, 3),
        ("Other", 1, 1),
    ]
    assert mine["by_reason"] == [
        {"reason": "No answer", "lost": 3, "share": 0.75},
        {"reason": "Not our client", "lost": 1, "share": 0.25},
    ]
    # Team A = the manager's 4 + the head's d4 = 5; team B = the outsider's d3 o2 = 2.
    assert _run(team=cast.manager.team)["lost"] == 5
    team_b = _run(team=cast.outsider.team)
    assert (team_b["lost"], team_b["refused_by_us"]) == (2, 1)
    # Pipeline Other: o1 o2; its segment (each factory pipeline has its own) the same.
    other = _run(pipeline=losses.other)
    assert [(r["stage"], r["lost"]) for r in other["by_stage"]] == [
        ("Left a request", 1),
        ("Told us the task", 1),
    ]
    assert _run(segment=losses.other.segment)["by_stage"] == other["by_stage"]
    assert _run(segment=losses.history.pipeline.segment)["lost"] == 10  # 12 - o1 - o2
    # Source "referral": d3 (Main S3 No budget), o1 (Other S1 No answer).
    referral = _run(source="referral")
    assert [(r["pipeline"], r["stage"], r["lost"]) for r in referral["matrix"]] == [
        ("Main", "Received the offer", 1),
        ("Other", "Left a request", 1),
    ]


def test_each_viewer_sees_only_their_deals(losses: Losses, cast: Cast) -> None:
    assert _run(viewer=cast.manager)["lost"] == 4  # d5 d7 late o1
    assert _run(viewer=cast.outsider)["lost"] == 2  # d3 o2
    # The head: team A's 5 and the 5 with no owner (d8 before at_start e1 e2) = 10.
    assert _run(viewer=cast.head)["lost"] == 10
    assert _run(viewer=cast.owner)["lost"] == 12


def test_empty_window(losses: Losses) -> None:
    report = REPORT.run(ReportFilter(date_from=dt.date(2030, 1, 1), date_to=dt.date(2030, 2, 1)))
    assert {k: report[k] for k in ("lost", "refused_by_us", "refused_by_us_share")} == {
        "lost": 0,
        "refused_by_us": 0,
        "refused_by_us_share": None,
    }
    assert report["by_stage"] == report["by_reason"] == report["matrix"] == []


def test_query_count_does_not_grow_with_deals(pipeline: Pipeline) -> None:
    s1, s2, s3 = pipeline.stages.order_by("position")[:3]
    reasons = [LossReasonFactory(name=f"Reason {n}") for n in range(5)]

    def add(count: int) -> None:
        for n in range(count):
            stage = (s1, s2, s3)[n % 3]
            build_deal(pipeline, at("2026-02-01", n), [enter(stage), lost(1)],
                       lost_reason=reasons[n % 5], refused_by_us=n % 2 == 0)  # fmt: skip

    add(2)
    with CaptureQueriesContext(connection) as small:
        assert _run()["lost"] == 2
    add(18)
    with CaptureQueriesContext(connection) as large:
        assert _run()["lost"] == 20
    # The lost deals grouped by stage and reason ids, then those stages' and reasons' names.
    assert len(small) == len(large) == 3


def _api(user: User) -> Api:
    return Api(token_create(user=user, name="test", scopes=(TokenScope.READ,)).raw)


def test_command_and_api_return_the_report(losses: Losses, cast: Cast, settings: Any) -> None:
    settings.REDIS_URL = ""  # rate counting in the database, as in the API tests
    out = io.StringIO()
    call_command("report", "losses", "--from", "2026-01-01", "--to", "2026-04-01", stdout=out)
    expected = _run()
    assert json.loads(out.getvalue()) == expected
    response = _api(cast.owner).get(
        "/api/v1/reports/losses", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    assert response.json() == expected
    mine = _api(cast.manager).get(
        "/api/v1/reports/losses", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert mine.json()["lost"] == 4
    # The CSV is the by-stage table.
    header, rows = report_csv(REPORT, expected)
    assert header[:4] == ["pipeline", "position", "stage", "lost"]
    assert rows[0][:4] == ["Main", 1, "Left a request", 6]
    assert rows[0][-1] == "No answer=3; Chose a competitor=1; Not our client=1"


def test_web_page_renders(losses: Losses, cast: Cast) -> None:
    from django.test import Client

    client = Client()
    client.force_login(cast.manager)
    response = client.get("/reports/losses/", {"date_from": "2026-01-01", "date_to": "2026-04-01"})
    assert response.status_code == 200
    assert response.context["data"]["lost"] == 4
