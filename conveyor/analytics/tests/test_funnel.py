"""The funnel report (DESIGN §4, §5) against a hand-built history whose every number is worked
out by hand below."""

from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction
from typing import Any

import pytest
from django.db import connection

from conveyor.analytics.queries import (
    MEDIAN,
    P90,
    US_PER_HOUR,
    finished_stays,
    funnel,
    stay_quantiles_by_rank,
    stay_quantiles_percentile_cont,
)
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
from conveyor.core.timewindow import Window
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import pipeline_with_stages

pytestmark = pytest.mark.django_db

JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
# Stages, one GROUP BY over the deals, the names of the loss reasons met, two for the stage
# intervals (the counts per stage, then the values at the quantiles' ranks).
QUERIES = 5


@pytest.fixture
def history(pipeline: Pipeline) -> History:
    return build_history(pipeline, pipeline_with_stages(["Other: asked"], name="Other"))


def test_funnel_whole_report(history: History, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(QUERIES) as captured:
        report = funnel(pipeline=history.pipeline, date_from=JAN, date_to=APR)
    # The stays are read from the stage changes alone (the cohort keys kept on them), not
    # joined to the deals.
    for query in captured.captured_queries[-2:]:
        assert "pipelines_stagechange" in query["sql"] and "JOIN" not in query["sql"]

    # Cohort d1..d9 ("before", "at_end" and "other" are not in it): won d1; lost d3 d4 d5 d7 d8;
    # open d2 d6 d9.
    # Highest position held by the deals not won: d2 3, d3 3, d4 2, d5 1, d6 1, d7 1, d8 5, d9 3;
    # d1 is won and reached every stage. So reached(1) = 1 + 8 = 9, reached(2) = 1 + 5 = 6
    # (d2 d3 d4 d8 d9; d3 skipped stage 2 but reached it; d4 was opened there),
    # reached(3) = 1 + 4 = 5 (d2 d3 d8 d9; d2's move back does not lower it), reached(4) = 1 + 1,
    # reached(5) = 1 + 1 (d8 went through the archived stage 5).
    #
    # Finished intervals in hours, sorted; percentile_cont position = fraction * (n - 1):
    # S1 [1, 1, 1.5, 2, 2.5, 4, 5, 8] (d5 d8 d9 d9 d1 d2 d7 d3), n = 8:
    #    median pos 3.5 -> 2 + 0.5 * (2.5 - 2) = 2.25; p90 pos 6.3 -> 5 + 0.3 * (8 - 5) = 5.9
    # S2 [1, 2.5, 3, 3, 6, 10] (d8 d9 d4 d9 d2 d1; d2's second stay is running), n = 6:
    #    median pos 2.5 -> 3 + 0.5 * (3 - 3) = 3.0; p90 pos 4.5 -> 6 + 0.5 * (10 - 6) = 8.0
    # S3 [2, 6, 12, 24] (d8 d2 d3 d1; d9's stay is running), n = 4:
    #    median pos 1.5 -> 6 + 0.5 * (12 - 6) = 9.0; p90 pos 2.7 -> 12 + 0.7 * (24 - 12) = 20.4
    # S4 [4, 6] (d1 d8), n = 2: median pos 0.5 -> 5.0; p90 pos 0.9 -> 4 + 0.9 * (6 - 4) = 5.8
    # S5 [20] (d8): median = p90 = 20.0
    assert report == {
        "pipeline": history.pipeline.name,
        "from": "2026-01-01",
        "to": "2026-04-01",
        "cohort": 9,
        "won": 1,
        "lost": 5,
        "open": 3,
        "end_to_end_conversion": 0.1111,  # 1 / 9
        "stages": [
            {
                "position": 1,
                "stage": "Left a request",
                "reached": 9,
                "conversion_to_next": 0.6667,  # 6 / 9
                "lost": 2,  # d5 (refused by us), d7
                "lost_by_reason": {"No answer": 1, "Not our client": 1},
                "refused_by_us": 1,
                "open": 1,  # d6
                "hours_in_stage_median": 2.25,
                "hours_in_stage_p90": 5.9,
            },
            {
                "position": 2,
                "stage": "Told us the task",
                "reached": 6,
                "conversion_to_next": 0.8333,  # 5 / 6
                "lost": 1,  # d4
                "lost_by_reason": {"No answer": 1},
                "refused_by_us": 0,
                "open": 1,  # d2, moved back here
                "hours_in_stage_median": 3.0,
                "hours_in_stage_p90": 8.0,
            },
            {
                "position": 3,
                "stage": "Received the offer",
                "reached": 5,
                "conversion_to_next": 0.4,  # 2 / 5
                "lost": 1,  # d3
                "lost_by_reason": {"No budget": 1},
                "refused_by_us": 0,
                "open": 1,  # d9
                "hours_in_stage_median": 9.0,
                "hours_in_stage_p90": 20.4,
            },
            {
                "position": 4,
                "stage": "Agreed terms",
                "reached": 2,
                "conversion_to_next": 1.0,  # 2 / 2
                "lost": 0,
                "lost_by_reason": {},
                "refused_by_us": 0,
                "open": 0,
                "hours_in_stage_median": 5.0,
                "hours_in_stage_p90": 5.8,
            },
            {
                # Archived, listed because d8 went through it; "Sent a fax" (archived, never
                # touched) is not listed.
                "position": 5,
                "stage": "Paid a deposit",
                "reached": 2,
                "conversion_to_next": 0.5,  # last stage: won / reached = 1 / 2
                "lost": 1,  # d8
                "lost_by_reason": {"No budget": 1},
                "refused_by_us": 0,
                "open": 0,
                "hours_in_stage_median": 20.0,
                "hours_in_stage_p90": 20.0,
            },
        ],
    }


def test_funnel_empty_window(history: History) -> None:
    report = funnel(
        pipeline=history.pipeline, date_from=dt.date(2027, 1, 1), date_to=dt.date(2027, 2, 1)
    )
    empty_stage = {
        "reached": 0,
        "conversion_to_next": None,
        "lost": 0,
        "lost_by_reason": {},
        "refused_by_us": 0,
        "open": 0,
        "hours_in_stage_median": None,
        "hours_in_stage_p90": None,
    }
    assert report == {
        "pipeline": history.pipeline.name,
        "from": "2027-01-01",
        "to": "2027-02-01",
        "cohort": 0,
        "won": 0,
        "lost": 0,
        "open": 0,
        "end_to_end_conversion": None,
        "stages": [  # archived stages are left out: no deal of the cohort touched them
            {"position": 1, "stage": "Left a request", **empty_stage},
            {"position": 2, "stage": "Told us the task", **empty_stage},
            {"position": 3, "stage": "Received the offer", **empty_stage},
            {"position": 4, "stage": "Agreed terms", **empty_stage},
        ],
    }


def test_window_is_in_the_account_time_zone(history: History, settings: Any) -> None:
    # Europe/Sofia is UTC+2 in January and UTC+3 from 29 March 2026: the window starts at
    # 2025-12-31 22:00 UTC (takes in "before", opened 23:30 UTC) and ends at 2026-03-31 21:00 UTC
    # (leaves out d9, opened 23:30 UTC).
    settings.TIME_ZONE = "Europe/Sofia"
    report = funnel(pipeline=history.pipeline, date_from=JAN, date_to=APR)
    assert (report["cohort"], report["won"], report["lost"], report["open"]) == (9, 1, 6, 2)
    s1 = report["stages"][0]
    assert (s1["lost"], s1["lost_by_reason"]) == (3, {"No answer": 2, "Not our client": 1})
    # S1 without d9's 2 and 1.5, with "before"'s 100: [1, 1, 2.5, 4, 5, 8, 100], n = 7:
    # median pos 3 -> 4.0; p90 pos 5.4 -> 8 + 0.4 * (100 - 8) = 44.8
    assert (s1["hours_in_stage_median"], s1["hours_in_stage_p90"]) == (4.0, 44.8)


def test_query_count_does_not_grow_with_deals(
    history: History, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(QUERIES):
        funnel(pipeline=history.pipeline, date_from=JAN, date_to=APR)
    s1, s2, s3 = history.s1, history.s2, history.s3
    for day in range(1, 29):
        opened = at(f"2026-02-{day:02d}")
        build_deal(history.pipeline, opened, [enter(s1), move(s2, day), move(s3, 2 * day)])
        build_deal(history.pipeline, opened, [enter(s2), lost(day)], lost_reason=history.no_answer)
        build_deal(history.pipeline, opened, [enter(s1), move(s3, 1), won(day)])
    with django_assert_num_queries(QUERIES):
        report = funnel(pipeline=history.pipeline, date_from=JAN, date_to=APR)
    assert report["cohort"] == 9 + 3 * 28


def _reference_percentile(values: list[float], fraction: float) -> float:
    """numpy.percentile(..., method='linear'), written out."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_linear_interpolation(pipeline: Pipeline, seed: int) -> None:
    """Random whole-minute intervals: the database's percentiles equal the reference."""
    rng = random.Random(seed)
    stages = list(pipeline.stages.order_by("position"))
    minutes: dict[int, list[int]] = {stage.pk: [] for stage in stages}
    for index in range(rng.randint(15, 40)):
        path, current, elapsed = [enter(stages[0])], stages[0], 0
        for stage in [*stages[1 : rng.randint(1, 4)], None]:
            stay = rng.randint(0, 3000)
            minutes[current.pk].append(stay)
            elapsed += stay
            current = stage or current
            path.append(move(stage, elapsed / 60) if stage else won(elapsed / 60))
        build_deal(pipeline, at("2026-01-02", hours=index), path)

    window = Window(JAN, APR)
    expected = {
        (stage_id, fraction): round(_reference_percentile(values, fraction) / 60, 2)
        for stage_id, values in minutes.items()
        if values
        for fraction in (0.5, 0.9)
    }
    implementations = [stay_quantiles_by_rank]
    if connection.vendor == "postgresql":
        implementations.append(stay_quantiles_percentile_cont)
    stays = finished_stays(window, pipeline=pipeline)
    for implementation in implementations:
        got = {
            (stage_id, fraction): round(value / US_PER_HOUR, 2)
            for stage_id, (_n, quantiles) in implementation(stays, [MEDIAN, P90]).items()
            for fraction, value in zip((0.5, 0.9), quantiles, strict=True)
        }
        assert got == pytest.approx(expected, abs=0.011), implementation.__name__
        counts = {stage_id: n for stage_id, (n, _q) in implementation(stays, [MEDIAN]).items()}
        assert counts == {stage_id: len(values) for stage_id, values in minutes.items() if values}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 11])
