"""The `costs` report: cost per lead and per customer by channel (DESIGN §4, §5) and the funnel
design check of the seeds, against hand-built histories whose numbers are worked out below."""

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
from conveyor.analytics.models import Expense
from conveyor.analytics.reports import REPORTS, report_csv
from conveyor.analytics.tests.history import at, build_deal, enter, lost, move, won
from conveyor.analytics.tests.test_conveyor_report import Customers, build_customers
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, Pipeline, Process, Stage
from conveyor.testing.factories import LossReasonFactory, TouchFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
REPORT = REPORTS["costs"]
# Expenses, leads by source, new customers by source; stages, losses, touches, time by stage.
QUERIES = 7


def _run(**filters: Any) -> dict[str, Any]:
    window = {"date_from": JAN, "date_to": APR} | {
        k: filters.pop(k) for k in ("date_from", "date_to") if k in filters
    }
    return REPORT.execute(ReportFilter(**window, **filters))


def expense(channel: str, start: str, end: str, amount: str) -> Expense:
    return Expense.objects.create(
        channel=channel,
        period_start=dt.date.fromisoformat(start),
        period_end=dt.date.fromisoformat(end),
        amount=Decimal(amount),
    )


# --- Cost by channel -------------------------------------------------------------------------


@pytest.fixture
def spend(cast: Cast, pipeline: Pipeline) -> Customers:
    """The people of test_conveyor_report (sources: A B "ads", E "referral", the rest
    "website") and expenses; the window [2026-01-01, 2026-04-01) has 31 + 28 + 31 = 90 days."""
    customers = build_customers(cast, pipeline)
    expense("ads", "2026-01-01", "2026-03-31", "900")  # all 90 days inside: 900
    expense("ads", "2025-12-17", "2026-01-15", "300")  # 30 days, 01-01..01-15 inside: 150
    expense("website", "2026-03-17", "2026-04-15", "600")  # 30 days, 03-17..03-31 inside: 300
    expense("website", "2026-03-31", "2026-04-02", "100")  # 3 days, 03-31 inside: 33.333...
    expense("website", "2026-04-01", "2026-04-30", "500")  # starts at the window's end: out
    expense("email", "2025-12-01", "2025-12-31", "100")  # ends the day before: out
    expense("print", "2026-02-01", "2026-02-28", "100")  # inside: 100
    return customers


def _channels(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        row["channel"]: (
            row["expenses"],
            row["leads"],
            row["customers"],
            row["cost_per_lead"],
            row["cost_per_customer"],
        )
        for row in report["channels"]
    }


def test_cost_per_lead_and_per_customer(spend: Customers) -> None:
    report = _run()
    # Leads (recorded in the window) by source: ads A; website D F G H J; referral E.
    # New customers (first purchase in the window): ads A B; website H J; referral E.
    # ads: 900 + 150 = 1050 -> per lead 1050 / 1, per customer 1050 / 2 = 525.
    # website: 300 + 100 / 3 = 333.333... -> 333.33; per lead / 5 = 66.666... -> 66.67;
    #   per customer / 2 = 166.666... -> 166.67 (from the exact sum, rounded once).
    # print: 100, nobody -> None, None. referral: no spend -> 0.0 per person. email: nothing in
    # the window, no people -> not listed.
    assert report["cost_per_lead"] == {
        "ads": 1050.0,
        "print": None,
        "referral": 0.0,
        "website": 66.67,
    }
    assert report["cost_per_customer"] == {
        "ads": 525.0,
        "print": None,
        "referral": 0.0,
        "website": 166.67,
    }
    assert report["channels"] == [
        {
            "channel": "ads",
            "expenses": 1050.0,
            "leads": 1,
            "customers": 2,
            "cost_per_lead": 1050.0,
            "cost_per_customer": 525.0,
        },
        {
            "channel": "print",
            "expenses": 100.0,
            "leads": 0,
            "customers": 0,
            "cost_per_lead": None,
            "cost_per_customer": None,
        },
        {
            "channel": "referral",
            "expenses": 0.0,
            "leads": 1,
            "customers": 1,
            "cost_per_lead": 0.0,
            "cost_per_customer": 0.0,
        },
        {
            "channel": "website",
            "expenses": 333.33,
            "leads": 5,
            "customers": 2,
            "cost_per_lead": 66.67,
            "cost_per_customer": 166.67,
        },
    ]
    header, rows = report_csv(REPORT, report)
    assert header == [
        "channel",
        "expenses",
        "leads",
        "customers",
        "cost_per_lead",
        "cost_per_customer",
    ]
    assert rows[0] == ["ads", 1050.0, 1, 2, 1050.0, 525.0]


