from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from conveyor.core.admin import AuditedAdmin
from conveyor.core.errors import ServiceError
from conveyor.people.models import PURCHASE_FACTS, Company, Person
from conveyor.people.services import person_referrals_refresh, referral_check


@admin.register(Company)
class CompanyAdmin(AuditedAdmin[Company]):
    list_display = ["name", "website", "created_at"]
    search_fields = ["name"]


class PersonAdminForm(forms.ModelForm[Person]):
    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        referrer = cleaned.get("referred_by")
        if referrer is not None and self.instance.pk is not None:
            try:
                referral_check(person=self.instance, referrer=referrer)
            except ServiceError as refusal:
                self.add_error("referred_by", refusal.message)
        return cleaned


@admin.register(Person)
class PersonAdmin(AuditedAdmin[Person]):
    form = PersonAdminForm
    list_display = ["name", "email", "phone", "company", "source", "owner", "temperature"]
    list_filter = ["temperature", "source"]
    search_fields = ["name", "email", "phone"]
    raw_id_fields = ["company", "owner", "referred_by"]
    list_select_related = ["company", "owner"]
    readonly_fields = PURCHASE_FACTS

    def save_model(self, request: HttpRequest, obj: Person, form: Any, change: bool) -> None:
        earlier = (
            Person.objects.filter(pk=obj.pk).values_list("referred_by", flat=True).first()
            if change
            else None
        )
        super().save_model(request, obj, form, change)
        # A referral changed here moves a referred customer from one referrer to another.
        person_referrals_refresh(person_ids=[earlier, obj.referred_by_id])
