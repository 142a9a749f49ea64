"""The hypotheses report against a hand-built history whose every number is worked out below.

Pipeline B2B (S1..S4). H1 "Call within an hour": S2 from 2026-03-01, 10 days: before =
[02-19, 03-01), after = [03-01, 03-11) (UTC midnights). Entries into S2 (at() = 09:00 UTC):
  a1 S1 -> S2 02-20 10:00 -> S3 -> back to S2 03-05 -> won       before: yes; after: yes (won)
  a2 opened at S2 02-21 -> won                     (outsider)     before: yes
  a3 S1 -> S2 02-22 10:00 -> lost                  (source ads)   before: no
  a4 S1 -> S2 -> S3 on 02-10, back to S2 02-25 09:00, lost        before: no (highest 3 is older)
  a5 S1 -> S2 02-23 10:00 -> S1 -> S2 -> S3 (two entries, one deal) before: yes
  a6 S1 -> S2 02-18 23:00 UTC -> S3      out (01:00 on 02-19 in Sofia: in)
  a7 S1 -> S3 02-24 (skips S2: never entered it)
  b1 S1 -> S2 03-01 00:00 UTC exactly -> S3                        after: yes
  b2 S1 -> S2 03-02 10:00 -> S4 (skips S3)         (outsider)     after: yes
  b3 opened at S2 03-03 -> lost                                    after: no
  b4 S1 -> S2 03-04 10:00 -> S3                                    after: yes
  b5 S1 -> S2 03-11 00:00 UTC exactly -> S3        out (the after window is half-open)
Before: a1 a2 a3 a4 a5 entered 5, converted a1 a2 a5 = 3 (0.6).
After: b1 b2 b3 b4 a1 entered 5, converted b1 b2 b4 a1 = 4 (0.8).
z: pooled 7/10 = 0.7; variance 0.7 * 0.3 * (1/5 + 1/5) = 0.084; z = 0.2 / 0.28983 = 0.6901;
p = erfc(0.6901 / sqrt 2) = 2 * (1 - Phi(0.6901)) = 2 * (1 - 0.75492) = 0.4902.

H4 "Shorter form": S2 from 02-25, 3 days: before [02-22, 02-25): a3 (no), a5 (yes) -> 1/2;
after [02-25, 02-28): a4 (no) -> 0/1. Pooled 1/3; variance (1/3)(2/3)(1/2 + 1) = 1/3;
z = (0 - 0.5) / 0.57735 = -0.8660; p = 2 * (1 - Phi(0.866)) = 2 * (1 - 0.80677) = 0.3865.

H2 "Send the price first": pipeline B2C, stage Asked, from 03-15, 5 days: before [03-10, 03-15):
c1 Asked 03-12 -> Paid: 1/1; after: nobody -> not enough data.
H3 starts 2026-05-01, after the report's window [2026-01-01, 2026-04-01): left out.
"""

from __future__ import annotations

import datetime as dt
import io
import json
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
from conveyor.analytics.metrics.hypotheses import (
    REPORT,
    hypotheses,
    two_proportion_z_test,
    verdict_code,
)
from conveyor.analytics.models import Hypothesis
from conveyor.analytics.tests.history import Step, at, build_deal, enter, lost, move, won
from conveyor.api.tests.conftest import Api
from conveyor.pipelines.models import Deal, Pipeline, Stage
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
QUERIES = 2  # the hypotheses, one aggregate over the stage changes
MIDNIGHT = dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


class World:
    def __init__(self, b2b: Pipeline, b2c: Pipeline, stages: list[Stage]) -> None:
        self.b2b, self.b2c = b2b, b2c
        self.s1, self.s2, self.s3, self.s4 = stages


def _deal(
    pipeline: Pipeline, opened: dt.datetime, steps: list[Step], *, owner: User, source: str = ""
) -> Deal:
    reason = LossReasonFactory() if steps[-1].kind == "lost" else None
    deal = build_deal(pipeline, opened, steps, lost_reason=reason)
    Deal.objects.filter(pk=deal.pk).update(owner=owner)
    if source:
        deal.person.source = source
        deal.person.save()
    return deal


