"""Every model has a working Django admin: its list, add form and change form render."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from conftest import Cast

pytestmark = pytest.mark.django_db

EXPECTED = {
    "accounts.user",
    "accounts.team",
    "accounts.salesplan",
    "people.person",
    "people.company",
    "pipelines.segment",
    "pipelines.pipeline",
    "pipelines.stage",
    "pipelines.lossreason",
    "pipelines.deal",
    "pipelines.stagechange",
    "touches.touch",
    "touches.task",
    "touches.cadence",
    "intake.lead",
    "intake.qualificationquestion",
    "automation.automationrule",
    "analytics.expense",
    "analytics.hypothesis",
}


def test_every_domain_model_is_in_the_admin() -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered >= EXPECTED


def test_admin_pages_render_for_the_owner(cast: Cast) -> None:
    call_command("demo", deals=60, seed=3, verbosity=0)
    cast.owner.is_staff = cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    for model in admin.site._registry:
        meta = model._meta
        name = f"admin:{meta.app_label}_{meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, meta.label
        obj = model._default_manager.first()
        if obj is not None:
            assert client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200, (
                meta.label
            )
        add = client.get(reverse(f"{name}_add"))
        assert add.status_code in (200, 403), meta.label  # history models forbid adding