def test_window_edges_of_the_expenses(spend: Customers) -> None:
    # [03-31, 04-02), two days. ads: 900 / 90 days for 03-31 = 10. website: 600 / 30 a day
    # for 03-31 and 04-01 = 40; 100 / 3 days * 2 = 66.666...; 500 / 30 for 04-01 = 16.666...:
    # 123.333... -> 123.33. print: out. Nobody was recorded then; F (first purchase at
    # 04-01 00:00) is a new website customer: 123.333... / 1 = 123.33.
    report = _channels(_run(date_from=dt.date(2026, 3, 31), date_to=dt.date(2026, 4, 2)))
    assert report["ads"] == (10.0, 0, 0, None, None)
    assert report["website"] == (123.33, 0, 1, None, 123.33)
    assert "print" not in report


def test_time_zone_moves_the_people_not_the_days(spend: Customers, settings: Any) -> None:
    # Europe/Sofia: the window is [2025-12-31 22:00, 2026-03-31 21:00) UTC; L (website,
    # recorded 12-31 22:30, first purchase 22:40) joins: 6 leads, 3 customers (H J L); the
    # expenses are by calendar day and stay 333.333...: / 6 = 55.56, / 3 = 111.11.
    settings.TIME_ZONE = "Europe/Sofia"
    assert _channels(_run())["website"] == (333.33, 6, 3, 55.56, 111.11)


def test_filters_narrow_the_people_not_the_spend(spend: Customers, cast: Cast) -> None:
    # The manager's people: leads ads A, website D F G (H is the outsider's, J the head's),
    # referral E; new customers ads A B, referral E, website none.
    # website: 333.333... / 3 = 111.11, per customer None.
    manager = _channels(_run(manager=cast.manager))
    assert manager["ads"] == (1050.0, 1, 2, 1050.0, 525.0)
    assert manager["website"] == (333.33, 3, 0, 111.11, None)
    assert manager["referral"] == (0.0, 1, 1, 0.0, 0.0)
    assert _channels(_run(viewer=cast.manager)) == manager
    # Team B (the outsider's) and the other pipeline: H alone, a website lead and customer.
    for narrowed in (
        _run(team=cast.outsider.team),
        _run(pipeline=spend.other),
        _run(viewer=cast.outsider),
    ):
        channels = _channels(narrowed)
        assert channels["website"] == (333.33, 1, 1, 333.33, 333.33)
        assert channels["ads"] == (1050.0, 0, 0, None, None)
        assert "referral" not in channels
    # The source is the channel: the other channels' expenses go too.
    assert _channels(_run(source="website")) == {"website": (333.33, 5, 2, 66.67, 166.67)}


# --- Funnel design check ---------------------------------------------------------------------


@dataclass
class Design:
    good: Pipeline
    bad: Pipeline
    deals: dict[str, Deal]


def _touch(deal: Deal, hours: float) -> None:
    """A touch on `deal`, `hours` after it was opened."""
    TouchFactory(deal=deal, person=deal.person, at=deal.opened_at + dt.timedelta(hours=hours))


def _own(owner: User, *deals: Deal) -> None:
    for deal in deals:
        Deal.objects.filter(pk=deal.pk).update(owner=owner)
        deal.person.owner = owner
        deal.person.save()