@pytest.fixture
def world(cast: Cast) -> World:
    b2b = pipeline_with_stages(name="B2B")
    b2c = pipeline_with_stages(["Asked", "Paid"], name="B2C")
    s1, s2, s3, s4 = b2b.stages.order_by("position")
    asked, paid = b2c.stages.order_by("position")
    m, o = cast.manager, cast.outsider
    day = 24
    _deal(
        b2b,
        at("2026-02-20"),
        [enter(s1), move(s2, 1), move(s3, 5), move(s2, 13 * day), won(14 * day)],
        owner=m,
    )  # a1
    _deal(b2b, at("2026-02-21"), [enter(s2), won(100)], owner=o)  # a2
    _deal(b2b, at("2026-02-22"), [enter(s1), move(s2, 1), lost(2)], owner=m, source="ads")  # a3
    _deal(
        b2b,
        at("2026-02-10"),
        [enter(s1), move(s2, 1), move(s3, 2), move(s2, 15 * day), lost(16 * day)],
        owner=m,
    )  # a4
    _deal(
        b2b,
        at("2026-02-23"),
        [enter(s1), move(s2, 1), move(s1, 2), move(s2, 3), move(s3, 4)],
        owner=m,
    )  # a5
    _deal(b2b, at("2026-02-18", hours=13), [enter(s1), move(s2, 1), move(s3, 2)], owner=m)  # a6
    _deal(b2b, at("2026-02-24"), [enter(s1), move(s3, 1)], owner=m)  # a7
    before_midnight = MIDNIGHT - dt.timedelta(hours=1)
    _deal(b2b, before_midnight, [enter(s1), move(s2, 1), move(s3, 2)], owner=m)  # b1
    _deal(b2b, at("2026-03-02"), [enter(s1), move(s2, 1), move(s4, 2)], owner=o)  # b2
    _deal(b2b, at("2026-03-03"), [enter(s2), lost(5)], owner=m)  # b3
    _deal(b2b, at("2026-03-04"), [enter(s1), move(s2, 1), move(s3, 30)], owner=m)  # b4
    b5_opened = before_midnight + dt.timedelta(days=10)
    _deal(b2b, b5_opened, [enter(s1), move(s2, 1), move(s3, 2)], owner=m)  # b5
    _deal(b2c, at("2026-03-12"), [enter(asked), move(paid, 1)], owner=m)  # c1

    Hypothesis.objects.create(title="Call within an hour", stage=s2, started_on=dt.date(2026, 3, 1),
                              window_days=10)  # fmt: skip
    Hypothesis.objects.create(title="Shorter form", stage=s2, started_on=dt.date(2026, 2, 25),
                              window_days=3)  # fmt: skip
    Hypothesis.objects.create(title="Send the price first", stage=asked,
                              started_on=dt.date(2026, 3, 15), window_days=5)  # fmt: skip
    Hypothesis.objects.create(title="Later", stage=s3, started_on=dt.date(2026, 5, 1))
    return World(b2b, b2c, [s1, s2, s3, s4])


def _run(now: dt.datetime = NOW, **filters: Any) -> dict[str, Any]:
    return hypotheses(ReportFilter(JAN, APR, **filters), now=now)


def _side(start: str, end: str, entered: int, converted: int, rate: float | None) -> dict[str, Any]:
    return {"from": start, "to": end, "entered": entered, "converted": converted, "rate": rate}


def _by_title(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["title"]: row for row in report["hypotheses"]}


def test_z_test_worked_by_hand() -> None:
    # 30/100 before, 45/100 after: pooled 75/200 = 0.375; variance 0.375 * 0.625 * (1/100 +
    # 1/100) = 0.0046875, sd 0.068465; z = 0.15 / 0.068465 = 2.1909; p = 2 * (1 - Phi(2.1909))
    # = 2 * (1 - 0.985770) = 0.0285 -> better.
    z, p = two_proportion_z_test(30, 100, 45, 100)
    assert z == pytest.approx(2.1909, abs=1e-4)
    assert p == pytest.approx(0.0285, abs=1e-4)
    assert verdict_code(z, p) == "better"
    # 50/100 then 30/100: pooled 0.4; variance 0.4 * 0.6 * 0.02 = 0.0048, sd 0.069282;
    # z = -0.2 / 0.069282 = -2.8868; p = 2 * (1 - 0.998054) = 0.0039 -> worse.
    z, p = two_proportion_z_test(50, 100, 30, 100)
    assert z == pytest.approx(-2.8868, abs=1e-4)
    assert p == pytest.approx(0.0039, abs=1e-4)
    assert verdict_code(z, p) == "worse"
    # 40/100 and 45/100: pooled 0.425; variance 0.425 * 0.575 * 0.02 = 0.0048875, sd 0.069911;
    # z = 0.05 / 0.069911 = 0.7152; p = 2 * (1 - 0.762759) = 0.4745 -> no significant change.
    z, p = two_proportion_z_test(40, 100, 45, 100)
    assert (round(z or 0, 4), round(p or 0, 4)) == (0.7152, 0.4745)
    assert verdict_code(z, p) == "no_change"
    assert two_proportion_z_test(0, 10, 0, 12) == (0.0, 1.0)  # nobody converted: equal rates
    assert two_proportion_z_test(3, 3, 5, 5) == (0.0, 1.0)
    assert two_proportion_z_test(1, 2, 0, 0) == (None, None)
    assert verdict_code(None, None) == "not_enough_data"


