"""The `touches` report (DESIGN §4 "Touches to first sale", "Warming : closing ratio"; §5)
against a hand-built history whose every number is worked out by hand below."""

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
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.reports import REPORTS
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.testing.factories import (
    DealFactory,
    PersonFactory,
    TouchFactory,
    pipeline_with_stages,
)
from conveyor.touches.models import TouchKind

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MAR, APR = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
W0 = dt.datetime(2026, 3, 1, tzinfo=UTC)  # the window's start (account time zone UTC)
W1 = dt.datetime(2026, 4, 1, tzinfo=UTC)  # its end, not included
REPORT = REPORTS["touches"]
QUERIES = 3  # first sales by touch count; touches by user and kind; closing by step and outcome


def t(month: int, day: int, hour: float = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, tzinfo=UTC) + dt.timedelta(hours=hour)


def won_deal(
    pipeline: Pipeline,
    owner: User | None,
    closed_at: dt.datetime,
    *,
    purchase_number: int = 1,
    source: str = "website",
) -> Deal:
    deal: Deal = DealFactory(
        pipeline=pipeline,
        owner=owner,
        person=PersonFactory(owner=owner, source=source),
        status=DealStatus.WON,
        opened_at=closed_at - dt.timedelta(days=40),
        closed_at=closed_at,
        purchase_number=purchase_number,
        touches_to_win=0,
    )
    return deal


def open_deal(pipeline: Pipeline, owner: User | None) -> Deal:
    deal: Deal = DealFactory(
        pipeline=pipeline, owner=owner, person=PersonFactory(owner=owner), opened_at=t(2, 1)
    )
    return deal


def warm(deal: Deal | None, user: User | None, at: dt.datetime, n: int = 1, **kw: Any) -> None:
    person = deal.person if deal is not None else kw.pop("person")
    for _ in range(n):
        TouchFactory(deal=deal, person=person, user=user, at=at, kind=TouchKind.WARMING)


def close(
    deal: Deal | None, user: User | None, at: dt.datetime, step: str, outcome: str, n: int = 1
) -> None:
    assert deal is not None
    for _ in range(n):
        TouchFactory(
            deal=deal,
            person=deal.person,
            user=user,
            at=at,
            kind=TouchKind.CLOSING,
            step=step,
            outcome=outcome,
        )


@dataclass
class World:
    cast: Cast
    pipeline: Pipeline  # "P", in its own segment
    other: Pipeline  # "Q", in another segment
    deals: dict[str, Deal]


@pytest.fixture
def world(cast: Cast, pipeline: Pipeline) -> World:
    """The history of the tests below. Touches to first sale are counted in the comments."""
    m, o = cast.manager, cast.outsider
    other = pipeline_with_stages(["Q: asked"], name="Q")
    d = {
        # First purchases won in the window.
        "A": won_deal(pipeline, m, t(3, 10, 12)),
        "B": won_deal(pipeline, m, t(3, 15)),
        "C": won_deal(pipeline, m, t(3, 20)),
        "E": won_deal(pipeline, m, t(3, 25), source="referral"),
        "D": won_deal(other, o, t(3, 28)),
        # Not counted as first sales.
        "F": won_deal(pipeline, m, t(3, 18), purchase_number=2),  # a repeat purchase
        "G": won_deal(pipeline, m, W1),  # won exactly at the window's end
        "H": won_deal(pipeline, m, W0 - dt.timedelta(seconds=1)),  # won just before
        "I": open_deal(pipeline, m),
        "J": open_deal(other, o),
    }
    # A: 3 warming + 1 closing exactly at the win (included) = 4; 2 after the win left out.
    warm(d["A"], m, t(3, 2))
    warm(d["A"], m, t(3, 3))
    warm(d["A"], m, t(3, 4))
    close(d["A"], m, t(3, 10, 12), "invoice", "advanced")
    warm(d["A"], m, t(3, 11))
    close(d["A"], m, t(3, 12), "payment", "advanced")
    # B: no touches = 0.
    # C: 2 warming before the window (still before the win: counted) + 3 + 1 closing = 6.
    warm(d["C"], m, t(2, 10), n=2)
    warm(d["C"], m, t(3, 5), n=3)
    close(d["C"], m, t(3, 19), "meeting", "not_advanced")
    # E: 10 warming + 2 closing = 12.
    warm(d["E"], m, t(3, 21), n=10)
    close(d["E"], m, t(3, 24), "demo", "advanced")
    close(d["E"], m, t(3, 24, 10), "contract_review", "not_advanced")
    # D: 10 warming + 3 closing = 13.
    warm(d["D"], o, t(3, 26), n=10)
    close(d["D"], o, t(3, 27), "meeting", "advanced", n=2)
    close(d["D"], o, t(3, 27, 10), "invoice", "refused")
    # Touches on deals that are not first sales in the window.
    warm(d["F"], m, t(3, 17), n=3)
    warm(d["G"], m, t(3, 31, 14))  # 23:00 UTC on the last day: in the window
    warm(d["H"], m, t(2, 28))  # before the window
    # The manager's touches on a person without a deal: at the start (in), at the end (out).
    lone = PersonFactory(owner=m)
    warm(None, m, W0, person=lone)
    warm(None, m, W1, person=lone)
    # The head: one closing touch with no step or outcome (as an import may leave it) on I.
    TouchFactory(
        deal=d["I"], person=d["I"].person, user=cast.head, at=t(3, 6), kind=TouchKind.CLOSING
    )
    # The other head: 2 warming, no closing (ratio None), on J.
    warm(d["J"], cast.other_head, t(3, 7), n=2)
    # A touch by nobody on I: left out of the ratio.
    warm(d["I"], None, t(3, 8))
    return World(cast=cast, pipeline=pipeline, other=other, deals=d)


