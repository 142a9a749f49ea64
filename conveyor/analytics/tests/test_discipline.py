"""The `discipline` report: each list holds exactly the records it should, with the records
just inside and just outside every threshold."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from freezegun import freeze_time

from conftest import Cast
from conveyor.accounts.models import Team, TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics.discipline import LIST_LIMIT, REPORT, discipline, tables
from conveyor.api.tests.conftest import Api
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Stage
from conveyor.testing.factories import PersonFactory, TaskFactory, pipeline_with_stages
from conveyor.touches.models import Task, Touch, TouchKind

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 4, 12, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
# The window ends after now, so the rhythm is compared as of now.
FROM, TO = dt.date(2026, 1, 1), dt.date(2026, 3, 5)


def open_deal(
    owner: User | None,
    stage: Stage,
    entered: dt.datetime,
    *,
    title: str,
    status: str = DealStatus.OPEN,
    source: str = "website",
) -> Deal:
    return Deal.objects.create(
        person=PersonFactory(owner=owner, source=source, name=f"Client of {title}"),
        pipeline=stage.pipeline,
        stage=stage,
        owner=owner,
        title=title,
        amount=Decimal(100),
        status=status,
        opened_at=entered - DAY,
        stage_entered_at=entered,
        closed_at=NOW - DAY if status != DealStatus.OPEN else None,
        purchase_number=1 if status == DealStatus.WON else None,
        touches_to_win=0 if status == DealStatus.WON else None,
    )


def task(assignee: User, due: dt.datetime, deal: Deal | None = None, **extra: Any) -> Task:
    person: Person = deal.person if deal else PersonFactory()
    created: Task = TaskFactory(assignee=assignee, due_at=due, deal=deal, person=person, **extra)
    return created


def lead(received: dt.datetime, name: str, **extra: Any) -> Lead:
    return Lead.objects.create(
        channel=LeadChannel.WEB_FORM, received_at=received, name=name, **extra
    )


def touches(user: User, at: dt.datetime, n: int) -> None:
    person = PersonFactory()
    Touch.objects.bulk_create(
        Touch(user=user, person=person, at=at, kind=TouchKind.WARMING) for _ in range(n)
    )


class World:
    def __init__(self, cast: Cast, pipeline: Pipeline) -> None:
        s1, s2, s3, _s4 = pipeline.stages.order_by("position")
        s2.rot_days = 5
        s2.save()
        s3.rot_days = 2
        s3.save()
        self.other = pipeline_with_stages(["Other: asked"], name="Other")
        m, out = cast.manager, cast.outsider
        deal = open_deal
        # Stage s1 never rots.
        self.stalled = deal(m, s1, NOW - 40 * DAY, title="stalled")
        self.only_done = deal(m, s1, NOW - 39 * DAY, title="only done tasks")
        self.planned = deal(m, s1, NOW - 38 * DAY, title="planned")
        # s2 rots after 5 days: one second past it rots, exactly 5 days does not.
        self.rot_in = deal(m, s2, NOW - 5 * DAY - SECOND, title="rotting")
        self.rot_edge = deal(m, s2, NOW - 5 * DAY, title="at the rot limit")
        # s3 rots after 2 days; no task either: both stalled and rotting.
        self.rot_stalled = deal(m, s3, NOW - 3 * DAY, title="rotting, stalled")
        self.won = deal(m, s3, NOW - 30 * DAY, title="won", status=DealStatus.WON)
        self.theirs = deal(out, s1, NOW - 20 * DAY, title="outsider's")
        self.referral = deal(
            m, self.other.stages.get(), NOW - 10 * DAY, title="referral", source="referral"
        )
        # Tasks.
        task(m, NOW + DAY, self.planned)  # the next step, not overdue
        task(m, NOW - 2 * DAY, self.only_done, done_at=NOW - DAY)
        task(m, NOW - 2 * DAY, self.only_done, cancelled_at=NOW - DAY)
        self.overdue = task(m, NOW - SECOND, self.rot_in, title="Send the offer")
        task(m, NOW, self.rot_edge, title="Due right now")  # not overdue yet
        self.overdue_person = task(out, NOW - DAY, None, title="Call the walk-in")
        # Leads: the inbox after 24 hours.
        self.waiting = lead(NOW - 24 * dt.timedelta(hours=1) - dt.timedelta(minutes=1), "Ann")
        lead(NOW - dt.timedelta(hours=24), "Bob")  # exactly 24 hours: not late yet
        lead(NOW - 10 * DAY, "Cid", status=LeadStatus.ACCEPTED)
        lead(NOW - 10 * DAY, "Spam", status=LeadStatus.REJECTED_SPAM)
        self.routed = lead(
            NOW - 3 * DAY,
            "Dan",
            routed_owner=out,
            routed_pipeline=self.other,
            source="ads",
        )
        # Rhythm, as of now: the last 7 days [NOW - 7d, NOW) against [NOW - 63d, NOW - 7d) / 8.
        week = 7 * DAY
        # Manager: 40 before (5 a week; 70% is 3.5) and 3 recent: 3 / 5 = 0.6, flagged. The touch
        # one second before the 8 weeks is not counted (else 41 / 8 and 0.5854).
        touches(m, NOW - 30 * DAY, 39)
        touches(m, NOW - 63 * DAY, 1)
        touches(m, NOW - 63 * DAY - SECOND, 1)
        touches(m, NOW - DAY, 3)
        # Outsider: 80 before (10 a week, 70% = 7) and exactly 7 recent (one of them exactly at
        # NOW - 7d, which is recent): not below. Counted as before, it would be 6 vs 81 / 8.
        touches(out, NOW - 62 * DAY, 80)
        touches(out, NOW - week, 1)
        touches(out, NOW - 2 * DAY, 6)
        touches(out, NOW, 5)  # at the anchor: not counted
        # Head: 8 before (1 a week), none recent: 0.0, flagged.
        touches(cast.head, NOW - 10 * DAY, 8)
        # The other head: no touches before, 2 recent: no rhythm to fall below.
        touches(cast.other_head, NOW - DAY, 2)


@pytest.fixture
def world(cast: Cast, pipeline: Pipeline) -> World:
    return World(cast, pipeline)


def report(**kwargs: Any) -> dict[str, Any]:
    return discipline(ReportFilter(date_from=FROM, date_to=TO, **kwargs), NOW)


def titles(data: dict[str, Any], key: str) -> list[str]:
    """The list's records, by title (deals, tasks), name (leads) or e-mail (managers)."""
    part = data[key]
    name = {"waiting_leads": "lead", "managers_below_rhythm": "manager", "overdue_tasks": "task"}
    found = [row[name.get(key, "deal")] for row in part["rows"]]
    assert part["count"] == len(found)
    return found


