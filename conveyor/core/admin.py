"""The audit log in the admin (read only), and `AuditedAdmin`: the admins of the models that
matter audit their saves and deletes like the services do."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.db.models.deletion import Collector
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext as _

from conveyor.core.audit import (
    Changes,
    Snapshot,
    audit_changes,
    audit_deleted,
    audit_rows,
    audit_saved,
    audit_snapshot,
    model_of,
    record_type,
)
from conveyor.core.models import AuditAction, AuditEntry

M = TypeVar("M", bound=Model)

# What `save_model` saw before saving, kept on the request until `save_related` (which saves
# the many-to-many fields after it) writes the entry: {id(obj): (row, many-to-many ids)}.
_PENDING = "_conveyor_audit_pending"


def _actor(request: HttpRequest) -> AbstractBaseUser | None:
    user = request.user
    return user if isinstance(user, AbstractBaseUser) else None


def _stored(obj: Model) -> Snapshot | None:
    """The row `obj` is about to replace (locked, so the diff is against it), None if new."""
    if obj.pk is None:
        return None
    stored = model_of(obj)._base_manager.select_for_update().filter(pk=obj.pk).first()
    return audit_snapshot(stored) if stored is not None else None


def _concrete(model: type[Model]) -> type[Model]:
    return model._meta.concrete_model or model


def _m2m_names(obj: Model, form: Any) -> list[str]:
    """The many-to-many fields the admin form edits (only those can change here)."""
    fields = getattr(form, "fields", {})
    return [field.name for field in model_of(obj)._meta.many_to_many if field.name in fields]


def _m2m_ids(obj: Model, names: Sequence[str]) -> dict[str, list[Any]]:
    """The ids each many-to-many field points at in the database, sorted (as the services
    record them)."""
    if obj.pk is None:
        return {name: [] for name in names}
    return {
        name: sorted(getattr(obj, name).order_by().values_list("pk", flat=True)) for name in names
    }


def _audited_labels(site: admin.AdminSite) -> set[str]:
    """The models that matter here: those whose admin is audited, and the ones edited inline
    in such an admin (whose rows it audits too)."""
    labels = set()
    for model, model_admin in site._registry.items():
        if isinstance(model_admin, AuditedAdmin):
            labels.add(record_type(model))
            labels.update(record_type(inline.model) for inline in model_admin.inlines)
    return labels


def audit_admin_delete(request: HttpRequest, site: admin.AdminSite, objs: Sequence[Model]) -> None:
    """Append the entries of deleting `objs` (call it before deleting them): one per row of
    each, one per row of an audited model that Django cascades to (noted as such), and one per
    audited row whose reference is set to NULL. Django's own `Collector` finds those rows, so
    the log lists exactly what the delete is about to remove: nothing goes silently."""
    if not objs:
        return
    actor = _actor(request)
    model = model_of(objs[0])
    for obj in objs:
        audit_deleted(actor=actor, instance=obj)
    audited = _audited_labels(site)
    collector = Collector(using=router.db_for_write(model), origin=objs[0])
    collector.collect(list(objs))
    own = {(record_type(model), obj.pk) for obj in objs}
    gone: dict[type[Model], set[Any]] = defaultdict(set)
    for related, instances in collector.data.items():
        gone[_concrete(related)].update(obj.pk for obj in instances)
    for queryset in collector.fast_deletes:
        if record_type(queryset.model) in audited:  # no need to read the rows of the rest
            gone[_concrete(queryset.model)].update(queryset.values_list("pk", flat=True))
    note = _("Deleted along with %(record)s %(ids)s.") % {
        "record": model._meta.verbose_name,
        "ids": ", ".join(f"#{obj.pk}" for obj in objs),
    }
    for related, pks in gone.items():
        label = record_type(related)
        pks = {pk for pk in pks if (label, pk) not in own}
        if label not in audited or not pks:
            continue
        # Read again in full: the collector loads only the columns the delete needs.
        rows = related._base_manager.filter(pk__in=pks).order_by("pk")
        audit_rows(
            actor=actor,
            model=related,
            changes={
                row.pk: audit_changes(related, audit_snapshot(row), None)
                for row in rows.iterator(chunk_size=500)
            },
            action=AuditAction.DELETE,
            note=note,
            keep_empty=True,
        )
    nulled: dict[type[Model], dict[Any, Changes]] = defaultdict(dict)
    for (field, value), batches in collector.field_updates.items():
        related = _concrete(field.model)
        if record_type(related) not in audited:
            continue
        # A queryset (the rows a lazy SET_NULL will update) or a list of instances; the stubs
        # know only the latter.
        for batch in batches:
            batch_: Any = batch
            if isinstance(batch_, QuerySet):
                pairs = list(batch_.values_list("pk", field.attname))
            else:
                pairs = [(obj.pk, getattr(obj, field.attname)) for obj in batch_]
            for pk, old in pairs:
                if pk in gone.get(related, ()):
                    continue
                change = audit_changes(related, {field.attname: old}, {field.attname: value})
                nulled[related].setdefault(pk, {}).update(change)
    for related, links in _links_removed(collector, audited, gone).items():
        for pk, change in links.items():
            nulled[related].setdefault(pk, {}).update(change)
    for related, changes in nulled.items():
        audit_rows(
            actor=actor, model=related, changes=changes, action=AuditAction.UPDATE, note=note
        )


def _links_removed(
    collector: Collector, audited: set[str], gone: dict[type[Model], set[Any]]
) -> dict[type[Model], dict[Any, Changes]]:
    """{model: {pk: {field: [old ids, new ids]}}} for the audited rows that stay but lose
    many-to-many links to what is deleted (a loss reason offered at a deleted stage)."""
    batches = [qs for qs in collector.fast_deletes if isinstance(qs, QuerySet)]
    batches += [
        model._base_manager.filter(pk__in=[obj.pk for obj in instances])
        for model, instances in collector.data.items()
    ]
    out: dict[type[Model], dict[Any, Changes]] = defaultdict(dict)
    for batch in batches:
        through = batch.model
        owner = through._meta.auto_created  # the model whose field made the table, if any
        if not isinstance(owner, type) or record_type(owner) not in audited:
            continue
        field = next(f for f in owner._meta.many_to_many if f.remote_field.through is through)
        source = through._meta.get_field(field.m2m_field_name()).attname
        target = through._meta.get_field(field.m2m_reverse_field_name()).attname
        removed: dict[Any, set[Any]] = defaultdict(set)
        for owner_id, target_id in batch.values_list(source, target):
            if owner_id not in gone.get(_concrete(owner), ()):
                removed[owner_id].add(target_id)
        if not removed:
            continue
        links: dict[Any, list[Any]] = defaultdict(list)
        for owner_id, target_id in through._base_manager.filter(
            **{f"{source}__in": list(removed)}
        ).values_list(source, target):
            links[owner_id].append(target_id)
        for owner_id, lost in removed.items():
            old = sorted(links[owner_id])
            out[_concrete(owner)][owner_id] = {field.name: [old, sorted(set(old) - lost)]}
    return out


class AuditedAdmin(admin.ModelAdmin[M]):
    """Saves (many-to-many fields included), deletes (one by one or the bulk action, one entry
    per row, and per row the delete cascades to or sets to NULL) and inline rows are audited in
    the admin's own transaction."""

    def save_model(self, request: HttpRequest, obj: M, form: Any, change: bool) -> None:
        before = _stored(obj)
        m2m = _m2m_names(obj, form)
        m2m_before = _m2m_ids(obj, m2m)
        super().save_model(request, obj, form, change)
        pending = request.__dict__.setdefault(_PENDING, {})
        pending[id(obj)] = (before, m2m_before)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Django's order (the form's many-to-many, then the inlines), with the object's own
        # entry in between: after its many-to-many are saved, before its inline rows' entries.
        form.save_m2m()
        obj = form.instance
        pending = request.__dict__.get(_PENDING, {}).pop(id(obj), None)
        if pending is not None:
            before, m2m_before = pending
            m2m_after = _m2m_ids(obj, list(m2m_before))
            extra: Changes = {
                name: [m2m_before[name], ids]
                for name, ids in m2m_after.items()
                if ids != m2m_before[name]
            }
            audit_saved(actor=_actor(request), instance=obj, before=before, extra=extra)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: M) -> None:
        audit_admin_delete(request, self.admin_site, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[M]) -> None:
        # The "delete selected" action runs outside any transaction (unlike the delete view):
        # the entries and the delete must be one.
        with transaction.atomic(using=router.db_for_write(self.model)):
            audit_admin_delete(request, self.admin_site, list(queryset))
            super().delete_queryset(request, queryset)

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[Any],
        formset: BaseModelFormSet[Any, Any],
        change: bool,
    ) -> None:
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            audit_admin_delete(request, self.admin_site, [obj])
            obj.delete()
        for obj in instances:
            before = _stored(obj)
            obj.save()
            audit_saved(actor=_actor(request), instance=obj, before=before)
        formset.save_m2m()


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Shown, never added, changed or deleted: the database refuses edits anyway."""

    list_display = ["at", "actor", "action", "record_type", "record_id", "note"]
    list_filter = ["action", "record_type"]
    list_select_related = ["actor"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