def test_rank_lookups_read_every_rank_from_either_end(pipeline: Pipeline, n: int) -> None:
    """SQLite's rank lookups walk from the nearer end of the stage's stays: every quantile,
    for small and odd counts, equals the reference (and PostgreSQL's percentile_cont)."""
    s1, s2 = list(pipeline.stages.order_by("position"))[:2]
    minutes = [(7 * index) % 23 + index for index in range(n)]  # distinct, out of order
    for index, stay in enumerate(minutes):
        build_deal(pipeline, at("2026-01-02", hours=index), [enter(s1), move(s2, stay / 60)])
    fractions = [Fraction(0), Fraction(1, 10), MEDIAN, Fraction(3, 4), P90, Fraction(1)]
    implementations = [stay_quantiles_by_rank]
    if connection.vendor == "postgresql":
        implementations.append(stay_quantiles_percentile_cont)
    stays = finished_stays(Window(JAN, APR), pipeline=pipeline)
    for implementation in implementations:
        (count, quantiles) = implementation(stays, fractions)[s1.pk]
        assert count == n
        expected = [_reference_percentile(minutes, float(f)) * 60_000_000 for f in fractions]
        assert quantiles == pytest.approx(expected), implementation.__name__


def test_without_hours_the_same_stages_and_counts(history: History) -> None:
    """The dashboard's funnel (no time in stage) lists the same stages, archived ones the cohort
    went through included, with the same counts."""
    # Through the archived "s6" and on: s6 is listed for this finished stay alone.
    path = [enter(history.s1), move(history.s6_archived, 1), move(history.s2, 3)]
    build_deal(history.pipeline, at("2026-02-03"), path)
    full = funnel(pipeline=history.pipeline, date_from=JAN, date_to=APR)
    counts = funnel(pipeline=history.pipeline, date_from=JAN, date_to=APR, hours=False)
    hours = ("hours_in_stage_median", "hours_in_stage_p90")

    def without_hours(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in stage.items() if k not in hours} for stage in stages]

    assert without_hours(counts["stages"]) == without_hours(full["stages"])
    listed = [stage["stage"] for stage in counts["stages"]]
    assert history.s5_archived.name in listed and history.s6_archived.name in listed
    assert all(stage[key] is None for stage in counts["stages"] for key in hours)
