"""The deal and person pages show the record's history of changes: who, when, what from what to
what, the newest first and at most a page of it, to those who may see the record, in a fixed
number of queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.core.selectors import AUDIT_HISTORY_LIMIT, audit_history
from conveyor.people.models import Person
from conveyor.people.services import person_create
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_assign, deal_move, deal_open
from conveyor.pipelines.tests.support import stages_of
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline) -> Deal:
    return deal_open(
        person=PersonFactory(name="Ivan Petrov", owner=cast.manager),
        pipeline=pipeline,
        owner=cast.manager,
        by=cast.manager,
        title="Kitchen for Ivan",
        amount=Decimal("1200"),
    )


def _moves(deal: Deal, pipeline: Pipeline, user: User, count: int) -> Deal:
    first, second = stages_of(pipeline)[:2]
    for _ in range(count):
        target = second if deal.stage_id == first.pk else first
        deal = deal_move(deal_id=deal.pk, stage=target, version=deal.version, by=user)
    return deal


def test_the_deal_page_shows_who_changed_what_newest_first(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    deal = _moves(deal, pipeline, cast.manager, 1)
    deal_assign(deal_id=deal.pk, owner=cast.head, by=cast.head)
    response = _client(cast.head).get(reverse("web:deal", args=[deal.pk]))
    html = response.content.decode()
    assert "History of changes" in html
    items = response.context["history"].items
    assert [item.entry.action for item in items] == ["assign", "move", "create"]
    assign, move, _create = items
    assert [(line.field, line.old, line.new) for line in assign.lines] == [
        ("Owner", "Maria Manager", "Hristo Head")
    ]
    stage = next(line for line in move.lines if line.field == "Stage")
    assert (stage.old, stage.new) == ("1. Left a request", "2. Told us the task")
    assert "1. Left a request → 2. Told us the task" in html
    assert "Hristo Head" in html and "Maria Manager" in html


def test_values_the_log_does_not_keep_are_shown_as_changed_only(cast: Cast, deal: Deal) -> None:
    html = _client(cast.manager).get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert "Title: <em>changed (values are not kept in the log)</em>" in html


def test_the_page_shows_the_last_entries_and_how_many_there_are(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    _moves(deal, pipeline, cast.manager, AUDIT_HISTORY_LIMIT + 4)
    response = _client(cast.manager).get(reverse("web:deal", args=[deal.pk]))
    history = response.context["history"]
    assert (len(history.items), history.total) == (AUDIT_HISTORY_LIMIT, AUDIT_HISTORY_LIMIT + 5)
    assert f"The last {AUDIT_HISTORY_LIMIT} of {AUDIT_HISTORY_LIMIT + 5} changes." in (
        response.content.decode()
    )


def test_the_history_takes_a_fixed_number_of_queries(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    deal = _moves(deal, pipeline, cast.manager, 2)
    with CaptureQueriesContext(connection) as few:
        audit_history(deal)
    # The count, the entries with their actors, then one query per kind of record their
    # foreign keys name (stages; the creation entry's person, pipeline and owner), never one
    # per entry.
    assert len(few) == 6, [q["sql"] for q in few]
    deal = _moves(deal, pipeline, cast.head, AUDIT_HISTORY_LIMIT - 3)  # a full page
    with CaptureQueriesContext(connection) as many:
        history = audit_history(deal)
    assert len(history.items) == AUDIT_HISTORY_LIMIT
    assert len(many) == len(few)
    # The whole page too, once the creation entry is off it.
    deal = _moves(deal, pipeline, cast.owner, 5)
    client = _client(cast.manager)
    with CaptureQueriesContext(connection) as page_few:
        client.get(reverse("web:deal", args=[deal.pk]))
    deal = _moves(deal, pipeline, cast.owner, 30)
    with CaptureQueriesContext(connection) as page_many:
        client.get(reverse("web:deal", args=[deal.pk]))
    assert len(page_many) == len(page_few)


def test_the_person_page_shows_the_persons_history(cast: Cast) -> None:
    person = person_create(name="Anna Keller", by=cast.manager, owner=cast.manager, phone="+359888")
    response = _client(cast.head).get(reverse("web:person-erase", args=[person.pk]))
    html = response.content.decode()
    assert "History of changes" in html
    [item] = response.context["history"].items
    assert (item.entry.action, item.entry.actor_id) == ("create", cast.manager.pk)
    assert "Maria Manager" in html


@pytest.mark.parametrize("page", ["deal", "person"])
def test_who_may_not_see_the_record_does_not_see_its_history(
    cast: Cast, deal: Deal, page: str
) -> None:
    person: Person = deal.person
    url = (
        reverse("web:deal", args=[deal.pk])
        if page == "deal"
        else reverse("web:person-erase", args=[person.pk])
    )
    response = _client(cast.outsider).get(url)
    assert response.status_code == 404
    assert "History of changes" not in response.content.decode()
