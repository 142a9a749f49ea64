"""Errors the services raise. Interfaces (web, API, commands) turn them into user messages."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model


class ServiceError(Exception):
    """A business rule refused the change; nothing was written. `field` names the input at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return str(self.message)


class ConflictError(ServiceError):
    """The record changed since the caller read it (stale `version`); reload and try again."""


class PermissionDenied(ServiceError):
    """The acting user may not touch this record."""


def full_clean_or_refuse(instance: Model, *, exclude: Collection[str] | None = None) -> None:
    """The model's own validation (fields, choices, uniqueness, constraints) before a settings
    service saves; its first complaint becomes a ServiceError on that field."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        errors = (
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        )
        field, problems = next(iter(errors.items()))
        raise ServiceError(
            " ".join(problems), field=None if field == NON_FIELD_ERRORS else field
        ) from None


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The API's one error shape (`conveyor.api.errors`); here so middleware below the API
    answers in it too."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}
