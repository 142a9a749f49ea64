"""`conveyor report funnel ...`: JSON and CSV output and the error messages."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conveyor.analytics.queries import funnel
from conveyor.analytics.tests.history import History, build_history
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import pipeline_with_stages

pytestmark = pytest.mark.django_db

NAME = "Б2Б / конверсия"


@pytest.fixture
def history(pipeline: Pipeline) -> History:
    pipeline.name = NAME
    pipeline.save()
    return build_history(pipeline, pipeline_with_stages(["Other: asked"], name="Other"))


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def funnel_args(*extra: str) -> list[str]:
    return ["funnel", "--pipeline", NAME, "--from", "2026-01-01", "--to", "2026-04-01", *extra]


def test_json_is_the_report_dict(history: History) -> None:
    text = report(*funnel_args("--format", "json"))
    expected = funnel(
        pipeline=history.pipeline, date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 4, 1)
    )
    assert json.loads(text) == expected
    assert text == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
    assert f'"pipeline": "{NAME}"' in text  # not \u-escaped


def test_json_is_the_default_format(history: History) -> None:
    assert json.loads(report(*funnel_args()))["cohort"] == 9


def test_csv(history: History) -> None:
    history.no_budget.name = "@budget"  # a formula-looking cell gets an apostrophe
    history.no_budget.save()
    text = report(*funnel_args("--format", "csv"))
    # The numbers are those of test_funnel.test_funnel_whole_report.
    assert text.split("\r\n") == [
        "position,stage,reached,conversion_to_next,lost,refused_by_us,open,"
        "hours_in_stage_median,hours_in_stage_p90,lost_by_reason",
        "1,Left a request,9,0.6667,2,1,1,2.25,5.9,No answer=1; Not our client=1",
        "2,Told us the task,6,0.8333,1,0,1,3.0,8.0,No answer=1",
        "3,Received the offer,5,0.4,1,0,1,9.0,20.4,'@budget=1",
        "4,Agreed terms,2,1.0,0,0,0,5.0,5.8,",
        "5,Paid a deposit,2,0.5,1,0,0,20.0,20.0,'@budget=1",
        "",
    ]


def test_csv_of_an_empty_window_has_empty_cells_for_none(history: History) -> None:
    text = report("funnel", "--pipeline", NAME, "--from", "2030-01-01", "--to", "2030-02-01",
                  "--format", "csv")  # fmt: skip
    assert text.split("\r\n")[1] == "1,Left a request,0,,0,0,0,,,"


def test_unknown_pipeline_lists_the_existing_ones(history: History) -> None:
    with pytest.raises(CommandError) as error:
        report("funnel", "--pipeline", "B2C", "--from", "2026-01-01", "--to", "2026-04-01")
    assert str(error.value) == f"No pipeline named 'B2C'. Existing pipelines: 'Other', '{NAME}'."


def test_unknown_pipeline_when_there_are_none(db: None) -> None:
    with pytest.raises(CommandError, match="Existing pipelines: none yet"):
        report("funnel", "--pipeline", "B2C", "--from", "2026-01-01", "--to", "2026-04-01")


@pytest.mark.parametrize(
    ("date_from", "date_to", "message"),
    [
        ("2026-13-01", "2026-04-01", "--from: '2026-13-01' is not a date in the form YYYY-MM-DD."),
        ("2026-01-01", "April", "--to: 'April' is not a date in the form YYYY-MM-DD."),
        ("2026-04-01", "2026-04-01", "--from (2026-04-01) must be before --to (2026-04-01)"),
        ("2026-05-01", "2026-04-01", "--from (2026-05-01) must be before --to (2026-04-01)"),
    ],
)
def test_bad_dates(history: History, date_from: str, date_to: str, message: str) -> None:
    with pytest.raises(CommandError) as error:
        report("funnel", "--pipeline", NAME, "--from", date_from, "--to", date_to)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["churn", "--from", "2026-01-01", "--to", "2026-04-01"], "invalid choice: 'churn'"),
        (funnel_args("--format", "pdf"), "invalid choice: 'pdf'"),
        (["funnel", "--from", "2026-01-01", "--to", "2026-04-01"], "--pipeline"),
    ],
)
def test_bad_arguments(db: None, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        report(*args)
