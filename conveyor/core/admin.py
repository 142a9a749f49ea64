"""The audit log in the admin (read only), and `AuditedAdmin`: the admins of the models that
matter audit their saves and deletes like the services do."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Model, QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest

from conveyor.core.audit import Snapshot, audit_deleted, audit_saved, audit_snapshot, model_of
from conveyor.core.models import AuditEntry

M = TypeVar("M", bound=Model)


def _actor(request: HttpRequest) -> AbstractBaseUser | None:
    user = request.user
    return user if isinstance(user, AbstractBaseUser) else None


def _stored(obj: Model) -> Snapshot | None:
    """The row `obj` is about to replace (locked, so the diff is against it), None if new."""
    if obj.pk is None:
        return None
    stored = model_of(obj)._base_manager.select_for_update().filter(pk=obj.pk).first()
    return audit_snapshot(stored) if stored is not None else None


class AuditedAdmin(admin.ModelAdmin[M]):
    """Saves, deletes (one by one or the bulk action, one entry per row) and inline rows are
    audited in the admin's own transaction. Many-to-many changes are not."""

    def save_model(self, request: HttpRequest, obj: M, form: Any, change: bool) -> None:
        before = _stored(obj)
        super().save_model(request, obj, form, change)
        audit_saved(actor=_actor(request), instance=obj, before=before)

    def delete_model(self, request: HttpRequest, obj: M) -> None:
        audit_deleted(actor=_actor(request), instance=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[M]) -> None:
        for obj in queryset:
            audit_deleted(actor=_actor(request), instance=obj)
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
            audit_deleted(actor=_actor(request), instance=obj)
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
