"""The `conveyor` report (DESIGN §4 "Average check", "Repeat purchase rate", "Referral rate",
§5) against a hand-built set of people and won deals whose every number is worked out below."""

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

from conftest import Cast
from conveyor.accounts.models import TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import REPORTS, report_csv
from conveyor.api.tests.conftest import Api
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.pipelines.services import person_purchases_refresh
from conveyor.testing.factories import LossReasonFactory, PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
UTC = dt.UTC
REPORT = REPORTS["conveyor"]
QUERIES = 4  # leads, won deals of the window (checks), its new customers, customers at `to`


def t(text: str) -> dt.datetime:
    """An aware UTC time from 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Customers:
    """The people (by letter) and deals of the hand-built history."""

    main: Pipeline
    other: Pipeline
    people: dict[str, Person]
    deals: dict[str, Deal]


def person(
    name: str,
    created: str,
    owner: User,
    source: str = "website",
    referred_by: Person | None = None,
) -> Person:
    return PersonFactory(
        name=name, created_at=t(created), owner=owner, source=source, referred_by=referred_by
    )


def won_deal(
    who: Person,
    pipeline: Pipeline,
    closed: str,
    number: int,
    amount: str,
    currency: str = "EUR",
    owner: User | None = None,
) -> Deal:
    """A won deal as the services leave it: closed, purchase number set (a person's wins are
    numbered by win time), the person's purchase facts kept."""
    closed_at = t(closed)
    deal = Deal.objects.create(
        person=who,
        pipeline=pipeline,
        stage=pipeline.stages.get(position=1),
        owner=owner or who.owner,
        status=DealStatus.WON,
        amount=Decimal(amount),
        currency=currency,
        opened_at=closed_at - dt.timedelta(days=3),
        closed_at=closed_at,
        purchase_number=number,
        touches_to_win=0,
    )
    person_purchases_refresh(person_ids=[who.pk])
    return deal


def build_customers(cast: Cast, main: Pipeline) -> Customers:
    """Eleven people; `m` = the manager (team A), `h` = the head (team A), `o` = the outsider
    (team B). The window is [2026-01-01, 2026-04-01) UTC unless a test says otherwise.

    person  source    owner created            won deals (purchase number: time, amount)
    A       ads       m     2026-01-10         1: 01-20 100;  2: 2026-05-01 300 (after the window)
    B       ads       m     2025-12-01         1: 02-01 200                referred E
    C       website   m     2025-10-01         1: 2025-12-15 400;  2: 03-01 500   referred K
    D       website   m     2026-03-01         (a lost deal, 700)
    E       referral  m     2026-02-05 (by B)  1: 03-10 50
    F       website   m     2026-03-15         1: 2026-04-01 00:00 80 (the window's end)
    G       website   m     2026-03-20 (by A)  1: 2026-04-02 60 (after the window)
    H       website   o     2026-01-15         1: 01-25 1000 (in the other pipeline)
    J       website   h     2026-01-20         1: 02-10 999 USD
    K       website   m     2025-11-01 (by C)  1: 2025-11-20 30
    L       website   m     2025-12-31 22:30   1: 2025-12-31 22:40 10 (in Sofia's window only)
    """
    other = pipeline_with_stages(["Other: asked"], name="Other")
    m, h, o = cast.manager, cast.head, cast.outsider
    p: dict[str, Person] = {}
    p["A"] = person("A", "2026-01-10 09:00", m, "ads")
    p["B"] = person("B", "2025-12-01 09:00", m, "ads")
    p["C"] = person("C", "2025-10-01 09:00", m)
    p["D"] = person("D", "2026-03-01 09:00", m)
    p["E"] = person("E", "2026-02-05 09:00", m, "referral", referred_by=p["B"])
    p["F"] = person("F", "2026-03-15 09:00", m)
    p["G"] = person("G", "2026-03-20 09:00", m, referred_by=p["A"])
    p["H"] = person("H", "2026-01-15 09:00", o)
    p["J"] = person("J", "2026-01-20 09:00", h)
    p["K"] = person("K", "2025-11-01 09:00", m, referred_by=p["C"])
    p["L"] = person("L", "2025-12-31 22:30", m)
    d: dict[str, Deal] = {
        "A1": won_deal(p["A"], main, "2026-01-20 12:00", 1, "100"),
        "A2": won_deal(p["A"], main, "2026-05-01 12:00", 2, "300"),
        "B1": won_deal(p["B"], main, "2026-02-01 12:00", 1, "200"),
        "C1": won_deal(p["C"], main, "2025-12-15 12:00", 1, "400"),
        "C2": won_deal(p["C"], main, "2026-03-01 12:00", 2, "500"),
        "E1": won_deal(p["E"], main, "2026-03-10 12:00", 1, "50"),
        "F1": won_deal(p["F"], main, "2026-04-01 00:00", 1, "80"),
        "G1": won_deal(p["G"], main, "2026-04-02 12:00", 1, "60"),
        "H1": won_deal(p["H"], other, "2026-01-25 12:00", 1, "1000"),
        "J1": won_deal(p["J"], main, "2026-02-10 12:00", 1, "999", currency="USD"),
        "K1": won_deal(p["K"], main, "2025-11-20 12:00", 1, "30"),
        "L1": won_deal(p["L"], main, "2025-12-31 22:40", 1, "10"),
    }
    stage = main.stages.get(position=1)
    d["D1"] = Deal.objects.create(
        person=p["D"],
        pipeline=main,
        stage=stage,
        owner=m,
        status=DealStatus.LOST,
        amount=Decimal(700),
        opened_at=t("2026-03-01 10:00"),
        closed_at=t("2026-03-05 10:00"),
        lost_reason=LossReasonFactory(),
        lost_stage=stage,
    )
    return Customers(main=main, other=other, people=p, deals=d)