@pytest.fixture
def design(cast: Cast, pipeline: Pipeline) -> Design:
    """Two pipelines of four stages (S1 Left a request, S2 Told us the task, S3 Received the
    offer, S4 Agreed terms).

    "Bad": the key meeting is S3 (3rd of 4, the back half); most losses at S3 while S2 takes
    most of the touches. "Good" (the `pipeline` fixture): the key meeting is S2 (2nd of 4, the
    front half) and most losses happen at S1, before any expensive step.
    """
    reason = LossReasonFactory(name="No budget")
    bad = pipeline_with_stages(name="Bad")
    b1, b2, b3, _b4 = bad.stages.order_by("position")
    Stage.objects.filter(pk=b3.pk).update(is_key_meeting=True)
    day = at("2026-02-02")  # 09:00 UTC
    deals = {
        # S1 10h, S2 10h, S3 10h, lost at S3.
        "d1": build_deal(bad, day, [enter(b1), move(b2, 10), move(b3, 20), lost(30)],
                         lost_reason=reason),
        # S1 5h, S2 5h, S3 30h, lost at S3.
        "d2": build_deal(bad, day, [enter(b1), move(b2, 5), move(b3, 10), lost(40)],
                         lost_reason=reason),
        # S1 1h, lost at S1.
        "d4": build_deal(bad, day, [enter(b1), lost(1)], lost_reason=reason),
        # S1 2h, S2 running (open).
        "d5": build_deal(bad, day, [enter(b1), move(b2, 2)]),
        # Opened before the window: none of it counts.
        "before": build_deal(bad, at("2025-12-20"), [enter(b1), lost(5)], lost_reason=reason),
    }  # fmt: skip
    # d1: +1h in S1; +11h, +12h, +15h in S2; -1h (before it was opened) and +31h (after it was
    # lost) in no stage.
    for hours in (1, 11, 12, 15, -1, 31):
        _touch(deals["d1"], hours)
    # d2: +6h, +7h in S2; +10h, the very moment it entered S3, in S3 (a stay is [in, out)).
    for hours in (6, 7, 10):
        _touch(deals["d2"], hours)
    _touch(deals["d5"], 3)  # in S2, a stay still running
    for hours in (1, 2, 3):
        _touch(deals["before"], hours)
    _own(cast.manager, deals["d1"])
    _own(cast.outsider, deals["d2"], deals["d4"], deals["d5"])

    g1, g2, g3, _g4 = pipeline.stages.order_by("position")
    Stage.objects.filter(pk=g2.pk).update(is_key_meeting=True)
    deals["g1"] = build_deal(pipeline, day, [enter(g1), lost(2)], lost_reason=reason)
    deals["g2"] = build_deal(pipeline, day, [enter(g1), lost(3)], lost_reason=reason)
    deals["g3"] = build_deal(pipeline, day, [enter(g1), move(g2, 1), move(g3, 5), won(20)])
    for hours in (2, 3, 6, 7, 8):  # S2, S2, S3, S3, S3
        _touch(deals["g3"], hours)
    _own(cast.manager, deals["g1"], deals["g2"], deals["g3"])

    # Not checked unless chosen: another process, and an inactive pipeline.
    pipeline_with_stages(name="Account management", process=Process.ACCOUNT_MANAGEMENT)
    pipeline_with_stages(name="Old", is_active=False)
    return Design(good=pipeline, bad=bad, deals=deals)


BAD_STAGES = [
    # Cohort d1 d2 d4 d5 (not "before"). Lost: S1 1 (d4), S3 2 (d1 d2): 3.
    # Touches: S1 1 (d1 +1h); S2 6 (d1 x3, d2 x2, d5's running stay); S3 1 (d2 +10h): 8.
    # Finished hours: S1 10 + 5 + 1 + 2 = 18; S2 10 + 5 = 15 (d5's stay runs); S3 10 + 30 = 40:
    # 73. Effort = (touch share + time share) / 2:
    # S1 (1/8 + 18/73) / 2 = (0.125 + 0.246575) / 2 = 0.185788
    # S2 (6/8 + 15/73) / 2 = (0.75 + 0.205479) / 2 = 0.477740
    # S3 (1/8 + 40/73) / 2 = (0.125 + 0.547945) / 2 = 0.336473
    {
        "position": 1,
        "stage": "Left a request",
        "key_meeting": False,
        "lost": 1,
        "loss_share": 0.3333,
        "touches": 1,
        "touch_share": 0.125,
        "hours": 18.0,
        "time_share": 0.2466,
        "effort_share": 0.1858,
    },
    {
        "position": 2,
        "stage": "Told us the task",
        "key_meeting": False,
        "lost": 0,
        "loss_share": 0.0,
        "touches": 6,
        "touch_share": 0.75,
        "hours": 15.0,
        "time_share": 0.2055,
        "effort_share": 0.4777,
    },
    {
        "position": 3,
        "stage": "Received the offer",
        "key_meeting": True,
        "lost": 2,
        "loss_share": 0.6667,
        "touches": 1,
        "touch_share": 0.125,
        "hours": 40.0,
        "time_share": 0.5479,
        "effort_share": 0.3365,
    },
    {
        "position": 4,
        "stage": "Agreed terms",
        "key_meeting": False,
        "lost": 0,
        "loss_share": 0.0,
        "touches": 0,
        "touch_share": 0.0,
        "hours": 0.0,
        "time_share": 0.0,
        "effort_share": 0.0,
    },
]

