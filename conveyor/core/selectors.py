"""Reads of the core tables: a record's audit history, ready to show.

The caller has already fetched the record through the access helper (`visible_deal`,
`people_for`): whoever may see a record may see its history, and nobody else gets this far.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Model, QuerySet
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from conveyor.core.audit import model_of, record_type
from conveyor.core.models import AuditEntry

AUDIT_HISTORY_LIMIT = 20


def audit_entries(instance: Model) -> QuerySet[AuditEntry]:
    """The entries of one record, newest first, with who made them: one query on the
    `audit_record_newest` index."""
    return (
        AuditEntry.objects.filter(
            record_type=record_type(model_of(instance)), record_id=instance.pk
        )
        .select_related("actor")
        .order_by("-at", "-id")
    )


def audit_latest_id(instance: Model) -> int:
    """The id of the record's newest entry, 0 if none: a stamp that changes with every saved
    change, which an edit form carries to tell whether someone saved in between."""
    return audit_entries(instance).values_list("id", flat=True).first() or 0


@dataclass(frozen=True)
class AuditLine:
    """One changed field: its label and the old and new values as text. `kept` is False for
    a field whose values the log does not keep (personal data, secrets)."""

    field: str
    old: str
    new: str
    kept: bool = True


@dataclass(frozen=True)
class AuditItem:
    entry: AuditEntry
    lines: list[AuditLine]


@dataclass(frozen=True)
class AuditHistory:
    """The newest entries of a record (at most the limit) and how many there are in all."""

    items: list[AuditItem]
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.items)


def _field(model: type[Model], name: str) -> models.Field[Any, Any] | None:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # a field since removed: shown by its name
        return None
    return field if isinstance(field, models.Field) else None


def _labels(model: type[Model], entries: list[AuditEntry]) -> dict[tuple[str, Any], str]:
    """(field name, id) -> the related record's name now, for every foreign key value in
    `entries`: one query per related model, however many entries there are."""
    wanted: dict[type[Model], set[Any]] = defaultdict(set)
    fields: dict[str, type[Model]] = {}
    for entry in entries:
        for name, pair in (entry.changes or {}).items():
            field = _field(model, name)
            if pair is None or field is None or not (field.many_to_one or field.one_to_one):
                continue
            related = field.related_model
            assert isinstance(related, type)
            fields[name] = related
            wanted[related].update(value for value in pair if value is not None)
    found = {
        related: related._base_manager.in_bulk(list(ids)) for related, ids in wanted.items() if ids
    }
    return {
        (name, pk): str(obj)
        for name, related in fields.items()
        for pk, obj in found.get(related, {}).items()
    }


def _text(
    field: models.Field[Any, Any] | None, name: str, value: Any, labels: dict[Any, str]
) -> str:
    if value is None or value == "":
        return "—"
    if field is None:
        return str(value)
    if field.many_to_one or field.one_to_one:
        return labels.get((name, value), f"#{value}")
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.BooleanField):
        return _("yes") if value else _("no")
    if isinstance(field, models.DateTimeField):
        moment = parse_datetime(str(value))
        if moment is not None:
            return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    elif isinstance(field, models.DateField):
        day = parse_date(str(value))
        if day is not None:
            return formats.date_format(day, "SHORT_DATE_FORMAT")
    if isinstance(field, models.DecimalField):
        try:
            return formats.number_format(
                Decimal(str(value)), decimal_pos=field.decimal_places, force_grouping=True
            )
        except InvalidOperation:
            return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _lines(
    model: type[Model], entry: AuditEntry, labels: dict[Any, str], withheld: Collection[str]
) -> list[AuditLine]:
    lines = []
    for name, pair in (entry.changes or {}).items():
        field = _field(model, name)
        label = capfirst(str(field.verbose_name)) if field is not None else name
        if pair is None or name in withheld:
            lines.append(AuditLine(field=label, old="", new="", kept=False))
            continue
        old, new = [*pair, None, None][:2]
        lines.append(
            AuditLine(
                field=label,
                old=_text(field, name, old, labels),
                new=_text(field, name, new, labels),
            )
        )
    return lines


def audit_history(
    instance: Model, *, limit: int = AUDIT_HISTORY_LIMIT, withheld: Collection[str] = ()
) -> AuditHistory:
    """The record's last `limit` entries with each change as text, and the total count.
    The fields in `withheld` are shown as changed without their values: a foreign key to a
    record the viewer may not see, which would otherwise be named.

    A fixed number of queries: the count, the entries with their actors, and one per kind of
    record their foreign keys name (stages, users, ...), whatever the number of entries.
    """
    entries = audit_entries(instance)
    page = list(entries[:limit])
    total = entries.count()
    model = model_of(instance)
    labels = _labels(model, page)
    return AuditHistory(
        items=[
            AuditItem(entry=entry, lines=_lines(model, entry, labels, withheld)) for entry in page
        ],
        total=total,
    )