@pytest.fixture
def customers(cast: Cast, pipeline: Pipeline) -> Customers:
    return build_customers(cast, pipeline)


def _run(**filters: Any) -> dict[str, Any]:
    window = {"date_from": JAN, "date_to": APR} | {
        k: filters.pop(k) for k in ("date_from", "date_to") if k in filters
    }
    return REPORT.execute(ReportFilter(**window, **filters))


def _numbers(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its filter echo, for comparing numbers."""
    return {k: v for k, v in report.items() if k != "filter"}


def test_whole_report(customers: Customers) -> None:
    report = _run()
    # Leads, created in [01-01, 04-01) UTC: A D E F G H J = 7 (B C K before; L at 2025-12-31).
    # New customers, purchase 1 won in the window: A B E H J = 5 (C and K bought first in 2025,
    # L on 2025-12-31 22:40; F at exactly 04-01 00:00, the half-open end; G on 04-02).
    # Repeat: A (A2, won after the window: "any later time up to now") = 1, C's repeat does not
    # count (C's first purchase is before the window): 1 / 5 = 0.2.
    # Advocates among the 5: A (referred G, a customer since 04-02: up to now) and B (E) = 2.
    # Customers at `to` (a win before 04-01 00:00): A B C E H J K L = 8 (F and G not yet);
    # referrers among them: B (E, 03-10) and C (K, 2025-11-20); A's G bought only after `to`:
    # 2 / 8 = 0.25.
    # Average check of the EUR wins in the window: A1 100, B1 200, C2 500, E1 50, H1 1000
    # (J1 is in USD, D1 lost, F1 at the end, A2 after): all 1850 / 5 = 370.0;
    # first 1350 / 4 = 337.5; repeat 500 / 1 = 500.0.
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
        "currency": "EUR",
        "path": {"leads": 7, "customers": 5, "repeat_customers": 1, "advocates": 2},
        "repeat_purchase_rate": {"customers": 5, "repeat": 1, "rate": 0.2},
        "target_repeat_rate": 0.5,
        "referral_rate": {"customers": 8, "referrers": 2, "rate": 0.25},
        "average_check": {"all": 370.0, "first": 337.5, "repeat": 500.0},
        "won_deals": {"all": 5, "first": 4, "repeat": 1, "other_currency": 1},
        "revenue": {"all": 1850.0, "first": 1350.0, "repeat": 500.0},
    }


def test_tables(customers: Customers) -> None:
    report = _run()
    path, rates, checks = REPORT.tables(report)
    assert [row["people"] for row in path.rows] == [7, 5, 1, 2]
    assert path.bar == "people"
    assert [(row["people"], row["count"], row["rate"]) for row in rates.rows] == [
        (5, 1, 0.2),
        (8, 2, 0.25),
    ]
    # 20% is below the seeds' 50% mark.
    assert "below the 50% mark" in str(rates.note)
    assert [(row["deals"], row["average_check"]) for row in checks.rows] == [
        (5, 370.0),
        (4, 337.5),
        (1, 500.0),
    ]
    assert "1 deals won in other currencies" in str(checks.note)
    header, rows = report_csv(REPORT, report)
    assert header == ["process", "stage", "people"]
    assert [row[2] for row in rows] == [7, 5, 1, 2]


def test_rate_at_the_mark_is_said_to_be_above_it(customers: Customers) -> None:
    # Only the "ads" people: new customers A, B; A bought again: 1 / 2 = 0.5, at the mark.
    report = _run(source="ads")
    assert report["repeat_purchase_rate"] == {"customers": 2, "repeat": 1, "rate": 0.5}
    assert "at or above the 50% mark" in str(REPORT.tables(report)[1].note)


def test_window_is_half_open_in_the_account_time_zone(customers: Customers, settings: Any) -> None:
    # One day more: F's first purchase at 04-01 00:00 UTC is in; G's at 04-02 12:00 is not:
    # customers A B E F H J = 6; customers at `to` add F: 9.
    wider = _run(date_to=dt.date(2026, 4, 2))
    assert wider["repeat_purchase_rate"] == {"customers": 6, "repeat": 1, "rate": 0.1667}
    assert wider["referral_rate"]["customers"] == 9
    # Europe/Sofia is UTC+2 until 29 March, then UTC+3: the window is
    # [2025-12-31 22:00, 2026-03-31 21:00) UTC. L (recorded 22:30, bought 22:40 on 12-31) is in:
    # leads A D E F G H J L = 8; new customers A B E H J L = 6, repeat A: 1 / 6 = 0.1667;
    # advocates A B = 2. Customers at `to` are the same 8 (nothing was won between 03-31 21:00
    # and 04-01 00:00 UTC): 2 / 8. Average check adds L1's 10: 1860 / 6 = 310.0, first
    # 1360 / 5 = 272.0.
    settings.TIME_ZONE = "Europe/Sofia"
    sofia = _run()
    assert sofia["path"] == {"leads": 8, "customers": 6, "repeat_customers": 1, "advocates": 2}
    assert sofia["repeat_purchase_rate"]["rate"] == 0.1667
    assert sofia["referral_rate"] == {"customers": 8, "referrers": 2, "rate": 0.25}
    assert sofia["average_check"] == {"all": 310.0, "first": 272.0, "repeat": 500.0}


def test_filters_narrow_the_numbers(customers: Customers, cast: Cast) -> None:
    team_a = cast.manager.team
    team_b = cast.outsider.team
    assert team_a is not None and team_b is not None
    # The manager's own (not J, the head's; not H, the outsider's): leads A D E F G = 5;
    # new customers A B E = 3, repeat A: 1 / 3; advocates A B. Customers at `to`:
    # A B C E K L = 6, referrers B C: 2 / 6. Checks: 100 200 500 50 -> 850 / 4 = 212.5;
    # first 350 / 3 = 116.67 (116.666...); repeat 500.
    manager = _numbers(_run(manager=cast.manager))
    assert manager["path"] == {"leads": 5, "customers": 3, "repeat_customers": 1, "advocates": 2}
    assert manager["repeat_purchase_rate"]["rate"] == 0.3333
    assert manager["referral_rate"] == {"customers": 6, "referrers": 2, "rate": 0.3333}
    assert manager["average_check"] == {"all": 212.5, "first": 116.67, "repeat": 500.0}
    assert manager["won_deals"]["other_currency"] == 0
    # Team A = the manager's and the head's: adds J (lead, new customer in USD, customer at `to`)
    # leads 6; new customers 4, repeat 1 / 4 = 0.25; customers at `to` 7, 2 / 7 = 0.2857.
    team = _numbers(_run(team=team_a))
    assert team["path"] == {"leads": 6, "customers": 4, "repeat_customers": 1, "advocates": 2}
    assert team["repeat_purchase_rate"]["rate"] == 0.25
    assert team["referral_rate"] == {"customers": 7, "referrers": 2, "rate": 0.2857}
    assert team["average_check"] == manager["average_check"]  # J's is in USD
    assert team["won_deals"]["other_currency"] == 1
    # The main pipeline's segment: everything but H (the other pipeline) = team A's numbers.
    assert _numbers(_run(segment=customers.main.segment)) == team
    # Team B / the other pipeline: H alone, a lead and a new customer of 1000 who did not come
    # back (0 / 1) and referred nobody.
    only_h = {
        "path": {"leads": 1, "customers": 1, "repeat_customers": 0, "advocates": 0},
        "repeat_purchase_rate": {"customers": 1, "repeat": 0, "rate": 0.0},
        "referral_rate": {"customers": 1, "referrers": 0, "rate": 0.0},
        "average_check": {"all": 1000.0, "first": 1000.0, "repeat": None},
    }
    for narrowed in (_run(team=team_b), _run(pipeline=customers.other)):
        assert {key: narrowed[key] for key in only_h} == only_h
    # Source "ads": lead A; new customers A B, 1 / 2; customers at `to` A B, referrer B: 1 / 2;
    # checks 100 and 200: 150.0, no repeat purchase in the window.
    ads = _run(source="ads")
    assert ads["path"] == {"leads": 1, "customers": 2, "repeat_customers": 1, "advocates": 2}
    assert ads["referral_rate"] == {"customers": 2, "referrers": 1, "rate": 0.5}
    assert ads["average_check"] == {"all": 150.0, "first": 150.0, "repeat": None}


def test_each_viewer_sees_only_their_numbers(customers: Customers, cast: Cast) -> None:
    # A manager sees what the manager filter gives; the outsider sees H alone; the head sees
    # team A; the owner everything.
    assert _numbers(_run(viewer=cast.manager)) == _numbers(_run(manager=cast.manager))
    assert _numbers(_run(viewer=cast.outsider)) == _numbers(_run(team=cast.outsider.team))
    assert _numbers(_run(viewer=cast.head)) == _numbers(_run(team=cast.manager.team))
    assert _numbers(_run(viewer=cast.owner)) == _numbers(_run())


def test_empty_window(customers: Customers) -> None:
    report = _run(date_from=dt.date(2030, 1, 1), date_to=dt.date(2030, 2, 1))
    assert report["path"] == {"leads": 0, "customers": 0, "repeat_customers": 0, "advocates": 0}
    assert report["repeat_purchase_rate"] == {"customers": 0, "repeat": 0, "rate": None}
    # Everyone who ever bought is a customer at 2030-02-01: A B C E F G H J K L = 10;
    # referrers B (E), C (K), A (G, by now) = 3.
    assert report["referral_rate"] == {"customers": 10, "referrers": 3, "rate": 0.3}
    assert report["average_check"] == {"all": None, "first": None, "repeat": None}
    assert "nothing to compare" in str(REPORT.tables(report)[1].note)


def _count_queries() -> int:
    with CaptureQueriesContext(connection) as captured:
        _run(viewer=None)
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_data(customers: Customers, cast: Cast) -> None:
    assert _count_queries() == QUERIES
    main = customers.main
    for n in range(20):
        buyer = person(f"N{n}", f"2026-02-{n + 1:02d} 09:00", cast.manager)
        won_deal(buyer, main, f"2026-02-{n + 1:02d} 12:00", 1, "10")
        won_deal(buyer, main, f"2026-03-{n + 1:02d} 12:00", 2, "20")
        friend = person(f"R{n}", "2026-02-01 09:00", cast.manager, referred_by=buyer)
        won_deal(friend, main, "2026-03-25 12:00", 1, "5")
    assert _count_queries() == QUERIES
    # 5 + 20 buyers + 20 friends are new customers; A and the 20 buyers bought again.
    assert _run()["repeat_purchase_rate"] == {"customers": 45, "repeat": 21, "rate": 0.4667}


def test_command_and_api_return_the_report(customers: Customers, cast: Cast, settings: Any) -> None:
    settings.REDIS_URL = ""  # rate counting in the database, as in the API tests
    out = io.StringIO()
    call_command("report", "conveyor", "--from", "2026-01-01", "--to", "2026-04-01", stdout=out)
    expected = _run()
    assert json.loads(out.getvalue()) == expected
    api = Api(token_create(user=cast.owner, name="test", scopes=(TokenScope.READ,)).raw)
    response = api.get(
        "/api/v1/reports/conveyor", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    assert response.json() == expected
    mine = Api(token_create(user=cast.manager, name="test", scopes=(TokenScope.READ,)).raw)
    assert mine.get(
        "/api/v1/reports/conveyor", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    ).json()["path"] == {"leads": 5, "customers": 3, "repeat_customers": 1, "advocates": 2}
    csv = io.StringIO()
    call_command(
        "report", "conveyor", "--from", "2026-01-01", "--to", "2026-04-01", "--format", "csv",
        stdout=csv,
    )  # fmt: skip
    assert csv.getvalue().splitlines()[1:] == [
        "Lead generation,Leads,7",
        "Lead conversion,Customers (first purchase in the window),5",
        "Account management,Repeat customers,1",
        "Account management,Advocates (referred a customer),2",
    ]


def test_web_page_renders(customers: Customers, cast: Cast) -> None:
    from django.test import Client

    client = Client()
    client.force_login(cast.manager)
    response = client.get(
        "/reports/conveyor/", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    assert response.context["data"]["path"]["customers"] == 3
