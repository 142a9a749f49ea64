"""Changes made in the Django admin are audited like the services' writes: saves (their
many-to-many fields included), deletes (one entry per row of a bulk delete, and per audited row
a delete takes along, sets to NULL or unlinks) and inline rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.accounts.models import SalesPlan, User
from conveyor.core.models import AuditAction
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.pipelines.models import Deal, LossReason, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import (
    CompanyFactory,
    LossReasonFactory,
    PersonFactory,
    TaskFactory,
    TouchFactory,
    UserFactory,
    pipeline_with_stages,
)
from conveyor.touches.models import Cadence, Task

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


# --- Many-to-many fields: saved after the object, recorded in its entry ----------------------


def test_changing_only_a_loss_reasons_stages_in_the_admin_is_recorded(
    cast: Cast, pipeline: Pipeline, admin_client_of: Client
) -> None:
    first, second, third = pipeline.stages.order_by("position")[:3]
    reason = LossReasonFactory(pipeline=pipeline)
    reason.stages.set([first, second])
    url = reverse("admin:pipelines_lossreason_change", args=[reason.pk])
    data = {**_form(admin_client_of, url), "stages": [second.pk, third.pk]}
    response = admin_client_of.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(reason.stages.values_list("pk", flat=True)) == [second.pk, third.pk]
    [entry] = log_of(reason)
    assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.owner.pk)
    assert entry.changes == {"stages": [[first.pk, second.pk], [second.pk, third.pk]]}


def test_a_cadence_made_in_the_admin_records_its_stages_and_steps(
    cast: Cast, pipeline: Pipeline, admin_client_of: Client
) -> None:
    stages = list(pipeline.stages.order_by("position")[:2])
    response = admin_client_of.post(
        reverse("admin:touches_cadence_add"),
        {
            "name": "Warm-up",
            "description": "",
            "stages": [stage.pk for stage in stages],
            "warming_per_closing": "5",
            "steps-TOTAL_FORMS": "1",
            "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000",
            "steps-0-position": "1",
            "steps-0-day_offset": "0",
            "steps-0-kind": "warming",
            "steps-0-channel": "call",
            "steps-0-script": "Say hello",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    cadence = Cadence.objects.get(name="Warm-up")
    [entry] = log_of(cadence)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.owner.pk)
    assert entry.changes["stages"] == [[], sorted(stage.pk for stage in stages)]
    assert actions_of(cadence.steps.get()) == [AuditAction.CREATE]


def test_a_users_groups_changed_in_the_admin_are_recorded(
    cast: Cast, admin_client_of: Client
) -> None:
    group = Group.objects.create(name="Reports")
    url = reverse("admin:accounts_user_change", args=[cast.manager.pk])
    data = {**_form(admin_client_of, url), "groups": [group.pk]}
    data.pop("password", None)  # a read-only hash widget: never posted back
    response = admin_client_of.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = log_of(cast.manager)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.owner.pk)
    assert entry.changes == {"groups": [[], [group.pk]]}


# --- Deletes: every audited row they take along or change is recorded ------------------------


def test_deleting_a_pipeline_records_each_stage_and_loss_reason_it_takes_along(
    cast: Cast, admin_client_of: Client
) -> None:
    pipeline = pipeline_with_stages()
    stages = list(pipeline.stages.all())
    reason = LossReasonFactory(pipeline=pipeline)
    response = admin_client_of.post(
        reverse("admin:pipelines_pipeline_delete", args=[pipeline.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Pipeline.objects.filter(pk=pipeline.pk).exists()
    assert actions_of(pipeline) == [AuditAction.DELETE]
    for record in [*stages, reason]:
        [entry] = log_of(record)
        assert (entry.action, entry.actor_id) == (AuditAction.DELETE, cast.owner.pk)
        assert entry.changes["name"] == [record.name, None]
        assert entry.note == f"Deleted along with pipeline #{pipeline.pk}."


def test_deleting_a_deal_records_its_touches_and_tasks_and_unlinks_its_lead(
    cast: Cast, pipeline: Pipeline, admin_client_of: Client
) -> None:
    person = PersonFactory()
    deal = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=None)
    touch = TouchFactory(person=person, deal=deal, user=cast.manager)
    task = TaskFactory(person=person, deal=deal, assignee=cast.manager)
    lead = lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    Lead.objects.filter(pk=lead.pk).update(deal=deal)
    response = admin_client_of.post(
        reverse("admin:pipelines_deal_delete", args=[deal.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Deal.objects.filter(pk=deal.pk).exists()
    for record in (touch, task):
        assert actions_of(record) == [AuditAction.DELETE]
        assert log_of(record)[0].changes["deal"] == [deal.pk, None]
    unlinked = log_of(lead)[-1]
    assert (unlinked.action, unlinked.changes) == (AuditAction.UPDATE, {"deal": [deal.pk, None]})


def test_deleting_a_company_records_each_person_taken_off_it_without_the_value(
    cast: Cast, admin_client_of: Client
) -> None:
    company = CompanyFactory()
    people = [PersonFactory(company=company) for _n in range(2)]
    response = admin_client_of.post(
        reverse("admin:people_company_delete", args=[company.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    for person in people:
        entry = log_of(person)[-1]
        assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.owner.pk)
        assert entry.changes == {"company": None}  # who worked where is personal data


def test_deleting_a_stage_records_the_loss_reasons_no_longer_offered_there(
    cast: Cast, admin_client_of: Client
) -> None:
    pipeline = pipeline_with_stages()
    first, second = pipeline.stages.order_by("position")[:2]
    reason = LossReasonFactory(pipeline=pipeline)
    reason.stages.set([first, second])
    response = admin_client_of.post(
        reverse("admin:pipelines_stage_delete", args=[second.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = log_of(reason)[-1]
    assert (entry.action, entry.actor_id) == (AuditAction.UPDATE, cast.owner.pk)
    assert entry.changes == {"stages": [[first.pk, second.pk], [first.pk]]}


@pytest.mark.django_db(transaction=True)
def test_the_bulk_delete_action_outside_a_test_transaction_still_records_each_row(
    cast: Cast, admin_client_of: Client
) -> None:
    # The admin runs its "delete selected" action outside any transaction; the entries need one.
    reasons = [LossReasonFactory(name=f"Reason {n}") for n in range(2)]
    response = admin_client_of.post(
        reverse("admin:pipelines_lossreason_changelist"),
        {"action": "delete_selected", "_selected_action": [r.pk for r in reasons], "post": "yes"},
    )
    assert response.status_code == 302
    assert not LossReason.objects.exists()
    assert [actions_of(reason) for reason in reasons] == [[AuditAction.DELETE]] * 2


def test_a_user_with_tasks_cannot_be_deleted_in_the_admin_so_no_task_goes_with_them(
    cast: Cast, admin_client_of: Client
) -> None:
    leaver = UserFactory()  # never acted, so no audit entry of theirs protects them
    task = TaskFactory(assignee=leaver)
    response = admin_client_of.post(
        reverse("admin:accounts_user_delete", args=[leaver.pk]), {"post": "yes"}
    )
    assert response.status_code == 200  # the page listing what protects the user
    assert "protected" in response.content.decode()
    assert User.objects.filter(pk=leaver.pk).exists()
    assert Task.objects.filter(pk=task.pk).exists()
    assert actions_of(leaver) == []


def test_every_admin_that_can_change_data_records_it(cast: Cast) -> None:
    """An admin page that can add, change or delete rows must be an AuditedAdmin; the rest are
    read-only logs (runs, deliveries, the audit log itself, the stage history)."""
    from django.contrib import admin
    from django.test import RequestFactory

    from conveyor.core.admin import AuditedAdmin

    request = RequestFactory().get("/admin/")
    cast.owner.is_staff = cast.owner.is_superuser = True
    request.user = cast.owner
    unaudited = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, AuditedAdmin)
        and (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        )
    ]
    assert unaudited == []


def test_an_expense_changed_in_the_admin_is_recorded(cast: Cast, admin_client_of: Client) -> None:
    from conveyor.analytics.models import Expense

    expense = Expense.objects.create(
        channel="ads",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 1, 31),
        amount=Decimal("100.00"),
    )
    url = reverse("admin:analytics_expense_change", args=[expense.pk])
    data = _form(admin_client_of, url) | {"amount": "250.00"}
    assert admin_client_of.post(url, data).status_code == 302
    assert actions_of(expense) == [AuditAction.UPDATE]
    assert log_of(expense)[0].changes == {"amount": ["100.00", "250.00"]}


def test_a_group_made_in_the_admin_is_recorded_with_its_permissions(
    admin_client_of: Client,
) -> None:
    from django.contrib.auth.models import Permission

    permission = Permission.objects.get(codename="view_deal")
    response = admin_client_of.post(
        reverse("admin:auth_group_add"), {"name": "Auditors", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    group = Group.objects.get(name="Auditors")
    assert actions_of(group) == [AuditAction.CREATE]
    assert log_of(group)[0].changes["permissions"][1] == [permission.pk]