def lists(data: dict[str, Any]) -> dict[str, list[str]]:
    keys = ("stalled_deals", "rotting_deals", "waiting_leads")
    return {key: titles(data, key) for key in (*keys, "managers_below_rhythm", "overdue_tasks")}


M, H, OUT = "manager@example.com", "head@example.com", "outsider@example.com"


def test_each_list_holds_exactly_its_records(cast: Cast, world: World) -> None:
    assert lists(report()) == {
        # Open, no open task (done and cancelled tasks are no next step), oldest in stage first.
        "stalled_deals": [
            "stalled",
            "only done tasks",
            "outsider's",
            "referral",
            "rotting, stalled",
        ],
        # Past their stage's rot days; the deal exactly at the limit is not.
        "rotting_deals": ["rotting", "rotting, stalled"],
        # In the inbox more than 24 hours, longest waiting first.
        "waiting_leads": ["Dan", "Ann"],
        # Below 70% of the usual week, furthest below first.
        "managers_below_rhythm": [H, M],
        # Open and due before now, earliest first.
        "overdue_tasks": ["Call the walk-in", "Send the offer"],
    }


def test_rows_link_to_the_records(cast: Cast, world: World) -> None:
    data = report()
    rotting = data["rotting_deals"]["rows"][0]
    assert rotting == {
        "id": world.rot_in.pk,
        "deal": "rotting",
        "person": "Client of rotting",
        "pipeline": world.rot_in.pipeline.name,
        "stage": "Told us the task",
        "owner": M,
        "in_stage_since": (NOW - 5 * DAY - SECOND).isoformat(),
        "days_in_stage": 5.0,
        "url": f"/deals/{world.rot_in.pk}/",
        "rot_days": 5,
    }
    assert data["waiting_leads"]["rows"][0] == {
        "id": world.routed.pk,
        "lead": "Dan",
        "source": "ads",
        "channel": "web_form",
        "received_at": (NOW - 3 * DAY).isoformat(),
        "hours_waiting": 72.0,
        "routed_to": OUT,
        "url": f"/inbox/#lead-{world.routed.pk}",
    }
    walk_in, offer = data["overdue_tasks"]["rows"]
    assert walk_in["url"] == f"/people/{world.overdue_person.person_id}/"
    assert (walk_in["assignee"], walk_in["deal_id"], walk_in["hours_overdue"]) == (OUT, None, 24.0)
    assert offer["url"] == f"/deals/{world.rot_in.pk}/"
    assert (offer["person"], offer["hours_overdue"]) == ("Client of rotting", 0.0)
    head, manager = data["managers_below_rhythm"]["rows"]
    assert (head["recent_touches"], head["weekly_average"], head["ratio"]) == (0, 1.0, 0.0)
    assert (manager["recent_touches"], manager["weekly_average"], manager["ratio"]) == (3, 5.0, 0.6)
    link = urlsplit(manager["url"])
    assert link.path == "/reports/discipline/"
    assert parse_qs(link.query) == {
        "date_from": ["2026-01-01"],
        "date_to": ["2026-03-05"],
        "manager_id": [str(cast.manager.pk)],
    }
    # Every table links its records: the link column is shown and every row has its URL.
    for table in tables(data):
        assert table.link in table.header()
        assert all(row["url"] for row in table.rows)