# Rule 1: the biggest loss share is S3's; before it S2's effort 47.8% > 25% (1 / 4 stages);
# S1's 18.6% is not. Rule 2: the key meeting S3 is step 3 of 4 > ceil(4 / 2) = 2.
EXPENSIVE_S2 = (
    "Expensive steps come before the big losses: “Told us the task” takes 48% of our effort "
    "(touches and time, against 25% for an average stage), but most deals are lost later, at "
    "“Received the offer” (67% of the losses). Move the losses to the front and our expensive "
    "steps to the back."
)
LATE_KEY_MEETING = (
    "The buyer's own effort comes late: the key meeting “Received the offer” is step 3 of 4. "
    "Move it, or another step the client takes themselves, towards the front."
)


def test_a_bad_design_is_warned_about(design: Design) -> None:
    report = _run(pipeline=design.bad)
    assert report["funnel_check"] == [
        {
            "pipeline": "Bad",
            "cohort": 4,
            "lost": 3,
            "touches": 8,
            "hours": 73.0,
            "stages": BAD_STAGES,
            "warnings": [EXPENSIVE_S2, LATE_KEY_MEETING],
        }
    ]
    assert report["warnings"] == [f"Bad: {EXPENSIVE_S2}", f"Bad: {LATE_KEY_MEETING}"]


def test_a_good_design_is_not(design: Design) -> None:
    # Lost: S1 2 (g1 g2) of 2 -> the biggest losses come first, nothing stands before them.
    # Touches: S2 2, S3 3 of 5. Hours: S1 2 + 3 + 1 = 6, S2 4, S3 15: 25.
    # Effort: S1 (0 + 6/25) / 2 = 0.12; S2 (2/5 + 4/25) / 2 = 0.28; S3 (3/5 + 15/25) / 2 = 0.6.
    # The key meeting S2 is step 2 of 4, in the front half.
    report = _run(pipeline=design.good)
    (check,) = report["funnel_check"]
    assert [
        (s["lost"], s["loss_share"], s["touches"], s["hours"], s["effort_share"])
        for s in check["stages"]
    ] == [
        (2, 1.0, 0, 6.0, 0.12),
        (0, 0.0, 2, 4.0, 0.28),
        (0, 0.0, 3, 15.0, 0.6),
        (0, 0.0, 0, 0.0, 0.0),
    ]
    assert check["warnings"] == []
    assert report["warnings"] == []


def test_without_a_pipeline_every_active_conversion_pipeline_is_checked(design: Design) -> None:
    # "Account management" (another process) and "Old" (inactive) are left out; by name.
    report = _run()
    assert [c["pipeline"] for c in report["funnel_check"]] == ["Bad", design.good.name]
    assert report["funnel_check"][0]["stages"] == BAD_STAGES
    assert report["warnings"] == [f"Bad: {EXPENSIVE_S2}", f"Bad: {LATE_KEY_MEETING}"]
    # A segment narrows the pipelines checked.
    only_good = _run(segment=design.good.segment)
    assert [c["pipeline"] for c in only_good["funnel_check"]] == [design.good.name]
    # A chosen pipeline is checked whatever its process.
    am = Pipeline.objects.get(name="Account management")
    assert [c["pipeline"] for c in _run(pipeline=am)["funnel_check"]] == ["Account management"]


def test_an_empty_window_keeps_the_design_warning_only(design: Design) -> None:
    report = _run(pipeline=design.bad, date_from=dt.date(2030, 1, 1), date_to=dt.date(2030, 2, 1))
    (check,) = report["funnel_check"]
    assert (check["cohort"], check["lost"], check["touches"], check["hours"]) == (0, 0, 0, 0.0)
    assert {s["loss_share"] for s in check["stages"]} == {None}
    assert {s["effort_share"] for s in check["stages"]} == {None}
    assert check["warnings"] == [LATE_KEY_MEETING]


