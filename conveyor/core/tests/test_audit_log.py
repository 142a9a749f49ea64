"""The audit log is append-only in the database itself, keeps no secrets or personal values,
and answers "this record's entries, newest first" from one index."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import F, ProtectedError
from django.test import RequestFactory

from conftest import Cast
from conveyor.accounts.models import ApiToken, User
from conveyor.accounts.services import token_create
from conveyor.core.audit import (
    audit_changes,
    audit_record,
    audit_snapshot,
    audited_update,
)
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.core.selectors import audit_entries
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(cast: Cast) -> AuditEntry:
    with transaction.atomic():
        return audit_record(
            actor=cast.manager,
            instance=cast.manager,
            action=AuditAction.UPDATE,
            changes={"name": ["A", "B"]},
        )


def _refused(action: object) -> None:
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        action()  # type: ignore[operator]


def test_an_entry_cannot_be_changed_through_the_orm(entry: AuditEntry) -> None:
    entry.note = "rewritten"
    _refused(entry.save)
    _refused(lambda: AuditEntry.objects.filter(pk=entry.pk).update(note="rewritten"))
    assert AuditEntry.objects.get(pk=entry.pk).note == ""


def test_an_entry_cannot_be_deleted_through_the_orm(entry: AuditEntry) -> None:
    _refused(entry.delete)
    _refused(lambda: AuditEntry.objects.all().delete())
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_an_entry_cannot_be_changed_or_deleted_with_raw_sql(entry: AuditEntry) -> None:
    def update() -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE core_auditentry SET note = 'x' WHERE id = %s", [entry.pk])

    def delete() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM core_auditentry WHERE id = %s", [entry.pk])

    _refused(update)
    _refused(delete)
    assert AuditEntry.objects.get(pk=entry.pk).note == ""


def test_a_user_with_entries_cannot_be_deleted(entry: AuditEntry, cast: Cast) -> None:
    with pytest.raises(ProtectedError):
        cast.manager.delete()


def test_the_admin_shows_the_log_but_never_adds_changes_or_deletes(
    entry: AuditEntry, cast: Cast
) -> None:
    model_admin = admin.site._registry[AuditEntry]
    request = RequestFactory().get("/")
    request.user = cast.owner
    cast.owner.is_superuser = True
    assert model_admin.has_view_permission(request, entry)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)


@pytest.mark.django_db(transaction=True)
def test_entries_are_written_only_inside_the_callers_transaction(cast: Cast) -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        audit_record(actor=None, instance=cast.owner, action=AuditAction.UPDATE, changes={})
    assert not AuditEntry.objects.exists()


def test_changes_hold_only_the_fields_that_changed(cast: Cast, pipeline: Pipeline) -> None:
    deal = deal_open(person=PersonFactory(), pipeline=pipeline, owner=cast.manager, by=None)
    before = audit_snapshot(deal)
    deal.amount = Decimal("120.50")
    deal.owner = cast.head
    assert audit_changes(Deal, before, audit_snapshot(deal)) == {
        "amount": ["0.00", "120.50"],
        "owner": [cast.manager.pk, cast.head.pk],
    }


def test_passwords_and_token_hashes_are_never_recorded(cast: Cast) -> None:
    user = User.objects.get(pk=cast.manager.pk)
    before = audit_snapshot(user)
    user.set_password("another-Pass-123")
    user.name = "Maria M."
    assert audit_changes(User, before, audit_snapshot(user)) == {
        "name": ["Maria Manager", "Maria M."]
    }
    token_create(user=cast.manager, name="CI", by=cast.manager)
    created = AuditEntry.objects.get(record_type="accounts.apitoken")
    assert set(created.changes) >= {"name", "user", "scopes"}
    assert "key_hash" not in created.changes and "prefix" not in created.changes
    token = ApiToken.objects.get()
    assert token.key_hash not in str(created.changes)


def test_personal_values_of_a_person_are_never_kept(cast: Cast) -> None:
    person = PersonFactory(name="Ivan Petrov", email="ivan@example.org", phone="+359888000111")
    before = audit_snapshot(person)
    person.email = "petrov@example.org"
    person.temperature = "hot"
    assert audit_changes(Person, before, audit_snapshot(person)) == {
        "email": None,
        "temperature": ["cold", "hot"],
    }


def test_a_bulk_update_is_audited_row_by_row(cast: Cast) -> None:
    people = [PersonFactory(owner=cast.manager) for _ in range(3)]
    already = PersonFactory(owner=cast.head)
    with transaction.atomic():
        updated = audited_update(
            Person.objects.filter(pk__in=[p.pk for p in [*people, already]]),
            actor=cast.owner,
            values={"owner": cast.head},
        )
    assert updated == 4
    assert set(Person.objects.values_list("owner_id", flat=True)) == {cast.head.pk}
    entries = AuditEntry.objects.filter(record_type="people.person").order_by("record_id")
    # The row that already had the value changed nothing, so it has no entry.
    assert [(e.record_id, e.changes, e.actor_id) for e in entries] == [
        (p.pk, {"owner": [cast.manager.pk, cast.head.pk]}, cast.owner.pk) for p in people
    ]


def test_a_bulk_update_refuses_expressions(cast: Cast) -> None:
    with pytest.raises(TypeError):
        audited_update(Person.objects.all(), actor=None, values={"name": F("email")})


def test_a_records_entries_newest_first_come_from_one_index(cast: Cast) -> None:
    for n in range(3):
        audit_record(
            actor=None, instance=cast.manager, action=AuditAction.UPDATE, changes={"n": [n, n]}
        )
    queryset = audit_entries(cast.manager)
    assert [e.changes["n"][0] for e in queryset] == [2, 1, 0]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "audit_record_newest" in plan, plan
    assert "sort" not in plan.lower(), plan


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_log_and_keeps_it_append_only(cast: Cast) -> None:
    with transaction.atomic():
        audit_record(actor=None, instance=cast.owner, action=AuditAction.UPDATE, changes={})
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEntry.objects.exists()
    user = User.objects.create(email="after@example.com")
    with transaction.atomic():
        entry = audit_record(actor=None, instance=user, action=AuditAction.UPDATE, changes={})
    _refused(entry.delete)
    _refused(lambda: AuditEntry.objects.filter(pk=entry.pk).update(note="x"))
