"""Changes made in the Django admin are audited like the services' writes: saves, deletes
(one entry per row of a bulk delete) and inline rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import SalesPlan
from conveyor.core.models import AuditAction
from conveyor.pipelines.models import Deal, LossReason, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import LossReasonFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_of(cast: Cast) -> Client:
    cast.owner.is_staff = cast.owner.is_superuser = True
    cast.owner.save()
    client = Client()
    client.force_login(cast.owner)
    return client


def _form(client: Client, url: str) -> dict[str, object]:
    """The change form's current values, as the browser would post them back."""
    form = client.get(url).context["adminform"].form
    data: dict[str, object] = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, dt.datetime):  # the admin's split date and time inputs
            local = timezone.localtime(value)
            data[f"{name}_0"], data[f"{name}_1"] = f"{local:%Y-%m-%d}", f"{local:%H:%M:%S.%f}"
            continue
        data[name] = value.pk if hasattr(value, "pk") else value
    return data


def test_editing_a_deals_amount_in_the_admin_is_recorded(
    cast: Cast, pipeline: Pipeline, admin_client_of: Client
) -> None:
    deal = deal_open(person=PersonFactory(), pipeline=pipeline, owner=cast.manager, by=None)
    url = reverse("admin:pipelines_deal_change", args=[deal.pk])
    data = {**_form(admin_client_of, url), "amount": "2500.00"}
    data.update(
        {
            "stage_changes-TOTAL_FORMS": "1",
            "stage_changes-INITIAL_FORMS": "1",
            "stage_changes-0-id": str(deal.stage_changes.get().pk),
            "stage_changes-0-deal": str(deal.pk),
        }
    )
    response = admin_client_of.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Deal.objects.get(pk=deal.pk).amount == Decimal("2500.00")
    entry = log_of(deal)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.owner.pk)
    assert entry.changes == {"amount": ["0.00", "2500.00"]}


def test_a_sales_plan_made_in_the_admin_is_recorded(cast: Cast, admin_client_of: Client) -> None:
    response = admin_client_of.post(
        reverse("admin:accounts_salesplan_add"),
        {"user": cast.manager.pk, "month": "2026-11-01", "revenue": "10000", "deals": "5"},
    )
    assert response.status_code == 302
    plan = SalesPlan.objects.get()
    [entry] = log_of(plan)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.owner.pk)
    assert entry.changes["revenue"] == [None, "10000.00"]


def test_a_bulk_delete_in_the_admin_records_one_entry_per_row(
    cast: Cast, admin_client_of: Client
) -> None:
    reasons = [LossReasonFactory(name=f"Reason {n}") for n in range(3)]
    response = admin_client_of.post(
        reverse("admin:pipelines_lossreason_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [r.pk for r in reasons],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not LossReason.objects.exists()
    for reason in reasons:
        [entry] = log_of(reason)
        assert (entry.action, entry.actor_id) == (AuditAction.DELETE, cast.owner.pk)
        assert entry.changes["name"] == [reason.name, None]


def test_a_stage_added_inline_to_a_pipeline_is_recorded(
    cast: Cast, pipeline: Pipeline, admin_client_of: Client
) -> None:
    url = reverse("admin:pipelines_pipeline_change", args=[pipeline.pk])
    stages = list(pipeline.stages.order_by("position"))
    data = {**_form(admin_client_of, url)}
    data.update(
        {
            "stages-TOTAL_FORMS": str(len(stages) + 1),
            "stages-INITIAL_FORMS": str(len(stages)),
            "stages-MIN_NUM_FORMS": "0",
            "stages-MAX_NUM_FORMS": "1000",
        }
    )
    for n, stage in enumerate(stages):
        data.update(
            {
                f"stages-{n}-id": stage.pk,
                f"stages-{n}-pipeline": pipeline.pk,
                f"stages-{n}-position": stage.position,
                f"stages-{n}-name": stage.name,
                f"stages-{n}-exit_criterion": stage.exit_criterion,
                f"stages-{n}-probability": stage.probability,
            }
        )
    new = len(stages)
    data.update(
        {
            f"stages-{new}-pipeline": pipeline.pk,
            f"stages-{new}-position": new + 1,
            f"stages-{new}-name": "Paid",
            f"stages-{new}-probability": "1",
        }
    )
    response = admin_client_of.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    paid = pipeline.stages.get(name="Paid")
    assert actions_of(paid) == [AuditAction.CREATE]
    assert all(actions_of(stage) == [] for stage in stages)  # unchanged rows: no entry
