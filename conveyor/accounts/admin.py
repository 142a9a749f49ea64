from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from conveyor.accounts.models import Holiday, SalesPlan, Team, TotpDevice, User
from conveyor.core.admin import AuditedAdmin


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
class TotpDeviceAdmin(admin.ModelAdmin[TotpDevice]):
    """Who has two-factor login on. Deleting an entry is the way back in for someone who lost
    their phone; the secret is never shown, and entries are made only by their user."""

    list_display = ["user", "confirmed_at", "created_at"]
    search_fields = ["user__email", "user__name"]
    fields = ["user", "confirmed_at", "created_at"]
    readonly_fields = ["user", "confirmed_at", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
