from __future__ import annotations

from django.contrib import admin

from conveyor.core.admin import AuditedAdmin
from conveyor.people.models import Company, Person


@admin.register(Company)
class CompanyAdmin(AuditedAdmin[Company]):
    list_display = ["name", "website", "created_at"]
    search_fields = ["name"]


@admin.register(Person)
class PersonAdmin(AuditedAdmin[Person]):
    list_display = ["name", "email", "phone", "company", "source", "owner", "temperature"]
    list_filter = ["temperature", "source"]
    search_fields = ["name", "email", "phone"]
    raw_id_fields = ["company", "owner", "referred_by"]
    list_select_related = ["company", "owner"]
