"""Input types shared by the routers, tight enough that the schema says what is accepted:
ids, versions, ISO dates and date-times, text the databases can store, and PATCH bodies."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, TypeVar

from django.db.models import Model
from django.utils import timezone
from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

# Ids and versions fit the databases' 64-bit integers; anything larger cannot name a row.
MAX_INT = 2**63 - 1
# The databases' 32-bit integer columns (IntegerField, PositiveIntegerField: counts, days) and
# small ones (PositiveSmallIntegerField: positions, a step's number, a rule's order).
MAX_INT32 = 2**31 - 1
MAX_SMALL = 32767


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


def no_nul(value: str) -> str:
    """Refuse a NUL character: PostgreSQL cannot store (or compare with) one in text or JSON."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed.")
    return value


def _iso_date(value: Any) -> Any:
    """Only YYYY-MM-DD (the schema's `format: date`): pydantic would also read a number as a
    Unix time."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError("Expected a date as YYYY-MM-DD.")


Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Version = Annotated[int, Field(ge=1, le=MAX_INT)]
IsoDatetime = Annotated[dt.datetime, BeforeValidator(_iso_only), AfterValidator(_in_utc)]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
# Text the databases can store and compare with.
Text = Annotated[str, AfterValidator(no_nul)]


class BodyIn(Schema):
    """A JSON request body: an object, nothing else (ninja would read attributes off a list)."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        # Ninja hands the data over wrapped in its DjangoGetter; look at what it wraps.
        if not isinstance(getattr(value, "_obj", value), dict):
            raise ValueError("The body must be a JSON object.")
        return value


# --- PATCH bodies -------------------------------------------------------------------------------


def fields_sent(payload: BaseModel) -> dict[str, Any]:
    """The fields of a PATCH body that were sent, each whole: a nested object or list sent
    keeps its own defaults (`model_dump(exclude_unset=True)` would drop those too)."""
    full = payload.model_dump()
    return {name: full[name] for name in payload.model_fields_set}


M = TypeVar("M", bound=Model)


def locked(record: M) -> M:
    """`record` read again with its row locked until the transaction ends: a PATCH merges the
    fields sent into the record as it is now, so two PATCHes of different fields at once both
    keep their change (the later waits for the earlier). The handler runs in a transaction
    (`@transaction.atomic`); the record was found through the caller's own queryset first, so
    one the caller may not see is still a 404."""
    return type(record)._default_manager.select_for_update().get(pk=record.pk)


# The placeholder of a PATCH field left out (never a value: `fields_sent` leaves it out).
UNSET: Any = None


def unsent(**constraints: Any) -> Any:
    """A PATCH field: left out, the record keeps its value; sent, it must be a value of its type
    (`null` is refused unless the type allows it). The placeholder is never validated."""
    return Field(UNSET, **constraints)


def _no_defaults(schema: dict[str, Any]) -> None:
    # A PATCH field left out keeps its value; the placeholder default (None) is no value to
    # promise in the schema (and `null` is refused where the field is not nullable).
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class PatchIn(BodyIn):
    """A PATCH body: only the fields sent change (`fields_sent`)."""

    model_config = ConfigDict(json_schema_extra=_no_defaults)