def run(**filters: Any) -> dict[str, Any]:
    return REPORT.run(ReportFilter(date_from=MAR, date_to=APR, **filters))


# Touches in the window per user:
#   manager: A 4W 2C (3 + the one after the win; the invoice and payment closings), C 3W 1C
#            (February's 2 are out), E 10W 2C, F 3W, G 1W, lone person 1W (the one at W1 is out)
#            -> 22 warming, 5 closing, ratio 4.4
#   outsider: D 10W 3C -> 3.3333;  head: 0W 1C -> 0.0;  other head: 2W 0C -> None.
MANAGER_ROW = {
    "email": "manager@example.com",
    "name": "Maria Manager",
    "warming": 22,
    "closing": 5,
    "ratio": 4.4,
}
OUTSIDER_ROW = {
    "email": "outsider@example.com",
    "name": "Oleg Outsider",
    "warming": 10,
    "closing": 3,
    "ratio": 3.3333,
}
HEAD_ROW = {
    "email": "head@example.com",
    "name": "Hristo Head",
    "warming": 0,
    "closing": 1,
    "ratio": 0.0,
}
OTHER_HEAD_ROW = {
    "email": "head-b@example.com",
    "name": "Boris Head",
    "warming": 2,
    "closing": 0,
    "ratio": None,
}


def test_whole_report(world: World) -> None:
    report = run()
    # First sales A 4, B 0, C 6, E 12, D 13 -> sorted [0, 4, 6, 12, 13]: median 6,
    # mean 35 / 5 = 7.0; 0-4: A B = 2/5, 5-12: C E = 2/5, 13+: D = 1/5.
    assert report["touches_to_first_sale"] == {
        "deals": 5,
        "median": 6.0,
        "mean": 7.0,
        "share_0_4": 0.4,
        "share_5_12": 0.4,
        "share_13_plus": 0.2,
    }
    assert report["touches_to_first_sale_distribution"] == [
        {"touches": 0, "deals": 1, "share": 0.2},
        {"touches": 4, "deals": 1, "share": 0.2},
        {"touches": 6, "deals": 1, "share": 0.2},
        {"touches": 12, "deals": 1, "share": 0.2},
        {"touches": 13, "deals": 1, "share": 0.2},
    ]
    assert report["warming_closing_ratio"] == {
        "head-b@example.com": None,
        "head@example.com": 0.0,
        "manager@example.com": 4.4,
        "outsider@example.com": 3.3333,
    }
    assert report["managers"] == [OTHER_HEAD_ROW, HEAD_ROW, MANAGER_ROW, OUTSIDER_ROW]
    # 22 + 10 + 0 + 2 = 34 warming, 5 + 3 + 1 = 9 closing (nobody's touch on I is left out).
    assert report["touches_in_window"] == {"warming": 34, "closing": 9, "ratio": 3.7778}
    # Closing touches in the window: A invoice/advanced, A payment/advanced, C meeting/not,
    # E demo/advanced, E contract_review/not, D meeting/advanced x2, D invoice/refused, head's.
    assert report["closing_by_step_outcome"] == [
        {"step": None, "outcome": None, "count": 1},
        {"step": "contract_review", "outcome": "not_advanced", "count": 1},
        {"step": "demo", "outcome": "advanced", "count": 1},
        {"step": "invoice", "outcome": "advanced", "count": 1},
        {"step": "invoice", "outcome": "refused", "count": 1},
        {"step": "meeting", "outcome": "advanced", "count": 2},
        {"step": "meeting", "outcome": "not_advanced", "count": 1},
        {"step": "payment", "outcome": "advanced", "count": 1},
    ]
    assert report["filter"]["from"] == "2026-03-01"


