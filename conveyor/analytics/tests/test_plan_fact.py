"""The `plan-fact` report against hand-made plans and won deals; every number is worked out in
the comments."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from freezegun import freeze_time
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import Holiday, SalesPlan, Team, TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics.plan_fact import REPORT, month_starts, plan_fact
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.testing.factories import PersonFactory, UserFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# The window [2026-01-15, 2026-03-10) overlaps January, February and March, each counted in full.
FROM, TO = dt.date(2026, 1, 15), dt.date(2026, 3, 10)
# "Now": Wednesday 2026-03-04, so March is the current month. March 2026 has 22 weekdays; the
# holiday on Tuesday 03-03 leaves 21 working days, of which 2 have begun by today (Mon 03-02 and
# Wed 03-04; Sunday 03-01 is not one).
NOW = dt.datetime(2026, 3, 4, 12, tzinfo=UTC)


def won(
    owner: User | None,
    closed_at: dt.datetime,
    amount: str,
    pipeline: Pipeline,
    *,
    source: str = "website",
    currency: str = "EUR",
    status: str = DealStatus.WON,
) -> Deal:
    return Deal.objects.create(
        person=PersonFactory(owner=owner, source=source),
        pipeline=pipeline,
        stage=pipeline.stages.get(position=1),
        owner=owner,
        amount=Decimal(amount),
        currency=currency,
        status=status,
        opened_at=closed_at - dt.timedelta(days=1),
        closed_at=closed_at if status != DealStatus.OPEN else None,
        purchase_number=1 if status == DealStatus.WON else None,
        touches_to_win=0 if status == DealStatus.WON else None,
    )


def plan(month: str, revenue: str, deals: int, **who: Any) -> SalesPlan:
    return SalesPlan.objects.create(
        month=dt.date.fromisoformat(f"{month}-01"), revenue=Decimal(revenue), deals=deals, **who
    )


@pytest.fixture
def team_a(cast: Cast) -> Team:
    assert cast.manager.team is not None
    return cast.manager.team


@pytest.fixture
def data(cast: Cast, pipeline: Pipeline, team_a: Team) -> Pipeline:
    """Plans and wins; returns the other pipeline."""
    other = pipeline_with_stages(["Other: asked"], name="Other")
    Holiday.objects.create(date=dt.date(2026, 3, 3), name="Liberation Day")
    m, head, outsider = cast.manager, cast.head, cast.outsider
    plan("2025-12", "9999", 9, user=m)  # outside the months
    plan("2026-01", "1000", 2, user=m)
    plan("2026-02", "2000", 4, user=m)
    plan("2026-03", "3000", 3, user=m)
    plan("2026-01", "400", 1, user=head)
    plan("2026-01", "500", 1, user=outsider)
    plan("2026-02", "5000", 5, team=team_a)  # Team A's own plan for February only
    # The manager's wins.
    won(m, dt.datetime(2026, 1, 10, 10, tzinfo=UTC), "300", pipeline)  # before FROM, still Jan
    won(m, dt.datetime(2026, 1, 31, 22, 30, tzinfo=UTC), "200", pipeline)  # Feb in Sofia
    won(m, dt.datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "50", pipeline)  # Jan in Sofia
    won(m, dt.datetime(2026, 2, 14, 10, tzinfo=UTC), "1000", pipeline)
    won(m, dt.datetime(2026, 2, 15, 10, tzinfo=UTC), "700", pipeline, currency="USD")
    won(m, dt.datetime(2026, 3, 2, 10, tzinfo=UTC), "400", pipeline)
    won(m, dt.datetime(2026, 3, 3, 10, tzinfo=UTC), "100", other, source="referral")
    won(m, dt.datetime(2026, 4, 1, tzinfo=UTC), "80", pipeline)  # the months' end: excluded
    won(m, dt.datetime(2026, 2, 20, tzinfo=UTC), "90", pipeline, status=DealStatus.OPEN)
    # Others.
    won(outsider, dt.datetime(2026, 1, 20, 10, tzinfo=UTC), "250", pipeline)
    won(head, dt.datetime(2026, 2, 5, 10, tzinfo=UTC), "600", pipeline)
    won(None, dt.datetime(2026, 2, 6, 10, tzinfo=UTC), "999", pipeline)  # nobody's: no row
    return other


def report(**kwargs: Any) -> dict[str, Any]:
    return plan_fact(ReportFilter(date_from=FROM, date_to=TO, **kwargs), NOW)


def numbers(row: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("plan_revenue", "fact_revenue", "revenue_pct", "plan_deals", "fact_deals")
    return tuple(row[key] for key in (*keys, "deals_pct", "run_rate_revenue", "run_rate_deals"))


def by_manager(data: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(row["month"], row["manager"]): numbers(row) for row in data["managers"]}


def by_team(data: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(row["month"], row["team"]): (row["plan_from"], *numbers(row)) for row in data["teams"]}


M, H, OUT = "manager@example.com", "head@example.com", "outsider@example.com"


def test_months_overlapping_the_window() -> None:
    assert month_starts(dt.date(2026, 1, 15), dt.date(2026, 3, 10)) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
    ]
    # Half-open: a window ending on March 1 does not touch March.
    assert month_starts(dt.date(2026, 1, 31), dt.date(2026, 3, 1)) == [
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
    ]
    assert month_starts(dt.date(2025, 12, 31), dt.date(2026, 1, 1)) == [dt.date(2025, 12, 1)]


def test_whole_report(cast: Cast, data: Pipeline) -> None:
    result = report()
    assert result["months"] == ["2026-01", "2026-02", "2026-03"]
    assert result["current_month"] == "2026-03"
    assert result["today"] == "2026-03-04"
    assert result["working_days"] == {"elapsed": 2, "in_month": 21}
    assert result["deals_won_other_currency"] == 1
    assert result["currency"] == "EUR"
    assert result["filter"]["from"] == "2026-01-15"
    # (plan revenue, fact revenue, revenue %, plan deals, fact deals, deals %, run rates)
    assert by_manager(result) == {
        # Plan 1000 / 2. Wins 01-10 300 (before the window's start, but January counts in full)
        # and 01-31 22:30 UTC 200; the 2025-12-31 one is December in UTC.
        # 500 / 1000 = 0.5; 2 / 2 = 1.0.
        ("2026-01", M): (1000.0, 500.0, 0.5, 2, 2, 1.0, None, None),
        # Plan 2000 / 4. Wins 1000 EUR + 700 USD (a deal, not revenue) -> 1000, 2 deals.
        ("2026-02", M): (2000.0, 1000.0, 0.5, 4, 2, 0.5, None, None),
        # Plan 3000 / 3. Wins 400 + 100 (the other pipeline) = 500, 2 deals (04-01 is April);
        # 500 / 3000 = 0.1667, 2 / 3 = 0.6667. Run rate: 500 / 2 * 21 = 5250; 2 / 2 * 21 = 21.
        ("2026-03", M): (3000.0, 500.0, 0.1667, 3, 2, 0.6667, 5250.0, 21.0),
        # The head planned 400 / 1 and won nothing in January.
        ("2026-01", H): (400.0, 0.0, 0.0, 1, 0, 0.0, None, None),
        # ... and won 600 in February with no plan.
        ("2026-02", H): (None, 600.0, None, None, 1, None, None, None),
        ("2026-01", OUT): (500.0, 250.0, 0.5, 1, 1, 1.0, None, None),
    }
    assert [(row["month"], row["manager"]) for row in result["managers"]] == [
        ("2026-01", H),
        ("2026-01", M),
        ("2026-01", OUT),
        ("2026-02", H),
        ("2026-02", M),
        ("2026-03", M),
    ]
    assert by_team(result) == {
        # No team plan in January: the members' 1000 + 400 = 1400 and 2 + 1 = 3 deals.
        # Fact: the manager's 500 / 2 (the head won nothing). 500 / 1400 = 0.3571, 2 / 3.
        ("2026-01", "Team A"): ("members", 1400.0, 500.0, 0.3571, 3, 2, 0.6667, None, None),
        # Team plan 5000 / 5. Fact: manager 1000 (+ the USD deal) and head 600: 1600, 3 deals.
        ("2026-02", "Team A"): ("team", 5000.0, 1600.0, 0.32, 5, 3, 0.6, None, None),
        # March: the manager's plan 3000 / 3, fact 500 / 2, run rate as the manager's.
        ("2026-03", "Team A"): ("members", 3000.0, 500.0, 0.1667, 3, 2, 0.6667, 5250.0, 21.0),
        ("2026-01", "Team B"): ("members", 500.0, 250.0, 0.5, 1, 1, 1.0, None, None),
    }


def test_month_in_the_account_time_zone(settings: Settings, cast: Cast, data: Pipeline) -> None:
    settings.TIME_ZONE = "Europe/Sofia"  # UTC+2 in winter
    months = by_manager(report())
    # 2025-12-31 23:30 UTC is January 1st 01:30 in Sofia; 01-31 22:30 UTC is February 1st.
    # January: 300 + 50 = 350, 2 deals; February: 1000 + 200 = 1200, 3 deals (with the USD one).
    assert months[("2026-01", M)][:6] == (1000.0, 350.0, 0.35, 2, 2, 1.0)
    assert months[("2026-02", M)][:6] == (2000.0, 1200.0, 0.6, 4, 3, 0.75)


def test_run_rate_only_in_the_current_month(cast: Cast, data: Pipeline) -> None:
    f = ReportFilter(date_from=FROM, date_to=TO)
    later = plan_fact(f, dt.datetime(2026, 5, 1, tzinfo=UTC))
    assert later["current_month"] is None
    assert later["working_days"] is None
    assert all(row["run_rate_revenue"] is None for row in later["managers"] + later["teams"])
    assert by_manager(later)[("2026-03", M)][:6] == (3000.0, 500.0, 0.1667, 3, 2, 0.6667)
    # Sunday March 1st: no working day of March has begun, so there is no rate to project.
    sunday = plan_fact(
        ReportFilter(date_from=FROM, date_to=TO), dt.datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert sunday["current_month"] == "2026-03"
    assert sunday["working_days"] == {"elapsed": 0, "in_month": 21}
    assert by_manager(sunday)[("2026-03", M)][6:] == (None, None)
    # Monday March 2nd: one working day, so 500 / 1 * 21 = 10500 and 2 * 21 = 42.
    monday = plan_fact(
        ReportFilter(date_from=FROM, date_to=TO), dt.datetime(2026, 3, 2, tzinfo=UTC)
    )
    assert by_manager(monday)[("2026-03", M)][6:] == (10500.0, 42.0)


def test_filters_narrow(cast: Cast, pipeline: Pipeline, data: Pipeline, team_a: Team) -> None:
    # One manager: only their rows, and no team rows (a team's plan is not one person's).
    mine = report(manager=cast.manager)
    assert {key[1] for key in by_manager(mine)} == {M}
    assert mine["teams"] == []
    # Team B: the outsider and Team B only.
    team_b = Team.objects.get(name="Team B")
    theirs = report(team=team_b)
    assert by_manager(theirs) == {("2026-01", OUT): (500.0, 250.0, 0.5, 1, 1, 1.0, None, None)}
    assert list(by_team(theirs)) == [("2026-01", "Team B")]
    # The pipeline narrows the fact (March loses the other pipeline's 100), not the plan:
    # 400 / 3000 = 0.1333, 1 / 3; run rate 400 / 2 * 21 = 4200, 1 / 2 * 21 = 10.5.
    one_pipeline = by_manager(report(pipeline=pipeline))
    assert one_pipeline[("2026-03", M)] == (3000.0, 400.0, 0.1333, 3, 1, 0.3333, 4200.0, 10.5)
    # The source: only the referral won in March; other months keep their plans, with no fact.
    referral = by_manager(report(source="referral"))
    assert referral[("2026-03", M)] == (3000.0, 100.0, 0.0333, 3, 1, 0.3333, 1050.0, 10.5)
    assert referral[("2026-02", M)] == (2000.0, 0.0, 0.0, 4, 0, 0.0, None, None)
    assert ("2026-02", H) not in referral  # no plan and no fact
    # The segment of the other pipeline: the same single win.
    segment = by_manager(report(segment=data.segment))
    assert segment[("2026-03", M)][1] == 100.0


def test_viewer_sees_only_what_they_may(cast: Cast, data: Pipeline) -> None:
    as_manager = report(viewer=cast.manager)
    assert {key[1] for key in by_manager(as_manager)} == {M}
    assert as_manager["teams"] == []  # a manager sees only their own numbers
    as_head = report(viewer=cast.head)
    assert {key[1] for key in by_manager(as_head)} == {M, H}
    assert {key[1] for key in by_team(as_head)} == {"Team A"}
    as_other_head = report(viewer=cast.other_head)
    assert {key[1] for key in by_manager(as_other_head)} == {OUT}
    assert {key[1] for key in by_team(as_other_head)} == {"Team B"}
    as_owner = report(viewer=cast.owner)
    assert by_manager(as_owner) == by_manager(report())
    assert by_team(as_owner) == by_team(report())


def test_fixed_number_of_queries(cast: Cast, pipeline: Pipeline, team_a: Team) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            report()
        return len(captured.captured_queries)

    plan("2026-01", "1000", 2, user=cast.manager)
    plan("2026-02", "1000", 2, team=team_a)
    for day in (5, 6):
        won(cast.manager, dt.datetime(2026, 1, day, tzinfo=UTC), "10", pipeline)
    few = count()
    for day in range(1, 19):
        owner = (cast.manager, cast.head, cast.outsider)[day % 3]
        won(owner, dt.datetime(2026, 2, day, tzinfo=UTC), "10", pipeline)
        plan("2026-03", "10", 1, user=UserFactory(team=team_a))
    # Teams, plans, won deals grouped, their owners, and March's holidays (March is current).
    assert few == count() == 5


def test_command_and_api_return_the_report(cast: Cast, data: Pipeline) -> None:
    api = Api(token_create(user=cast.head, name="t", scopes=(TokenScope.READ,)).raw)
    resolve("/api/v1/reports/plan-fact")  # load the API before freezing the clock (pydantic)
    with freeze_time(NOW):
        out = io.StringIO()
        call_command(
            "report", "plan-fact", "--from", "2026-01-15", "--to", "2026-03-10", stdout=out
        )
        expected = REPORT.run(ReportFilter(date_from=FROM, date_to=TO))
        response = api.get(
            "/api/v1/reports/plan-fact", {"date_from": "2026-01-15", "date_to": "2026-03-10"}
        )
        as_head = REPORT.run(ReportFilter(date_from=FROM, date_to=TO, viewer=cast.head))
    assert json.loads(out.getvalue()) == expected
    assert expected["current_month"] == "2026-03"  # the clock was frozen
    assert by_manager(expected) == by_manager(report())
    assert response.status_code == 200
    assert response.json() == as_head
    assert {row["team"] for row in as_head["teams"]} == {"Team A"}
