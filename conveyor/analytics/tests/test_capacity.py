"""The `capacity` report: open deals now and touches per working day against capacity, on a
small hand-made team; the numbers are worked out in the comments."""

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
from conveyor.accounts.models import Holiday, Role, Team, TokenScope, User
from conveyor.accounts.services import token_create
from conveyor.analytics.filters import ReportFilter
from conveyor.analytics.metrics.capacity import REPORT, capacity, working_days
from conveyor.api.tests.conftest import Api
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.testing.factories import (
    PersonFactory,
    TouchFactory,
    UserFactory,
    pipeline_with_stages,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# Window: Monday 2026-02-23 up to Monday 2026-03-09 (not included).
FROM, TO = dt.date(2026, 2, 23), dt.date(2026, 3, 9)
# Now: Wednesday 2026-03-04. Working days of the window up to today: Feb 23-27 (5), Mon Mar 2,
# Wed Mar 4 (Tue Mar 3 is a holiday; Mar 5 and 6 are still to come) = 7.
NOW = dt.datetime(2026, 3, 4, 12, tzinfo=UTC)
M, H, OUT, OWN = (
    "manager@example.com",
    "head@example.com",
    "outsider@example.com",
    "owner@example.com",
)


def deal(
    owner: User | None,
    pipeline: Pipeline,
    *,
    status: str = DealStatus.OPEN,
    source: str = "website",
) -> Deal:
    closed = status != DealStatus.OPEN
    first = pipeline.stages.get(position=1)
    return Deal.objects.create(
        person=PersonFactory(owner=owner, source=source),
        pipeline=pipeline,
        stage=first,
        owner=owner,
        amount=Decimal(100),
        status=status,
        closed_at=NOW - dt.timedelta(days=1) if closed else None,
        purchase_number=1 if status == DealStatus.WON else None,
        touches_to_win=0 if status == DealStatus.WON else None,
    )


def touch(user: User | None, at: dt.datetime, on: Deal | None = None, **extra: Any) -> None:
    person: Person = on.person if on else PersonFactory()
    TouchFactory(user=user, at=at, deal=on, person=person, **extra)


def day(d: str, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{d}T{hour:02}:{minute:02}:00+00:00")


@pytest.fixture
def team(cast: Cast, pipeline: Pipeline) -> Pipeline:
    """The manager (capacity 3), the outsider (60), the head (0 = not set); returns the other
    pipeline."""
    other = pipeline_with_stages(["Other: asked"], name="Other")
    Holiday.objects.create(date=dt.date(2026, 3, 3))
    cast.manager.capacity = 3
    cast.manager.save()
    cast.head.capacity = 0
    cast.head.save()
    m, head, outsider = cast.manager, cast.head, cast.outsider
    # Open deals now: the manager 3 here + 1 in the other pipeline (a referral) = 4.
    mine = [deal(m, pipeline) for _ in range(3)]
    referral = deal(m, other, source="referral")
    deal(m, pipeline, status=DealStatus.WON)  # closed: not carried
    deal(outsider, pipeline)
    deal(outsider, pipeline)
    deal(head, pipeline)
    deal(None, pipeline)  # nobody's
    gone = UserFactory(email="gone@example.com", is_active=False, team=m.team)
    deal(gone, pipeline)  # a deactivated manager has no row
    # The manager's touches: 7 in the window on this pipeline, 3 on the referral's deal.
    for n in range(7):
        touch(m, day("2026-02-24") + dt.timedelta(days=n), on=mine[n % 3])
    for _ in range(3):
        touch(m, day("2026-02-25"), on=referral)
    touch(m, day("2026-02-22", 23, 30), on=mine[0])  # before the window (UTC)
    touch(m, day("2026-03-09", 0), on=mine[0])  # at the window's end: out
    # The outsider: 7 touches in the window.
    for _ in range(7):
        touch(outsider, day("2026-02-26"))
    # The owner touched one person (no deal), so has a row though not a manager.
    touch(cast.owner, day("2026-03-02"))
    touch(None, day("2026-03-02"))  # by nobody
    return other


def report(**kwargs: Any) -> dict[str, Any]:
    return capacity(ReportFilter(date_from=FROM, date_to=TO, **kwargs), NOW)


def rows(data: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    keys = ("open_deals", "capacity", "load", "over_capacity", "touches", "touches_per_day")
    return {row["manager"]: tuple(row[key] for key in keys) for row in data["managers"]}


def test_working_days() -> None:
    # Mon 2026-03-02 .. Sun 03-08: five weekdays, half-open at both ends of the range.
    assert working_days(dt.date(2026, 3, 2), dt.date(2026, 3, 9)) == 5
    assert working_days(dt.date(2026, 3, 7), dt.date(2026, 3, 9)) == 0
    Holiday.objects.create(date=dt.date(2026, 3, 4))
    assert working_days(dt.date(2026, 3, 2), dt.date(2026, 3, 9)) == 4
    assert working_days(dt.date(2026, 3, 9), dt.date(2026, 3, 2)) == 0


def test_whole_report(cast: Cast, team: Pipeline) -> None:
    result = report()
    assert result["working_days"] == 7
    # (open deals, capacity, load, over capacity, touches, touches per working day)
    assert rows(result) == {
        # 4 open / 3 = 1.3333, over. Touches: 7 + 3 = 10 (02-22 23:30 and 03-09 00:00 are
        # outside); 10 / 7 = 1.43.
        M: (4, 3, 1.3333, True, 10, 1.43),
        # 2 / 60 = 0.0333; 7 touches / 7 days = 1.0.
        OUT: (2, 60, 0.0333, False, 7, 1.0),
        # Capacity 0 is "not set": no load, never over it.
        H: (1, 0, None, False, 0, 0.0),
        # The owner is no manager but touched a client in the window.
        OWN: (0, 60, 0.0, False, 1, 0.14),
    }
    # Ordered by e-mail; the other head (nothing carried, no touches) has no row.
    assert [row["manager"] for row in result["managers"]] == [H, M, OUT, OWN]
    assert result["totals"] == {
        "open_deals": 7,
        "touches": 18,
        "capacity": 123,
        "over_capacity": 1,
    }


def test_exactly_at_capacity_is_not_over(cast: Cast, team: Pipeline, pipeline: Pipeline) -> None:
    Deal.objects.filter(owner=cast.manager, pipeline=team).delete()  # 3 open left, capacity 3
    assert rows(report())[M][:4] == (3, 3, 1.0, False)


def test_window_in_the_account_time_zone(settings: Settings, cast: Cast, team: Pipeline) -> None:
    settings.TIME_ZONE = "Europe/Sofia"
    # The window starts at 2026-02-22 22:00 UTC: the touch at 23:30 UTC is now in it (11); the
    # one at 03-09 00:00 UTC (02:00 in Sofia) is still out. 11 / 7 = 1.57.
    assert rows(report())[M][4:] == (11, 1.57)


def test_days_still_to_come_are_not_counted(cast: Cast, team: Pipeline) -> None:
    # On Monday 2026-02-23 only one working day of the window has begun; the touches made by
    # then: none of the manager's (they start on the 24th).
    early = capacity(ReportFilter(date_from=FROM, date_to=TO), day("2026-02-23"))
    assert early["working_days"] == 1
    # A window wholly in the future has no working day yet: no rate.
    future = capacity(ReportFilter(date_from=dt.date(2026, 4, 1), date_to=dt.date(2026, 5, 1)), NOW)
    assert future["working_days"] == 0
    assert rows(future)[M] == (4, 3, 1.3333, True, 0, None)


def test_filters_narrow(cast: Cast, team: Pipeline, pipeline: Pipeline) -> None:
    assert list(rows(report(manager=cast.manager))) == [M]
    assert list(rows(report(team=Team.objects.get(name="Team B")))) == [OUT]
    # This pipeline: the manager's 3 open deals (3 / 3 = 1.0, not over) and 7 touches; the
    # owner's touch had no deal, so the owner drops out.
    one_pipeline = rows(report(pipeline=pipeline))
    assert one_pipeline == {
        M: (3, 3, 1.0, False, 7, 1.0),
        OUT: (2, 60, 0.0333, False, 0, 0.0),  # the outsider's touches had no deal
        H: (1, 0, None, False, 0, 0.0),
    }
    # The referral source: the manager's 1 open deal and the 3 touches on it.
    assert rows(report(source="referral"))[M] == (1, 3, 0.3333, False, 3, 0.43)
    assert rows(report(segment=team.segment))[M] == (1, 3, 0.3333, False, 3, 0.43)


def test_viewer_sees_only_what_they_may(cast: Cast, team: Pipeline) -> None:
    assert list(rows(report(viewer=cast.manager))) == [M]
    assert set(rows(report(viewer=cast.head))) == {M, H}
    assert set(rows(report(viewer=cast.outsider))) == {OUT}
    assert rows(report(viewer=cast.owner)) == rows(report())


def test_fixed_number_of_queries(cast: Cast, pipeline: Pipeline) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            report()
        return len(captured.captured_queries)

    for owner in (cast.manager, cast.outsider):
        touch(owner, day("2026-02-24"), on=deal(owner, pipeline))
    few = count()
    for n in range(18):
        owner = UserFactory(role=Role.MANAGER) if n % 2 else cast.head
        touch(owner, day("2026-02-25"), on=deal(owner, pipeline))
    # The users, open deals by owner, touches by user, the window's holidays.
    assert few == count() == 4


def test_command_and_api_return_the_report(cast: Cast, team: Pipeline) -> None:
    api = Api(token_create(user=cast.head, name="t", scopes=(TokenScope.READ,)).raw)
    resolve("/api/v1/reports/capacity")  # load the API before freezing the clock (pydantic)
    with freeze_time(NOW):
        out = io.StringIO()
        call_command("report", "capacity", "--from", "2026-02-23", "--to", "2026-03-09", stdout=out)
        expected = REPORT.run(ReportFilter(date_from=FROM, date_to=TO))
        response = api.get(
            "/api/v1/reports/capacity", {"date_from": "2026-02-23", "date_to": "2026-03-09"}
        )
        as_head = REPORT.run(ReportFilter(date_from=FROM, date_to=TO, viewer=cast.head))
    assert json.loads(out.getvalue()) == expected
    assert rows(expected) == rows(report())
    assert response.status_code == 200
    assert response.json() == as_head
    assert set(rows(as_head)) == {M, H}
