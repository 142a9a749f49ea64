"""Errors the services raise. Interfaces (web, API, commands) turn them into user messages."""

from __future__ import annotations


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
