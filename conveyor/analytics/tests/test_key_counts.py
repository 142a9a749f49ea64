"""The `key-counts` report (DESIGN §4 "Key counts", §5) against a hand-built history in the
Europe/Sofia time zone, whose every number is worked out by hand below."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import REPORTS
from conveyor.analytics.tests.history import build_deal, enter, move, won
from conveyor.api.tests.conftest import Api
from conveyor.intake.models import Lead, LeadChannel
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline, Stage
from conveyor.testing.factories import PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

REPORT = REPORTS["key-counts"]
QUERIES = 4  # people, intake records, key-meeting entries, won deals; each grouped by bucket

SOFIA = ZoneInfo("Europe/Sofia")  # UTC+2 in March until the 29th
# Wednesday 4 March to Wednesday 18 March 2026 (not included), Sofia time. Weeks start on
# Monday 2, 9 and 16 March, so the series is [4, 9), [9, 16), [16, 18): first and last clipped.
FROM, TO = dt.date(2026, 3, 4), dt.date(2026, 3, 18)
OLD = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SOFIA)


def hours(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 3600


@dataclass
class World:
    cast: Cast
    pipeline: Pipeline  # P: stage 2 is the key meeting
    other: Pipeline  # Q: its only stage is a key meeting
    people: dict[str, Person]
    deals: dict[str, Deal]


def _deal(
    pipeline: Pipeline,
    opened_at: dt.datetime,
    steps: list[Any],
    *,
    owner: User,
    person: Person | None = None,
    amount: str = "0",
    currency: str = "EUR",
) -> Deal:
    deal = build_deal(pipeline, opened_at, steps)
    made_up = deal.person
    Deal.objects.filter(pk=deal.pk).update(
        owner=owner, amount=Decimal(amount), currency=currency, person=person or made_up
    )
    if person is not None:
        made_up.delete()
    else:  # the person build_deal made up was recorded long ago, owned by the deal's owner
        Person.objects.filter(pk=made_up.pk).update(created_at=OLD, owner=owner)
    deal.refresh_from_db()
    return deal


def _lead(at: dt.datetime, person: Person | None, source: str) -> Lead:
    lead: Lead = Lead.objects.create(
        channel=LeadChannel.WEB_FORM, received_at=at, person=person, source=source, name="x"
    )
    return lead


@pytest.fixture
def world(cast: Cast, pipeline: Pipeline, settings: Settings) -> World:
    settings.TIME_ZONE = "Europe/Sofia"
    m, o = cast.manager, cast.outsider
    s1, s2, s3, _s4 = list(pipeline.stages.order_by("position"))
    Stage.objects.filter(pk=s2.pk).update(is_key_meeting=True)
    s2.refresh_from_db()
    other = pipeline_with_stages(["Q: met us"], name="Q")
    q1 = other.stages.get()
    Stage.objects.filter(pk=q1.pk).update(is_key_meeting=True)
    q1.refresh_from_db()

    people = {
        "p1": PersonFactory(owner=m, source="website", created_at=local(3, 4, 0, 30)),  # wk 1
        "p2": PersonFactory(owner=m, source="website", created_at=local(3, 3, 23, 30)),  # before
        # 9 Mar 00:30 Sofia = 8 Mar (a Sunday) 22:30 UTC: week 2 here, week 1 in UTC.
        "p3": PersonFactory(owner=o, source="website", created_at=local(3, 9, 0, 30)),
        "p4": PersonFactory(owner=m, source="referral", created_at=local(3, 17, 23, 59)),  # wk 3
        "p5": PersonFactory(owner=m, source="referral", created_at=local(3, 18)),  # the end: out
    }
    _lead(local(3, 5, 10), people["p1"], "website")  # week 1
    _lead(local(3, 5, 11), people["p1"], "website")  # week 1: the same person's second request
    _lead(local(3, 10, 10), None, "referral")  # week 2: still in the inbox, no person yet
    _lead(local(3, 18), people["p4"], "website")  # the end: out
    _lead(local(3, 3, 23, 59), people["p1"], "website")  # before: out

    k1_opened = local(3, 4, 9)
    deals = {
        # S1, S2 (key, week 1), back to S1, S2 again at 9 Mar 00:30 Sofia (key, week 2), won
        # 10 Mar 09:00 (week 2) for 1000 EUR.
        "k1": _deal(
            pipeline,
            k1_opened,
            [
                enter(s1),
                move(s2, 2),
                move(s1, 24),
                move(s2, hours(k1_opened, local(3, 9, 0, 30))),
                won(hours(k1_opened, local(3, 10, 9))),
            ],
            owner=m,
            person=people["p1"],
            amount="1000",
        ),
        # Opened at the key stage S2 on 16 Mar (key, week 3), open.
        "k2": _deal(pipeline, local(3, 16, 10), [enter(s2)], owner=m, person=people["p1"]),
        # Reached S2 before the window (3 Mar 23:00 Sofia), then S3; won 17 Mar 23:30 (week 3)
        # for 500 EUR.
        "k3": _deal(
            pipeline,
            local(3, 3, 20),
            [
                enter(s1),
                move(s2, 3),
                move(s3, 30),
                won(hours(local(3, 3, 20), local(3, 17, 23, 30))),
            ],
            owner=m,
            person=people["p4"],
            amount="500",
        ),
        # Q: opened at its key stage 12 Mar (week 2), won 13 Mar (week 2) for 2000 USD.
        "k4": _deal(
            other, local(3, 12, 10), [enter(q1), won(24)], owner=o, amount="2000", currency="USD"
        ),
        # Won exactly at the window's end: out.
        "k5": _deal(
            pipeline,
            local(3, 1),
            [enter(s1), won(hours(local(3, 1), local(3, 18)))],
            owner=m,
            amount="700",
        ),
        # Won exactly at the window's start (week 1) for 300 EUR.
        "k6": _deal(
            pipeline,
            local(2, 20),
            [enter(s1), won(hours(local(2, 20), local(3, 4)))],
            owner=o,
            amount="300",
        ),
    }
    return World(cast=cast, pipeline=pipeline, other=other, people=people, deals=deals)


def run(period: str = "week", **filters: Any) -> dict[str, Any]:
    return REPORT.run(ReportFilter(date_from=FROM, date_to=TO, **filters), period=period)


def totals(
    leads: int, requests: int, meetings: int, won: int, revenue: float, other: int = 0
) -> dict[str, Any]:
    return {
        "leads": leads,
        "requests": requests,
        "key_meetings": meetings,
        "deals_won": won,
        "revenue": revenue,
        "deals_won_other_currency": other,
    }


def test_weekly_series(world: World) -> None:
    report = run()
    # Leads p1 (wk 1), p3 (wk 2 in Sofia time), p4 (wk 3); p2 before, p5 at the end.
    # Requests: p1's two (wk 1), the inbox one (wk 2).
    # Key meetings: k1 enters S2 twice (wk 1, wk 2: the re-entry counts), k4 opened at Q's key
    # stage (wk 2), k2 opened at S2 (wk 3); k3 entered S2 before the window.
    # Won: k6 (wk 1, 300, at the start), k1 (wk 2, 1000), k4 (wk 2, USD: not in the revenue),
    # k3 (wk 3, 500); k5 at the end is out. Revenue 300 + 1000 + 500 = 1800.
    assert report["series"] == [
        {
            "start": "2026-03-04",
            "end": "2026-03-09",
            "leads": 1,
            "requests": 2,
            "key_meetings": 1,
            "deals_won": 1,
            "revenue": 300.0,
        },
        {
            "start": "2026-03-09",
            "end": "2026-03-16",
            "leads": 1,
            "requests": 1,
            "key_meetings": 2,
            "deals_won": 2,
            "revenue": 1000.0,
        },
        {
            "start": "2026-03-16",
            "end": "2026-03-18",
            "leads": 1,
            "requests": 0,
            "key_meetings": 1,
            "deals_won": 1,
            "revenue": 500.0,
        },
    ]
    assert report["totals"] == totals(3, 3, 4, 4, 1800.0, other=1)
    assert report["period"] == "week"
    assert report["currency"] == "EUR"
    assert report["filter"]["from"] == "2026-03-04"


def test_daily_series_has_every_day(world: World) -> None:
    report = run("day")
    series = {row["start"]: row for row in report["series"]}
    assert len(report["series"]) == 14  # 4..17 March
    assert all(
        row["end"] == (dt.date.fromisoformat(row["start"]) + dt.timedelta(days=1)).isoformat()
        for row in report["series"]
    )
    # 4 Mar: p1, k1 enters S2, k6 won (300). 8 Mar (Sunday): nothing (p3 and k1's re-entry are
    # on 9 Mar in Sofia although 8 Mar in UTC). 9 Mar: p3 and k1's re-entry.
    assert series["2026-03-04"] == {
        "start": "2026-03-04",
        "end": "2026-03-05",
        "leads": 1,
        "requests": 0,
        "key_meetings": 1,
        "deals_won": 1,
        "revenue": 300.0,
    }
    assert series["2026-03-08"] == {
        "start": "2026-03-08",
        "end": "2026-03-09",
        "leads": 0,
        "requests": 0,
        "key_meetings": 0,
        "deals_won": 0,
        "revenue": 0.0,
    }
    assert (series["2026-03-09"]["leads"], series["2026-03-09"]["key_meetings"]) == (1, 1)
    assert series["2026-03-05"]["requests"] == 2
    assert series["2026-03-17"]["leads"] == 1  # p4 at 23:59
    assert series["2026-03-17"]["revenue"] == 500.0  # k3 at 23:30
    assert report["totals"] == run()["totals"]


def test_monthly_series_is_clipped_and_keeps_empty_months(world: World) -> None:
    report = REPORT.run(
        ReportFilter(date_from=dt.date(2026, 1, 15), date_to=dt.date(2026, 3, 10)), period="month"
    )
    # Up to 10 Mar (not included): leads p2 (3 Mar), p1, p3; requests p1's three (3 and 5 Mar);
    # key meetings k3 (3 Mar 23:00), k1 twice; won k6. k1's win (10 Mar 09:00) is out.
    assert report["series"] == [
        {
            "start": "2026-01-15",
            "end": "2026-02-01",
            "leads": 0,
            "requests": 0,
            "key_meetings": 0,
            "deals_won": 0,
            "revenue": 0.0,
        },
        {
            "start": "2026-02-01",
            "end": "2026-03-01",
            "leads": 0,
            "requests": 0,
            "key_meetings": 0,
            "deals_won": 0,
            "revenue": 0.0,
        },
        {
            "start": "2026-03-01",
            "end": "2026-03-10",
            "leads": 3,
            "requests": 3,
            "key_meetings": 3,
            "deals_won": 1,
            "revenue": 300.0,
        },
    ]


def test_manager_filter(world: World) -> None:
    report = run(manager=world.cast.manager)
    # The manager's people p1 p4; p1's two requests; k1 twice, k2; won k1 (1000), k3 (500).
    assert report["totals"] == totals(2, 2, 3, 2, 1500.0)


def test_team_filter(world: World) -> None:
    report = run(team=world.cast.outsider.team)
    # Team B (the outsider): p3; no request; k4; won k4 (USD) and k6 (300).
    assert report["totals"] == totals(1, 0, 1, 2, 300.0, other=1)


def test_pipeline_filter(world: World) -> None:
    report = run(pipeline=world.pipeline)
    # People with a deal in P: p1 (k1 and k2: counted once) and p4 (k3). Their requests: p1's
    # two in the window (each once, though p1 has two deals there). Key meetings k1 twice, k2;
    # won k1, k3, k6 = 1800. Q's k4 is out.
    assert report["totals"] == totals(2, 2, 3, 3, 1800.0)


def test_segment_filter(world: World) -> None:
    report = run(segment=world.other.segment)
    # Q's segment: nobody recorded in the window has a deal there; k4 only.
    assert report["totals"] == totals(0, 0, 1, 1, 0.0, other=1)


def test_source_filter(world: World) -> None:
    report = run(source="referral")
    # People from referrals: p4 (p5 at the end is out); requests with their own source
    # "referral": the inbox one; deals of referral people: k3 (won, 500).
    assert report["totals"] == totals(1, 1, 0, 1, 500.0)


def test_a_manager_sees_only_their_own_numbers(world: World) -> None:
    assert run(viewer=world.cast.manager)["totals"] == totals(2, 2, 3, 2, 1500.0)
    assert run(viewer=world.cast.outsider)["totals"] == totals(1, 0, 1, 2, 300.0, other=1)
    # The head of team A: the manager's numbers plus what nobody owns (the inbox request).
    assert run(viewer=world.cast.head)["totals"] == totals(2, 3, 3, 2, 1500.0)
    assert run(viewer=world.cast.owner) == run()


def test_utc_account_buckets_by_utc_days(world: World, settings: Settings) -> None:
    settings.TIME_ZONE = "UTC"
    report = run()
    # The window is now [4 Mar, 18 Mar) UTC = [4 Mar 02:00, 18 Mar 02:00) Sofia: p1 (3 Mar
    # 22:30 UTC) and k6's win (3 Mar 22:00 UTC) fall out, p5 (17 Mar 22:00 UTC) and k5's win
    # (700) come in; p3 and k1's re-entry (8 Mar 22:30 UTC) move to week 1.
    assert report["series"][0]["leads"] == 1  # p3
    assert report["series"][0]["key_meetings"] == 2  # k1's two entries
    assert report["totals"]["leads"] == 3  # p3 p4 p5
    assert report["totals"]["revenue"] == 2200.0  # 1000 + 500 + 700


def _many(cast: Cast, pipeline: Pipeline, n: int) -> None:
    stages = list(pipeline.stages.order_by("position"))
    for i in range(n):
        person = PersonFactory(owner=cast.manager, created_at=local(3, 4 + i % 13, 12))
        _lead(local(3, 4 + i % 13, 13), person, "website")
        _deal(
            pipeline,
            local(3, 4 + i % 13, 9),
            [enter(stages[0]), move(stages[1], 1), won(2)],
            owner=cast.manager,
            person=person,
            amount="10",
        )


def test_fixed_number_of_queries(world: World) -> None:
    _many(world.cast, world.pipeline, 2)
    with CaptureQueriesContext(connection) as small:
        small_report = run("day")
    _many(world.cast, world.pipeline, 18)
    with CaptureQueriesContext(connection) as large:
        large_report = run("day")
    # 3 + 2 and 3 + 20 leads; 4 + 2 and 4 + 20 key meetings.
    assert small_report["totals"]["leads"] == 5
    assert large_report["totals"]["leads"] == 23
    assert large_report["totals"]["key_meetings"] == 24
    assert len(small.captured_queries) == len(large.captured_queries) == QUERIES


def api_as(user: User, settings: Settings) -> Api:
    settings.REDIS_URL = ""  # API rate limits counted in the database
    return Api(token_create(user=user, name="test", scopes=(TokenScope.READ,)).raw)


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "report", "key-counts", "--from", "2026-03-04", "--to", "2026-03-18", *args, stdout=out
    )
    return out.getvalue()


def test_command_and_api_give_the_report(world: World, settings: Settings) -> None:
    assert json.loads(_command("--format", "json")) == run()
    assert json.loads(_command("--period", "day")) == run("day")
    assert json.loads(_command("--team", "Team B"))["totals"] == totals(1, 0, 1, 2, 300.0, 1)
    csv = _command("--format", "csv").split("\r\n")
    assert csv[:2] == [
        "start,end,leads,requests,key_meetings,deals_won,revenue",
        "2026-03-04,2026-03-09,1,2,1,1,300.0",
    ]
    with pytest.raises(CommandError, match="--period: 'year' is not valid"):
        _command("--period", "year")

    api = api_as(world.cast.manager, settings)
    window = {"date_from": "2026-03-04", "date_to": "2026-03-18"}
    response = api.get("/api/v1/reports/key-counts", window)
    assert response.status_code == 200
    assert response.json() == run(viewer=world.cast.manager)
    monthly = api.get("/api/v1/reports/key-counts", {**window, "period": "month"})
    assert monthly.status_code == 200
    assert monthly.json() == run("month", viewer=world.cast.manager)
    assert api.get("/api/v1/reports/key-counts", {**window, "period": "year"}).status_code == 422


def test_web_page(world: World) -> None:
    client = Client()
    client.force_login(world.cast.owner)
    response = client.get(
        reverse("web:report", args=["key-counts"]),
        {"date_from": "2026-03-04", "date_to": "2026-03-18", "period": "day"},
    )
    assert response.status_code == 200
    assert response.context["data"] == run("day", viewer=world.cast.owner)
    assert "Key counts by period" in response.content.decode()


def test_tables_note_the_deals_in_another_currency(world: World) -> None:
    series, total = REPORT.tables(run())
    assert series.rows == run()["series"]
    assert total.rows == [run()["totals"]]
    assert "1 won deals in another currency" in str(series.note)
    assert "another currency" not in str(REPORT.tables(run(manager=world.cast.manager))[0].note)
