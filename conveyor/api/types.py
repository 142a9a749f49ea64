"""Input types shared by the routers, tight enough that the schema says what is accepted."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.utils import timezone
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

# Ids and versions fit the databases' 64-bit integers; anything larger cannot name a row.
MAX_INT = 2**63 - 1


def _iso_only(value: Any) -> Any:
    """Refuse numbers for date-times: pydantic would read them as Unix times, which the
    schema (format: date-time) does not promise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("Expected an ISO 8601 date-time.")
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("Expected an ISO 8601 date-time.")
    return value


def _in_utc(value: dt.datetime) -> dt.datetime:
    """The moment in UTC: ISO 8601 allows offsets (e.g. -21:11) PostgreSQL refuses. A naive
    time is left as it is, for the endpoint to refuse."""
    if timezone.is_naive(value):
        return value
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValueError("The date-time is out of range.") from None


Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Version = Annotated[int, Field(ge=1, le=MAX_INT)]
IsoDatetime = Annotated[dt.datetime, BeforeValidator(_iso_only), AfterValidator(_in_utc)]


class BodyIn(Schema):
    """A JSON request body: an object, nothing else (ninja would read attributes off a list)."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        # Ninja hands the data over wrapped in its DjangoGetter; look at what it wraps.
        if not isinstance(getattr(value, "_obj", value), dict):
            raise ValueError("The body must be a JSON object.")
        return value
