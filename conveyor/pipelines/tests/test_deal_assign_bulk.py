"""`deal_assign_bulk`: many deals handed to one owner in one transaction, each through
`deal_assign` (access rule, audit entry, open tasks follow); the first refusal names the deal
and undoes everything."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_assign_bulk
from conveyor.pipelines.tests.support import open_deal
from conveyor.testing.audit import log_of
from conveyor.testing.factories import PersonFactory, TaskFactory, UserFactory
from conveyor.touches.models import Task

pytestmark = pytest.mark.django_db


def _owners() -> dict[int, int | None]:
    return dict(Deal.objects.values_list("pk", "owner"))


def _versions() -> dict[int, int]:
    return dict(Deal.objects.values_list("pk", "version"))


def test_the_head_hands_deals_to_a_team_manager_with_an_entry_per_deal(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deals = [open_deal(person, pipeline, owner=owner) for owner in (cast.head, None, cast.head)]
    entries_before = AuditEntry.objects.count()
    done = deal_assign_bulk(deal_ids=[d.pk for d in deals], owner=cast.manager, by=cast.head)
    assert [d.pk for d in done] == sorted(d.pk for d in deals)
    assert set(_owners().values()) == {cast.manager.pk}
    assert AuditEntry.objects.count() == entries_before + 3
    for deal in deals:
        entry = log_of(deal)[-1]
        assert (entry.action, entry.actor_id) == (AuditAction.ASSIGN, cast.head.pk)
        assert entry.changes == {"owner": [deal.owner_id, cast.manager.pk]}


def test_open_tasks_follow_each_deal_to_its_new_owner(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.head)
    task = TaskFactory(deal=deal, person=person, assignee=cast.head)
    deal_assign_bulk(deal_ids=[deal.pk], owner=cast.manager, by=cast.owner)
    assert Task.objects.get(pk=task.pk).assignee_id == cast.manager.pk


def test_one_deal_of_another_team_refuses_all_and_is_named(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    mine = [open_deal(person, pipeline, owner=cast.head) for _ in range(3)]
    theirs = open_deal(PersonFactory(owner=cast.outsider), pipeline, owner=cast.outsider)
    owners, versions, entries = _owners(), _versions(), AuditEntry.objects.count()
    with pytest.raises(PermissionDenied) as refused:
        deal_assign_bulk(
            deal_ids=[*(d.pk for d in mine), theirs.pk], owner=cast.manager, by=cast.head
        )
    assert f"Deal #{theirs.pk}" in refused.value.message
    assert (_owners(), _versions(), AuditEntry.objects.count()) == (owners, versions, entries)


def test_another_teams_manager_cannot_take_the_teams_deals(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    with pytest.raises(PermissionDenied):
        deal_assign_bulk(deal_ids=[deal.pk], owner=cast.outsider, by=cast.outsider)
    assert _owners() == {deal.pk: cast.manager.pk}


def test_handing_to_another_heads_manager_is_refused_before_any_row(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    with pytest.raises(PermissionDenied) as refused:
        deal_assign_bulk(deal_ids=[deal.pk], owner=cast.outsider, by=cast.head)
    assert refused.value.field == "owner"
    assert _owners() == {deal.pk: cast.manager.pk}


def test_a_deactivated_owner_is_refused(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    with pytest.raises(ServiceError, match="deactivated"):
        deal_assign_bulk(deal_ids=[deal.pk], owner=UserFactory(is_active=False), by=cast.owner)
    assert _owners() == {deal.pk: cast.manager.pk}


def test_a_missing_deal_is_named_and_nothing_changes(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    with pytest.raises(ServiceError, match=f"#{deal.pk + 50}"):
        deal_assign_bulk(deal_ids=[deal.pk, deal.pk + 50], owner=cast.head, by=cast.owner)
    assert _owners() == {deal.pk: cast.manager.pk}


def test_no_deal_is_refused(cast: Cast) -> None:
    with pytest.raises(ServiceError) as refused:
        deal_assign_bulk(deal_ids=[], owner=cast.manager, by=cast.owner)
    assert refused.value.field == "deals"


def test_deals_already_with_the_owner_are_left_as_they_are(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager)
    deal_assign_bulk(deal_ids=[deal.pk, deal.pk], owner=cast.manager, by=cast.manager)
    assert _versions() == {deal.pk: 1}
    assert [e.action for e in log_of(deal)] == [AuditAction.CREATE]
