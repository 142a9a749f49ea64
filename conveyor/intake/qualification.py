"""Scoring a lead's answers to its segment's qualifying questions. Pure functions, no writes.

Each question's `scoring` (edited in the admin, so read defensively) maps an answer to points:
choices {"option": points}, yes/no {"yes": points, "no": points}, numbers a list of
[min, max, points] bands (inclusive; the first band that holds the number counts), text
{"answered": points} for any non-empty answer. The sum gives the temperature: at least
CONVEYOR_WARM_SCORE is warm, at least CONVEYOR_HOT_SCORE hot, anything less cold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from conveyor.intake.models import QualificationQuestion, QuestionKind
from conveyor.people.models import Temperature

YES = frozenset({"yes", "y", "true", "1", "on", "да", "д"})
NO = frozenset({"no", "n", "false", "0", "off", "не", "нет", "н"})


@dataclass(frozen=True)
class Score:
    """The points, the temperature they give, per-question errors (keyed by question id as a
    string) and the cleaned answers worth storing (same keys)."""

    points: int
    temperature: str
    errors: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def temperature_for(points: int, *, warm: int | None = None, hot: int | None = None) -> str:
    """cold / warm / hot for a score, against the given thresholds or the account's."""
    warm = settings.CONVEYOR_WARM_SCORE if warm is None else warm
    hot = settings.CONVEYOR_HOT_SCORE if hot is None else hot
    if points >= hot:
        return Temperature.HOT
    if points >= warm:
        return Temperature.WARM
    return Temperature.COLD


def _points(value: Any) -> int:
    # Points come from hand-edited JSON: a string "5" still counts, nonsense counts nothing.
    if isinstance(value, bool):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _band_points(scoring: Any, number: Decimal) -> int:
    if not isinstance(scoring, list):
        return 0
    for band in scoring:
        if not isinstance(band, list | tuple) or len(band) != 3:
            continue
        low, high = _number(band[0]), _number(band[1])
        if low is None or high is None:
            continue
        if low <= number <= high:
            return _points(band[2])
    return 0


def _plain(number: Decimal) -> int | float:
    """A JSON-friendly number: whole numbers stay integers."""
    return int(number) if number == number.to_integral_value() else float(number)


def score_one(question: QualificationQuestion, value: Any) -> tuple[int, Any, str | None]:
    """Points, the cleaned answer and an error (or None) for one answered question."""
    scoring = question.scoring if isinstance(question.scoring, dict | list) else {}
    if question.kind == QuestionKind.CHOICE:
        option = str(value).strip()
        table = scoring if isinstance(scoring, dict) else {}
        known = {str(o) for o in question.options or []} | {str(k) for k in table}
        if option not in known:
            return 0, None, _("'%(value)s' is not one of the options.") % {"value": option}
        return _points(table.get(option)), option, None
    if question.kind == QuestionKind.YES_NO:
        word = ("yes" if value else "no") if isinstance(value, bool) else str(value).strip()
        if word.lower() in YES:
            answer = "yes"
        elif word.lower() in NO:
            answer = "no"
        else:
            return 0, None, _("Answer yes or no.")
        table = scoring if isinstance(scoring, dict) else {}
        return _points(table.get(answer)), answer, None
    if question.kind == QuestionKind.NUMBER:
        number = _number(value)
        if number is None:
            return 0, None, _("Enter a number.")
        return _band_points(scoring, number), _plain(number), None
    # Text: any non-empty answer earns the points.
    table = scoring if isinstance(scoring, dict) else {}
    return _points(table.get("answered")), str(value).strip(), None


def score_answers(
    questions: Iterable[QualificationQuestion],
    answers: Mapping[str, Any],
    *,
    warm: int | None = None,
    hot: int | None = None,
) -> Score:
    """Score `answers` (keyed by question id as a string) against `questions`.

    Unanswered optional questions earn nothing; an unanswered required one is an error, as is
    an unknown option, a non-number or a yes/no that is neither. Answers to questions not in
    `questions` are ignored (a form may post other fields). With errors the points still
    count what was valid, but callers should not store them.
    """
    total = 0
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for question in questions:
        key = str(question.pk)
        value = answers.get(key)
        if _is_blank(value):
            if question.is_required:
                errors[key] = _("This question is required.")
            continue
        points, answer, error = score_one(question, value)
        if error is not None:
            errors[key] = error
            continue
        total += points
        cleaned[key] = answer
    return Score(
        points=total,
        temperature=temperature_for(total, warm=warm, hot=hot),
        errors=errors,
        answers=cleaned,
    )


def answer_matches(answer: Any, expected: str) -> bool:
    """Does a stored (cleaned) answer equal a routing rule's expected value?

    Numbers compare as numbers ("10" matches 10.0), everything else case-insensitively.
    """
    if answer is None:
        return False
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        number = _number(expected)
        return number is not None and math.isclose(float(number), float(answer))
    return str(answer).strip().casefold() == expected.strip().casefold()