def test_empty_window(world: World) -> None:
    report = REPORT.run(ReportFilter(date_from=dt.date(2030, 1, 1), date_to=dt.date(2030, 2, 1)))
    assert report["touches_to_first_sale"] == {
        "deals": 0,
        "median": None,
        "mean": None,
        "share_0_4": None,
        "share_5_12": None,
        "share_13_plus": None,
    }
    assert report["warming_closing_ratio"] == {}
    assert report["closing_by_step_outcome"] == []
    assert report["touches_in_window"] == {"warming": 0, "closing": 0, "ratio": None}


def test_manager_filter(world: World) -> None:
    report = run(manager=world.cast.manager)
    # The manager's first sales A 4, B 0, C 6, E 12: median (4 + 6) / 2 = 5.0, mean 22 / 4 = 5.5;
    # 0-4: A B = 2/4, 5-12: C E = 2/4, 13+: none.
    assert report["touches_to_first_sale"] == {
        "deals": 4,
        "median": 5.0,
        "mean": 5.5,
        "share_0_4": 0.5,
        "share_5_12": 0.5,
        "share_13_plus": 0.0,
    }
    assert report["warming_closing_ratio"] == {"manager@example.com": 4.4}
    assert report["managers"] == [MANAGER_ROW]
    # Only the manager's closings: A invoice, A payment, C meeting, E demo, E contract_review.
    assert sum(row["count"] for row in report["closing_by_step_outcome"]) == 5


def test_team_filter(world: World) -> None:
    report = run(team=world.cast.outsider.team)
    # Team B: the outsider (D 13) and its head (2 warming on J).
    assert report["touches_to_first_sale"] == {
        "deals": 1,
        "median": 13.0,
        "mean": 13.0,
        "share_0_4": 0.0,
        "share_5_12": 0.0,
        "share_13_plus": 1.0,
    }
    assert report["warming_closing_ratio"] == {
        "head-b@example.com": None,
        "outsider@example.com": 3.3333,
    }
    assert report["closing_by_step_outcome"] == [
        {"step": "invoice", "outcome": "refused", "count": 1},
        {"step": "meeting", "outcome": "advanced", "count": 2},
    ]


def test_segment_filter(world: World) -> None:
    report = run(segment=world.pipeline.segment)
    # Deals in P's segment: first sales A B C E as for the manager. Touches on P's deals only:
    # the manager's 22 warming less the lone person's 1 = 21, 5 closing -> 4.2; the head's
    # closing on I -> 0.0. The outsider and other head touched only Q's deals.
    assert report["touches_to_first_sale"]["deals"] == 4
    assert report["touches_to_first_sale"]["median"] == 5.0
    assert report["warming_closing_ratio"] == {
        "head@example.com": 0.0,
        "manager@example.com": 4.2,
    }


def test_pipeline_filter(world: World) -> None:
    report = run(pipeline=world.other)
    # Q: first sale D (13); touches on D (outsider 10W 3C) and J (other head 2W).
    assert report["touches_to_first_sale"]["deals"] == 1
    assert report["touches_to_first_sale"]["median"] == 13.0
    assert report["managers"] == [OTHER_HEAD_ROW, OUTSIDER_ROW]


def test_source_filter(world: World) -> None:
    report = run(source="referral")
    # Only E's person came by referral: first sale E (12); its touches 10W 2C -> 5.0.
    assert report["touches_to_first_sale"] == {
        "deals": 1,
        "median": 12.0,
        "mean": 12.0,
        "share_0_4": 0.0,
        "share_5_12": 1.0,
        "share_13_plus": 0.0,
    }
    assert report["warming_closing_ratio"] == {"manager@example.com": 5.0}
    assert report["closing_by_step_outcome"] == [
        {"step": "contract_review", "outcome": "not_advanced", "count": 1},
        {"step": "demo", "outcome": "advanced", "count": 1},
    ]


def test_a_manager_sees_only_their_own_numbers(world: World) -> None:
    mine = run(viewer=world.cast.manager)
    assert mine["touches_to_first_sale"]["deals"] == 4  # A B C E
    assert mine["warming_closing_ratio"] == {"manager@example.com": 4.4}
    outsider = run(viewer=world.cast.outsider)
    assert outsider["touches_to_first_sale"]["deals"] == 1  # D
    assert outsider["warming_closing_ratio"] == {"outsider@example.com": 3.3333}
    # The head sees team A (the manager) and themselves, not team B.
    head = run(viewer=world.cast.head)
    assert head["touches_to_first_sale"]["deals"] == 4
    assert head["warming_closing_ratio"] == {"head@example.com": 0.0, "manager@example.com": 4.4}
    everyone = run(viewer=world.cast.owner)
    assert everyone == run()