def test_the_check_counts_only_the_deals_one_may_see(design: Design, cast: Cast) -> None:
    # The manager's deal of "Bad" is d1 alone: lost at S3 (1 of 1); touches S1 1, S2 3 of 4;
    # hours 10 each of 30. Effort S1 (1/4 + 1/3) / 2 = 0.291667 and S2 (3/4 + 1/3) / 2 =
    # 0.541667, both above 1/4 and before S3: two warnings, then the key meeting's.
    for report in (_run(pipeline=design.bad, manager=cast.manager),
                   _run(pipeline=design.bad, viewer=cast.manager)):  # fmt: skip
        (check,) = report["funnel_check"]
        assert [s["effort_share"] for s in check["stages"]] == [0.2917, 0.5417, 0.1667, 0.0]
        assert len(check["warnings"]) == 3
        assert check["warnings"][0].startswith(
            "Expensive steps come before the big losses: “Left a request” takes 29%"
        )
        assert check["warnings"][1].startswith(
            "Expensive steps come before the big losses: “Told us the task” takes 54%"
        )
        assert check["warnings"][2] == LATE_KEY_MEETING
    # The outsider's: d2 (lost at S3), d4 (lost at S1), d5: the loss shares tie at 1/2 and the
    # first of equals, S1, is taken as the biggest: nothing comes before it.
    for report in (_run(pipeline=design.bad, team=cast.outsider.team),
                   _run(pipeline=design.bad, viewer=cast.outsider)):  # fmt: skip
        (check,) = report["funnel_check"]
        assert (check["cohort"], check["lost"]) == (3, 2)
        assert [s["loss_share"] for s in check["stages"]] == [0.5, 0.0, 0.5, 0.0]
        assert check["warnings"] == [LATE_KEY_MEETING]
    # A source nobody has: an empty cohort.
    (check,) = _run(pipeline=design.bad, source="print")["funnel_check"]
    assert check["cohort"] == 0


def _count_queries(**filters: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        _run(**filters)
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_data(design: Design, cast: Cast) -> None:
    assert _count_queries() == QUERIES
    assert _count_queries(viewer=cast.manager) == QUERIES
    b1, b2, b3, _ = design.bad.stages.order_by("position")
    for day in range(1, 21):
        deal = build_deal(
            design.bad, at(f"2026-03-{day:02d}"), [enter(b1), move(b2, 1), move(b3, 2)]
        )
        _touch(deal, 0.5)
        _touch(deal, 1.5)
        expense(f"channel-{day}", "2026-02-01", "2026-02-28", "10")
    assert _count_queries() == QUERIES
    assert _count_queries(viewer=cast.manager) == QUERIES
    (check,) = _run(pipeline=design.bad)["funnel_check"]
    assert (check["cohort"], check["touches"]) == (24, 8 + 40)


def test_command_and_api_return_the_report(
    spend: Customers, design: Design, cast: Cast, settings: Any
) -> None:
    settings.REDIS_URL = ""  # rate counting in the database, as in the API tests
    out = io.StringIO()
    call_command("report", "costs", "--from", "2026-01-01", "--to", "2026-04-01", stdout=out)
    expected = _run()
    assert json.loads(out.getvalue()) == expected
    assert expected["cost_per_customer"]["ads"] == 525.0
    api = Api(token_create(user=cast.owner, name="test", scopes=(TokenScope.READ,)).raw)
    response = api.get(
        "/api/v1/reports/costs", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert response.status_code == 200
    assert response.json() == expected
    bad = api.get(
        "/api/v1/reports/costs",
        {"date_from": "2026-01-01", "date_to": "2026-04-01", "pipeline_id": design.bad.pk},
    )
    assert bad.json()["warnings"] == [f"Bad: {EXPENSIVE_S2}", f"Bad: {LATE_KEY_MEETING}"]


def test_web_page_renders(design: Design, cast: Cast) -> None:
    from django.test import Client

    client = Client()
    client.force_login(cast.owner)
    response = client.get(
        "/reports/costs/",
        {"date_from": "2026-01-01", "date_to": "2026-04-01", "pipeline_id": design.bad.pk},
    )
    assert response.status_code == 200
    assert response.context["data"]["funnel_check"][0]["stages"] == BAD_STAGES
    assert "Received the offer" in response.content.decode()
