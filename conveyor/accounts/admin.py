from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import Holiday, SalesPlan, Team, TotpDevice, User
from conveyor.accounts.totp import audit_totp
from conveyor.core.admin import AuditedAdmin
from conveyor.core.audit import audit_record
from conveyor.core.models import AuditAction

# Django's own Group page, audited like every admin page that writes (a group grants staff
# permissions).
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdmin[Group], BaseGroupAdmin):
    pass


@admin.register(User)
class UserAdmin(AuditedAdmin[User], BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "role", "team", "is_active"]
    list_filter = ["role", "team", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("name", "role", "team", "capacity", "language")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Import"), {"fields": ("external_id",)}),
    )
    add_fieldsets = ((None, {"fields": ("email", "name", "role", "password1", "password2")}),)
    filter_horizontal = ("groups",)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # Django's password page saves the form itself, outside any transaction and past
        # save_model: log the change (never the hash) in one transaction with it.
        with transaction.atomic(using=router.db_for_write(User)):
            before = User.objects.filter(pk=id).values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            user = User.objects.filter(pk=id).first()
            if user is not None and before is not None and user.password != before:
                by = request.user if isinstance(request.user, User) else None
                audit_record(
                    actor=by, instance=user, action=AuditAction.UPDATE, changes={"password": None}
                )
        return response


@admin.register(Team)
class TeamAdmin(AuditedAdmin[Team]):
    list_display = ["name", "head"]
    search_fields = ["name"]


@admin.register(Holiday)
class HolidayAdmin(AuditedAdmin[Holiday]):
    list_display = ["date", "name"]


@admin.register(SalesPlan)
class SalesPlanAdmin(AuditedAdmin[SalesPlan]):
    list_display = ["month", "user", "team", "revenue", "deals"]
    list_filter = ["month", "team"]


@admin.register(TotpDevice)
class TotpDeviceAdmin(AuditedAdmin[TotpDevice]):
    """Who has two-factor login on. Deleting an entry is the way back in for someone who lost
    their phone; the secret is never shown (nor logged), and entries are made only by their
    user. A deletion is audited on the device and, when it was on, as turned off on the user."""

    list_display = ["user", "confirmed_at", "created_at"]
    search_fields = ["user__email", "user__name"]
    fields = ["user", "confirmed_at", "created_at"]
    readonly_fields = ["user", "confirmed_at", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: TotpDevice) -> None:
        super().delete_model(request, obj)
        _audit_turned_off(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TotpDevice]) -> None:
        with transaction.atomic(using=router.db_for_write(TotpDevice)):
            devices = list(queryset.select_related("user"))
            super().delete_queryset(request, queryset)
            _audit_turned_off(request, devices)


def _audit_turned_off(request: HttpRequest, devices: list[TotpDevice]) -> None:
    by = request.user if isinstance(request.user, User) else None
    for device in devices:
        if device.confirmed_at is not None:  # an unfinished enrolment was never on
            audit_totp(user=device.user, on=False, by=by, note=gettext("Reset without a code."))
