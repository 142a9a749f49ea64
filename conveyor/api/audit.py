"""The audit log of one record over the API: the shape of an entry and one page of them.

The endpoints (`/deals/{id}/audit`, `/people/{id}/audit`) fetch the record through the access
helper first, so whoever may read a record may read its log and nobody else.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from ninja import Field, Schema

from conveyor.api.pagination import page
from conveyor.api.types import Id, IsoDatetime
from conveyor.core.selectors import audit_entries

AUDIT_DESCRIPTION = (
    "Who changed what and when, newest first. `changes` maps each changed field to "
    "`[old, new]` (foreign keys as ids); `null` means the field changed but its values are "
    "not kept (personal data, secrets). `actor_id` is null for the system (automation, "
    "imports, the command line)."
)


class AuditEntryOut(Schema):
    id: int
    at: IsoDatetime
    actor_id: Id | None
    action: str
    changes: dict[str, list[Any] | None] = Field(
        description="{field: [old, new]}, or {field: null} when the values are not kept."
    )
    note: str


class AuditPage(Schema):
    items: list[AuditEntryOut]
    next_cursor: str | None


def audit_page(instance: Model, *, cursor: str | None, limit: int) -> dict[str, Any]:
    items, next_cursor = page(audit_entries(instance), cursor=cursor, limit=limit, ordering="-at")
    return {"items": items, "next_cursor": next_cursor}
