from __future__ import annotations

import pytest
from pytest_django import Settings

from conveyor.intake.models import QualificationQuestion, QuestionKind
from conveyor.intake.qualification import answer_matches, score_answers, temperature_for
from conveyor.people.models import Temperature
from conveyor.pipelines.models import Segment


def _questions() -> list[QualificationQuestion]:
    """Unsaved questions with fixed ids: scoring is pure and needs no database."""
    segment = Segment(name="Small business")
    return [
        QualificationQuestion(
            pk=1,
            segment=segment,
            position=1,
            text="How many people will use it?",
            kind=QuestionKind.NUMBER,
            scoring=[[1, 2, 0], [3, 20, 10], [21, 1000, 5]],
            is_required=True,
        ),
        QualificationQuestion(
            pk=2,
            segment=segment,
            position=2,
            text="Do you already use a CRM?",
            kind=QuestionKind.YES_NO,
            scoring={"yes": 5, "no": 10},
        ),
        QualificationQuestion(
            pk=3,
            segment=segment,
            position=3,
            text="When do you want to start?",
            kind=QuestionKind.CHOICE,
            options=["This week", "This month", "Later"],
            scoring={"This week": 10, "This month": 6, "Later": 0},
        ),
        QualificationQuestion(
            pk=4,
            segment=segment,
            position=4,
            text="Anything else?",
            kind=QuestionKind.TEXT,
            scoring={"answered": 2},
        ),
    ]


def test_each_kind_scores_by_its_table() -> None:
    score = score_answers(
        _questions(), {"1": "5", "2": "no", "3": "This week", "4": "We sell tyres"}
    )
    assert score.errors == {}
    assert score.points == 10 + 10 + 10 + 2
    assert score.temperature == Temperature.HOT
    assert score.answers == {"1": 5, "2": "no", "3": "This week", "4": "We sell tyres"}


@pytest.mark.parametrize(
    ("people", "points"),
    [("1", 0), ("2", 0), ("3", 10), ("20", 10), ("21", 5), ("1000", 5), ("5000", 0), (7.0, 10)],
)
def test_number_bands_are_inclusive_and_outside_scores_nothing(people: object, points: int) -> None:
    assert score_answers(_questions(), {"1": people}).points == points


def test_yes_no_accepts_booleans_and_words() -> None:
    assert score_answers(_questions(), {"1": "1", "2": True}).answers["2"] == "yes"
    assert score_answers(_questions(), {"1": "1", "2": "Yes"}).points == 5
    assert score_answers(_questions(), {"1": "1", "2": False}).points == 10


def test_invalid_answers_are_reported_per_question() -> None:
    score = score_answers(_questions(), {"1": "many", "2": "maybe", "3": "Next year"})
    assert set(score.errors) == {"1", "2", "3"}
    assert "number" in score.errors["1"]
    assert "yes or no" in score.errors["2"]
    assert "Next year" in score.errors["3"]
    assert not score.ok


def test_required_unanswered_is_an_error_optional_unanswered_scores_nothing() -> None:
    score = score_answers(_questions(), {"2": "yes", "4": "  "})
    assert score.errors == {"1": "This question is required."}
    assert score_answers(_questions(), {"1": "3"}).errors == {}


def test_unknown_questions_are_ignored_and_bad_scoring_counts_nothing() -> None:
    questions = _questions()
    questions[3].scoring = {"answered": "lots"}
    score = score_answers(questions, {"1": "3", "99": "x", "4": "hi"})
    assert score.points == 10
    assert "99" not in score.answers


def test_temperature_thresholds(settings: Settings) -> None:
    settings.CONVEYOR_WARM_SCORE = 10
    settings.CONVEYOR_HOT_SCORE = 20
    assert temperature_for(9) == Temperature.COLD
    assert temperature_for(10) == Temperature.WARM
    assert temperature_for(19) == Temperature.WARM
    assert temperature_for(20) == Temperature.HOT
    assert temperature_for(5, warm=5, hot=50) == Temperature.WARM
    settings.CONVEYOR_HOT_SCORE = 30
    assert score_answers(_questions(), {"1": "5", "2": "no", "3": "Later"}).temperature == (
        Temperature.WARM
    )


def test_answer_matches_numbers_as_numbers_and_words_case_insensitively() -> None:
    assert answer_matches(10, "10.0")
    assert not answer_matches(10, "ten")
    assert answer_matches("This week", "this WEEK ")
    assert not answer_matches(None, "yes")