def test_rhythm_of_a_past_window(cast: Cast, world: World) -> None:
    # The window ends on 2026-02-01: the last 7 days are [01-25, 02-01), the 8 weeks before
    # [11-30, 01-25). In them: the outsider's 80 touches of 01-01 (10 a week, none recent) and
    # the manager's 2 of 12-31 (0.25 a week, none recent): both at 0.0, flagged, by e-mail. The
    # other touches come after 02-01. The deal lists stay as of now.
    past = discipline(ReportFilter(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 2, 1)), NOW)
    assert past["managers_below_rhythm"]["anchor"] == "2026-02-01T00:00:00+00:00"
    assert titles(past, "managers_below_rhythm") == [M, OUT]
    assert lists(past) | {"managers_below_rhythm": []} == lists(report()) | {
        "managers_below_rhythm": []
    }


def test_filters_narrow(cast: Cast, world: World) -> None:
    assert lists(report(manager=cast.manager)) == {
        "stalled_deals": ["stalled", "only done tasks", "referral", "rotting, stalled"],
        "rotting_deals": ["rotting", "rotting, stalled"],
        "waiting_leads": [],  # no waiting lead is routed to the manager
        "managers_below_rhythm": [M],
        "overdue_tasks": ["Send the offer"],
    }
    assert lists(report(team=Team.objects.get(name="Team B"))) == {
        "stalled_deals": ["outsider's"],
        "rotting_deals": [],
        "waiting_leads": ["Dan"],  # routed to the outsider, of Team B
        "managers_below_rhythm": [],  # the outsider keeps the rhythm
        "overdue_tasks": ["Call the walk-in"],
    }
    assert lists(report(pipeline=world.other)) == {
        "stalled_deals": ["referral"],
        "rotting_deals": [],
        "waiting_leads": ["Dan"],  # routed to that pipeline
        "managers_below_rhythm": [],  # no touch on a deal of that pipeline
        "overdue_tasks": [],
    }
    referral = lists(report(source="referral"))
    assert referral["stalled_deals"] == ["referral"]
    assert referral["waiting_leads"] == []  # Dan came from ads
    assert lists(report(source="ads"))["waiting_leads"] == ["Dan"]