def test_window_in_the_account_time_zone(
    cast: Cast, pipeline: Pipeline, settings: Settings
) -> None:
    # Sofia is UTC+2 until 29 March 2026, UTC+3 after: the window [1 Mar, 1 Apr) local is
    # [28 Feb 22:00 UTC, 31 Mar 21:00 UTC).
    settings.TIME_ZONE = "Europe/Sofia"
    m = cast.manager
    early = won_deal(pipeline, m, t(2, 28, 22.5))  # 1 Mar 00:30 local: in
    late = won_deal(pipeline, m, t(3, 31, 21))  # 1 Apr 00:00 local: out
    warm(early, m, t(2, 28, 21.5))  # 28 Feb 23:30 local: counts for the sale, not in the window
    warm(early, m, t(2, 28, 22))  # 1 Mar 00:00 local: in both
    close(late, m, t(3, 31, 20.5), "invoice", "advanced")  # 31 Mar 23:30 local: in the window
    warm(late, m, t(3, 31, 21))  # 1 Apr 00:00 local: out
    report = run()
    assert report["touches_to_first_sale"]["deals"] == 1
    assert report["touches_to_first_sale"]["median"] == 2.0
    assert report["managers"] == [{**MANAGER_ROW, "warming": 1, "closing": 1, "ratio": 1.0}]


def test_median_of_a_histogram() -> None:
    from conveyor.analytics.metrics.touches import _median

    # [1, 1, 1, 7] -> (1 + 1) / 2; [1, 7] -> 4; [2, 3, 3, 9, 9] -> 3; [5] -> 5.
    assert _median({1: 3, 7: 1}) == 1.0
    assert _median({1: 1, 7: 1}) == 4.0
    assert _median({9: 2, 2: 1, 3: 2}) == 3.0
    assert _median({5: 1}) == 5.0
    assert _median({}) is None


def _many(cast: Cast, pipeline: Pipeline, n: int) -> None:
    for i in range(n):
        deal = won_deal(pipeline, cast.manager, t(3, 2 + i % 25))
        warm(deal, cast.manager, t(3, 1), n=i % 4)
        close(deal, cast.outsider, t(3, 1, 1), "demo", "advanced")


def test_fixed_number_of_queries(cast: Cast, pipeline: Pipeline) -> None:
    _many(cast, pipeline, 2)
    with CaptureQueriesContext(connection) as small:
        small_report = run()
    _many(cast, pipeline, 18)
    with CaptureQueriesContext(connection) as large:
        large_report = run()
    assert small_report["touches_to_first_sale"]["deals"] == 2
    assert large_report["touches_to_first_sale"]["deals"] == 20
    assert len(small.captured_queries) == len(large.captured_queries) == QUERIES


def api_as(user: User, settings: Settings) -> Api:
    settings.REDIS_URL = ""  # API rate limits counted in the database
    return Api(token_create(user=user, name="test", scopes=(TokenScope.READ,)).raw)


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "report", "touches", "--from", "2026-03-01", "--to", "2026-04-01", *args, stdout=out
    )
    return out.getvalue()


def test_command_and_api_give_the_report(world: World, settings: Settings) -> None:
    assert json.loads(_command("--format", "json")) == run()
    assert json.loads(_command("--manager", "manager@example.com")) == run(
        manager=world.cast.manager
    )
    csv = _command("--format", "csv").split("\r\n")
    assert csv[:3] == ["touches,deals,share", "0,1,0.2", "4,1,0.2"]

    response = api_as(world.cast.manager, settings).get(
        "/api/v1/reports/touches", {"date_from": "2026-03-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    assert response.json() == run(viewer=world.cast.manager)
    assert response.json()["warming_closing_ratio"] == {"manager@example.com": 4.4}


def test_web_page(world: World) -> None:
    client = Client()
    client.force_login(world.cast.owner)
    response = client.get(
        reverse("web:report", args=["touches"]),
        {"date_from": "2026-03-01", "date_to": "2026-04-01"},
    )
    assert response.status_code == 200
    assert response.context["data"] == run(viewer=world.cast.owner)
    assert "Closing touches by step and outcome" in response.content.decode()


def test_tables(world: World) -> None:
    tables = REPORT.tables(run())
    steps = tables[-1].rows
    # Pivot of closing_by_step_outcome in the step order of ClosingStep, no step last.
    assert [row["step"] for row in steps] == [
        "Meeting",
        "Demo",
        "Contract review",
        "Invoice",
        "Payment",
        "(no step)",
    ]
    meeting = steps[0]
    assert (meeting["advanced"], meeting["not_advanced"], meeting["total"]) == (2, 1, 3)
    assert meeting["advanced_share"] == 0.6667  # 2 / 3
    managers = tables[2].rows
    assert managers[-1] == {
        "name": "Everyone",
        "email": "",
        "warming": 34,
        "closing": 9,
        "ratio": 3.7778,
    }
