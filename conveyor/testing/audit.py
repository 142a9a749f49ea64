"""Test helpers for the audit log: a record's entries, oldest first."""

from __future__ import annotations

from django.db.models import Model

from conveyor.core.models import AuditEntry
from conveyor.core.selectors import audit_entries


def log_of(instance: Model) -> list[AuditEntry]:
    """The record's audit entries in the order they were written."""
    return list(audit_entries(instance).order_by("pk"))


def actions_of(instance: Model) -> list[str]:
    return [entry.action for entry in log_of(instance)]
