"""Writing the audit log: snapshot a record, diff it, append entries (`AuditEntry`).

Services call these explicitly, inside their own transaction, after locking what they change:

    before = audit_snapshot(deal)
    ...change and save the deal...
    audit_record(actor=by, instance=deal, action=AuditAction.MOVE, before=before)

A bulk write goes through `audited_update` (or `audit_rows` / `audit_created`): one entry per
row, inserted with one bulk INSERT. Reading the log is `conveyor.core.selectors`.

What never reaches the log: secrets and bookkeeping (`NOT_RECORDED`, and any field named like
a password or a secret), and the values of fields that may hold a client's personal data
(`VALUES_NOT_KEPT`): for those the entry says only that the field changed, so erasing a person
leaves nothing of them here and the log never has to be edited. Models are named by label, so
this module imports no domain app.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import DecimalField, Field, Model, QuerySet
from django.db.models.expressions import Combinable

from conveyor.core.db import locked_or_refuse
from conveyor.core.fields import max_length
from conveyor.core.models import AuditAction, AuditEntry

Snapshot = dict[str, Any]  # attname -> value, as the instance holds it
Changes = dict[str, list[Any] | None]  # field name -> [old, new], or None: changed, not kept
M = TypeVar("M", bound=Model)

NOT_RECORDED: dict[str, frozenset[str]] = {
    "accounts.user": frozenset({"password", "last_login"}),
    "accounts.apitoken": frozenset({"key_hash", "prefix", "last_used_at"}),
    "accounts.totpdevice": frozenset({"secret", "last_step"}),
    # Bumped by every write: noise, and the optimistic-locking token.
    "pipelines.deal": frozenset({"version"}),
}
# Whatever the model: a field with one of these names is never recorded.
SECRET_NAMES = frozenset({"password", "secret", "key_hash", "token", "api_key"})
# The fields `person_erase` and its receivers clear (or that name a client), and secrets whose
# change itself is worth knowing.
VALUES_NOT_KEPT: dict[str, frozenset[str]] = {
    "accounts.user": frozenset({"calendar_key"}),
    "people.person": frozenset(
        {
            "name",
            "email",
            "phone",
            "company",
            "source",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "external_id",
        }
    ),
    "pipelines.deal": frozenset({"title"}),
    "touches.touch": frozenset({"note"}),
    "touches.task": frozenset({"title"}),
    "intake.lead": frozenset({"name", "email", "phone", "payload", "utm"}),
}

_BATCH = 500


def model_of(instance: Model) -> type[Model]:
    """The instance's concrete model, also through a lazy object (`request.user`, whose
    type() is the wrapper)."""
    model = instance._meta.concrete_model
    assert model is not None  # only abstract models lack one, and they have no instances
    return model


def record_type(model: type[Model]) -> str:
    """How the log names a model (`app.model`; a proxy by its concrete model)."""
    return (model._meta.concrete_model or model)._meta.label_lower


def _recorded_fields(model: type[Model]) -> list[Field[Any, Any]]:
    skip = NOT_RECORDED.get(record_type(model), frozenset())
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.name not in skip and field.name not in SECRET_NAMES
    ]


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Audit entries are written inside the service's transaction.")


def _jsonable(field: Field[Any, Any], value: Any) -> Any:
    """A value as the log keeps it: JSON types; money exact (to the field's decimal places),
    times in UTC ISO 8601."""
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, Decimal) and isinstance(field, DecimalField):
        return str(value.quantize(Decimal(1).scaleb(-(field.decimal_places or 0))))
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | list | dict):
        return value
    return str(value)  # anything else JSON has no type for (a duration, bytes, …)


def _is_set(value: Any) -> bool:
    return value not in (None, "", False) and value != [] and value != {}


def audit_snapshot(instance: Model) -> Snapshot:
    """The instance's recorded fields as they are now (foreign keys as ids), to diff later.
    Fields not loaded (`only()`, `defer()`) are left out rather than fetched one by one."""
    deferred = instance.get_deferred_fields()
    return {
        field.attname: copy.deepcopy(getattr(instance, field.attname))
        for field in _recorded_fields(model_of(instance))
        if field.attname not in deferred
    }


def audit_changes(model: type[Model], before: Snapshot | None, after: Snapshot | None) -> Changes:
    """{field: [old, new]} for the recorded fields that differ; `before` None is a creation
    (the fields given a value), `after` None a deletion. Fields whose values are not kept
    appear as {field: None}. Only the fields in `after` (or `before`) are compared."""
    hidden = VALUES_NOT_KEPT.get(record_type(model), frozenset())
    changes: Changes = {}
    for field in _recorded_fields(model):
        name = field.attname
        if before is None:
            if after is None or name not in after or not _is_set(after[name]):
                continue
            old, new = None, after[name]
        elif after is None:
            if name not in before or not _is_set(before[name]):
                continue
            old, new = before[name], None
        else:
            if name not in after or name not in before:
                continue
            old, new = before[name], after[name]
            if isinstance(new, Combinable) or old == new:
                continue  # an F() expression is bookkeeping the caller re-reads
        if field.name in hidden:
            changes[field.name] = None
        else:
            changes[field.name] = [_jsonable(field, old), _jsonable(field, new)]
    return changes


def _entry(
    *,
    actor: AbstractBaseUser | None,
    record_type: str,
    record_id: int | None,
    action: str,
    changes: Changes,
    note: str,
) -> AuditEntry:
    return AuditEntry(
        actor_id=actor.pk if actor is not None else None,
        action=action,
        record_type=record_type,
        record_id=record_id,
        changes=changes,
        note=note[: max_length(AuditEntry, "note")],
    )


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    instance: Model,
    action: str,
    before: Snapshot | None = None,
    changes: Changes | None = None,
    note: str = "",
) -> AuditEntry:
    """Append one entry about `instance`. Without `changes`, they are `before` against the
    instance now (`before` None: the values it was created with). `actor` None is the system."""
    _require_transaction()
    if changes is None:
        changes = audit_changes(model_of(instance), before, audit_snapshot(instance))
    entry = _entry(
        actor=actor,
        record_type=record_type(model_of(instance)),
        record_id=instance.pk,
        action=action,
        changes=changes,
        note=note,
    )
    entry.save(force_insert=True)
    return entry


def audit_deleted(
    *,
    actor: AbstractBaseUser | None,
    instance: Model,
    note: str = "",
    action: str = AuditAction.DELETE,
) -> AuditEntry:
    """Append the entry of a record about to be deleted (call it before `delete()`): its last
    values, so the log still says what was there."""
    return audit_record(
        actor=actor,
        instance=instance,
        action=action,
        changes=audit_changes(model_of(instance), audit_snapshot(instance), None),
        note=note,
    )


def audit_rows(
    *,
    actor: AbstractBaseUser | None,
    model: type[Model],
    changes: Mapping[int, Changes],
    action: str,
    note: str = "",
    keep_empty: bool = False,
) -> int:
    """Append one entry per row of `model` ({pk: changes}) in bulk; rows without changes are
    skipped unless `keep_empty` (a deletion is worth an entry whatever the row held). Returns
    how many entries were written."""
    _require_transaction()
    label = record_type(model)
    entries = [
        _entry(actor=actor, record_type=label, record_id=pk, action=action, changes=row, note=note)
        for pk, row in changes.items()
        if row or keep_empty
    ]
    AuditEntry.objects.bulk_create(entries, batch_size=_BATCH)
    return len(entries)


def audit_created(
    *,
    actor: AbstractBaseUser | None,
    instances: Iterable[Model],
    action: str = AuditAction.CREATE,
    note: str = "",
) -> int:
    """One creation entry per instance just inserted (a `bulk_create`), in bulk."""
    rows = list(instances)
    if not rows:
        return 0
    model = model_of(rows[0])
    return audit_rows(
        actor=actor,
        model=model,
        changes={row.pk: audit_changes(model, None, audit_snapshot(row)) for row in rows},
        action=action,
        note=note,
    )


def audited_update(
    queryset: QuerySet[Any],
    *,
    actor: AbstractBaseUser | None,
    values: Mapping[str, Any],
    action: str = AuditAction.UPDATE,
    note: str = "",
) -> int:
    """`queryset.update(**values)` with one entry per row that changed, in one bulk insert.

    The rows are locked and their old values read first, then updated by id, so the entries
    describe exactly the rows written. `values` are plain values or model instances (no
    expressions: the old and new value of each row must be known). Returns the rows updated.
    """
    _require_transaction()
    model = queryset.model
    new: Snapshot = {}
    for name, value in values.items():
        if isinstance(value, Combinable):
            raise TypeError(f"audited_update needs plain values, not {value!r}")
        new[model._meta.get_field(name).attname] = value.pk if isinstance(value, Model) else value
    attnames = list(new)
    rows = list(queryset.select_for_update(of=("self",)).values_list("pk", *attnames))
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), _BATCH):
        model._base_manager.filter(pk__in=ids[start : start + _BATCH]).update(**new)
    audit_rows(
        actor=actor,
        model=model,
        changes={
            pk: audit_changes(model, dict(zip(attnames, old, strict=True)), new)
            for pk, *old in rows
        },
        action=action,
        note=note,
    )
    return len(ids)


def audit_summary(
    *,
    actor: AbstractBaseUser | None,
    record_type: str,
    counts: Mapping[str, int],
    note: str,
    action: str = AuditAction.IMPORT,
) -> AuditEntry:
    """One entry standing for a bulk job too big to log row by row (an import of millions of
    rows): what it wrote, as {what: [None, how many]}, and a note; it names no single record."""
    _require_transaction()
    entry = _entry(
        actor=actor,
        record_type=record_type,
        record_id=None,
        action=action,
        changes={name: [None, count] for name, count in counts.items() if count},
        note=note,
    )
    entry.save(force_insert=True)
    return entry


def audit_saved(
    *,
    actor: AbstractBaseUser | None,
    instance: Model,
    before: Snapshot | None,
    extra: Changes | None = None,
) -> None:
    """The audit entry of a save (settings screens, the admin): a creation (`before` None),
    or an update when something changed. `extra` adds many-to-many changes, which snapshots do
    not see."""
    model = model_of(instance)
    changes = audit_changes(model, before, audit_snapshot(instance)) | (extra or {})
    if before is None:
        audit_record(actor=actor, instance=instance, action=AuditAction.CREATE, changes=changes)
    elif changes:
        audit_record(actor=actor, instance=instance, action=AuditAction.UPDATE, changes=changes)


def audit_editing(
    model: type[M],
    pk: int | None,
    missing: str,
    *,
    field: str | None = None,
    no_key: bool = False,
) -> tuple[M, Changes | None]:
    """The record a `<entity>_save` service writes, with its audit "before": a new, empty one
    (`pk` None; before None), or the stored one locked until the transaction ends and its
    snapshot; a ServiceError(`missing`, `field`) when `pk` names nothing."""
    if pk is None:
        return model(), None
    record = locked_or_refuse(model, pk, missing, field=field, no_key=no_key)
    return record, audit_snapshot(record)