def test_whole_report(world: World, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(QUERIES):
        report = _run()
    assert report["filter"]["from"] == "2026-01-01"
    assert report["alpha"] == 0.05
    rows = report["hypotheses"]
    assert [row["title"] for row in rows] == [  # by start; "Later" is outside the window
        "Shorter form",
        "Call within an hour",
        "Send the price first",
    ]
    for row in rows:
        del row["id"]
    assert rows == [
        {
            "title": "Shorter form",
            "pipeline": "B2B",
            "stage": "Told us the task",
            "started_on": "2026-02-25",
            "window_days": 3,
            "finished": True,
            "before": _side("2026-02-22", "2026-02-25", 2, 1, 0.5),  # a3 no, a5 yes
            "after": _side("2026-02-25", "2026-02-28", 1, 0, 0.0),  # a4 moved back, no
            "z": -0.866,
            "p_value": 0.3865,
            "verdict": "no significant change",
            "verdict_code": "no_change",
        },
        {
            "title": "Call within an hour",
            "pipeline": "B2B",
            "stage": "Told us the task",
            "started_on": "2026-03-01",
            "window_days": 10,
            "finished": True,
            "before": _side("2026-02-19", "2026-03-01", 5, 3, 0.6),
            "after": _side("2026-03-01", "2026-03-11", 5, 4, 0.8),
            "z": 0.6901,
            "p_value": 0.4902,
            "verdict": "no significant change",
            "verdict_code": "no_change",
        },
        {
            "title": "Send the price first",
            "pipeline": "B2C",
            "stage": "Asked",
            "started_on": "2026-03-15",
            "window_days": 5,
            "finished": True,
            "before": _side("2026-03-10", "2026-03-15", 1, 1, 1.0),  # c1
            "after": _side("2026-03-15", "2026-03-20", 0, 0, None),
            "z": None,
            "p_value": None,
            "verdict": "not enough data",
            "verdict_code": "not_enough_data",
        },
    ]


def test_finished_is_as_of_now(world: World) -> None:
    # On 2026-03-08 the 10 days after 1 March are not over; the 3 after 25 February are.
    rows = _by_title(_run(now=dt.datetime(2026, 3, 8, tzinfo=UTC)))
    assert rows["Call within an hour"]["finished"] is False
    assert rows["Shorter form"]["finished"] is True


def test_sub_windows_are_in_the_account_time_zone(world: World, settings: Any) -> None:
    # Europe/Sofia is UTC+2 in February and March: H1's before window starts 2026-02-18 22:00 UTC
    # and takes in a6 (entered 23:00 UTC, then moved on): 6 entered, 4 converted. Its after
    # window ends 2026-03-10 22:00 UTC; b1 (entered at 02:00 on 1 March there) stays after.
    settings.TIME_ZONE = "Europe/Sofia"
    row = _by_title(_run())["Call within an hour"]
    assert row["before"] == _side("2026-02-19", "2026-03-01", 6, 4, 0.6667)
    assert row["after"] == _side("2026-03-01", "2026-03-11", 5, 4, 0.8)


def test_manager_sees_own_deals(world: World, cast: Cast) -> None:
    # Without the outsider's a2 and b2: before a1 a3 a4 a5 -> 2/4; after b1 b3 b4 a1 -> 3/4.
    # Pooled 5/8; variance 0.625 * 0.375 * (1/4 + 1/4) = 0.1171875, sd 0.342327;
    # z = 0.25 / 0.342327 = 0.7303; p = 2 * (1 - Phi(0.7303)) = 2 * (1 - 0.767396) = 0.4652.
    for filters in ({"viewer": cast.manager}, {"manager": cast.manager}, {"team": cast.head.team}):
        row = _by_title(_run(**filters))["Call within an hour"]  # type: ignore[arg-type]
        assert (row["before"]["entered"], row["before"]["converted"]) == (4, 2)
        assert (row["after"]["entered"], row["after"]["converted"]) == (4, 3)
        assert (row["z"], row["p_value"]) == (0.7303, 0.4652)
    # The outsider: a2 before (converted), b2 after (converted): 1/1 vs 1/1, z 0, p 1.
    row = _by_title(_run(viewer=cast.outsider))["Call within an hour"]
    assert (row["before"]["entered"], row["after"]["entered"], row["z"], row["p_value"]) == (
        1,
        1,
        0.0,
        1.0,
    )


def test_pipeline_segment_and_source_narrow(world: World) -> None:
    titles = ["Shorter form", "Call within an hour"]
    assert [row["title"] for row in _run(pipeline=world.b2b)["hypotheses"]] == titles
    assert [row["title"] for row in _run(segment=world.b2b.segment)["hypotheses"]] == titles
    assert [row["title"] for row in _run(pipeline=world.b2c)["hypotheses"]] == [
        "Send the price first"
    ]
    # Source "ads": a3 alone (entered before 1 March, lost).
    row = _by_title(_run(source="ads"))["Call within an hour"]
    assert (row["before"]["entered"], row["before"]["converted"]) == (1, 0)
    assert (row["after"]["entered"], row["verdict_code"]) == (0, "not_enough_data")


def test_no_hypotheses_in_the_window(world: World, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        report = hypotheses(ReportFilter(dt.date(2027, 1, 1), dt.date(2027, 2, 1)), now=NOW)
    assert report["hypotheses"] == []


def test_query_count_does_not_grow(world: World, cast: Cast) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            _run()
        return len(captured)

    assert count() == QUERIES
    for index in range(20):  # 20 more deals enter S2 after 1 March and move on
        opened = at("2026-03-05", hours=index)
        _deal(world.b2b, opened, [enter(world.s2), move(world.s3, 1)], owner=cast.manager)
    Hypothesis.objects.create(title="More", stage=world.s3, started_on=dt.date(2026, 3, 20))
    assert count() == QUERIES
    # After: 25 entered, 24 converted (0.96) vs 3/5 before. Pooled 27/30 = 0.9; variance
    # 0.9 * 0.1 * (1/5 + 1/25) = 0.0216, sd 0.146969; z = 0.36 / 0.146969 = 2.4495;
    # p = 2 * (1 - Phi(2.4495)) = 2 * (1 - 0.992847) = 0.0143 < 0.05 -> better.
    row = _by_title(_run())["Call within an hour"]
    assert (row["after"]["entered"], row["after"]["converted"]) == (25, 24)
    assert (row["z"], row["p_value"], row["verdict"]) == (2.4495, 0.0143, "better")


def test_command_and_api_return_the_report(
    world: World, cast: Cast, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = ""  # rate counting in the database, as in the API tests
    api = Api(token_create(user=cast.owner, name="test", scopes=(TokenScope.READ,)).raw)
    out = io.StringIO()
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    call_command("report", "hypotheses", "--from", "2026-01-01", "--to", "2026-04-01",
                 "--format", "json", stdout=out)  # fmt: skip
    expected = REPORT.execute(ReportFilter(JAN, APR))
    response = api.get(
        "/api/v1/reports/hypotheses", {"date_from": "2026-01-01", "date_to": "2026-04-01"}
    )
    assert expected == _run()
    assert len(expected["hypotheses"]) == 3
    assert json.loads(out.getvalue()) == expected
    assert response.status_code == 200
    assert response.json() == expected
    table = REPORT.tables(expected)[0]
    assert table.values()[1][:11] == [
        "Call within an hour", "B2B", "Told us the task", "2026-03-01", 10, 5, 3, 0.6, 5, 4, 0.8,
    ]  # fmt: skip