def test_viewer_sees_only_what_they_may(cast: Cast, world: World) -> None:
    mine = lists(report(viewer=cast.manager))
    assert mine == {
        "stalled_deals": ["stalled", "only done tasks", "referral", "rotting, stalled"],
        "rotting_deals": ["rotting", "rotting, stalled"],
        "waiting_leads": ["Dan", "Ann"],  # the inbox is shared, as on the inbox page
        "managers_below_rhythm": [M],
        "overdue_tasks": ["Send the offer"],
    }
    assert lists(report(viewer=cast.head)) == mine | {"managers_below_rhythm": [H, M]}
    assert lists(report(viewer=cast.outsider)) == {
        "stalled_deals": ["outsider's"],
        "rotting_deals": [],
        "waiting_leads": ["Dan", "Ann"],
        "managers_below_rhythm": [],
        "overdue_tasks": ["Call the walk-in"],
    }
    assert lists(report(viewer=cast.owner)) == lists(report())


def test_lists_are_cut_but_counted(cast: Cast, pipeline: Pipeline) -> None:
    stage = pipeline.stages.get(position=1)
    Deal.objects.bulk_create(
        Deal(
            person=PersonFactory(),
            pipeline=pipeline,
            stage=stage,
            owner=cast.manager,
            title=f"d{n:03}",
            stage_entered_at=NOW - (200 - n) * SECOND,
        )
        for n in range(LIST_LIMIT + 2)
    )
    data = report()
    assert data["stalled_deals"]["count"] == LIST_LIMIT + 2
    rows = data["stalled_deals"]["rows"]
    assert [row["deal"] for row in rows] == [f"d{n:03}" for n in range(LIST_LIMIT)]
    assert "100 of 102" in str(tables(data)[0].note)


def test_fixed_number_of_queries(cast: Cast, pipeline: Pipeline) -> None:
    stage = pipeline.stages.get(position=2)
    stage.rot_days = 1
    stage.save()

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            report()
        return len(captured.captured_queries)

    def add(n: int) -> None:
        for i in range(n):
            owner = (cast.manager, cast.outsider, cast.head)[i % 3]
            made = open_deal(owner, stage, NOW - 3 * DAY, title=f"x{i}")
            task(owner, NOW - DAY, made if i % 2 else None)
            lead(NOW - 2 * DAY, f"L{i}", routed_owner=owner)
            touches(owner, NOW - 20 * DAY, 3)

    add(2)
    few = count()
    add(18)
    # Two per list (a count and a page), the stages with rot days, the touches by user.
    assert few == count() == 10


def test_command_and_api_return_the_report(cast: Cast, world: World) -> None:
    api = Api(token_create(user=cast.head, name="t", scopes=(TokenScope.READ,)).raw)
    resolve("/api/v1/reports/discipline")  # load the API before freezing the clock (pydantic)
    with freeze_time(NOW):
        out = io.StringIO()
        call_command(
            "report", "discipline", "--from", "2026-01-01", "--to", "2026-03-05", stdout=out
        )
        expected = REPORT.run(ReportFilter(date_from=FROM, date_to=TO))
        response = api.get(
            "/api/v1/reports/discipline", {"date_from": "2026-01-01", "date_to": "2026-03-05"}
        )
        as_head = REPORT.run(ReportFilter(date_from=FROM, date_to=TO, viewer=cast.head))
    assert json.loads(out.getvalue()) == expected
    assert expected == report()
    assert response.status_code == 200
    assert response.json() == as_head
    assert titles(as_head, "managers_below_rhythm") == [H, M]
