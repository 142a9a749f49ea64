from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conftest import Cast
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.testing.factories import PersonFactory
from conveyor.touches.services import task_schedule

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _open(cast: Cast, pipeline: Pipeline, owner: object, amount: str = "100") -> object:
    return deal_open(
        person=PersonFactory(),
        pipeline=pipeline,
        owner=owner,  # type: ignore[arg-type]
        by=None,
        amount=Decimal(amount),
    )


def test_board_needs_login(client: Client) -> None:
    response = client.get(reverse("web:board"))
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]


def test_board_shows_columns_with_count_sum_and_next_task(cast: Cast, pipeline: Pipeline) -> None:
    first = _open(cast, pipeline, cast.manager, "100")
    _open(cast, pipeline, cast.manager, "250")
    second_stage = pipeline.stages.get(position=2)
    moved = _open(cast, pipeline, cast.manager, "40")
    deal_move(deal_id=moved.pk, stage=second_stage, version=1, by=None)  # type: ignore[attr-defined]
    task_schedule(
        by=None,
        assignee=cast.manager,
        title="Send the price list",
        due_at=timezone.now() + dt.timedelta(days=1),
        deal=first,  # type: ignore[arg-type]
    )
    response = _client_for(cast.manager).get(reverse("web:board"))
    assert response.status_code == 200
    columns = response.context["columns"]
    assert [c.count for c in columns] == [2, 1, 0, 0]
    assert [c.total for c in columns][:2] == [Decimal("350"), Decimal("40")]
    html = response.content.decode()
    assert "Send the price list" in html
    assert "No next step" in html  # the other two deals are stalled


def test_manager_sees_only_own_deals_head_sees_team(cast: Cast, pipeline: Pipeline) -> None:
    _open(cast, pipeline, cast.manager)
    _open(cast, pipeline, cast.outsider)
    manager_cols = _client_for(cast.manager).get(reverse("web:board")).context["columns"]
    head_cols = _client_for(cast.head).get(reverse("web:board")).context["columns"]
    owner_cols = _client_for(cast.owner).get(reverse("web:board")).context["columns"]
    assert manager_cols[0].count == 1
    assert head_cols[0].count == 1  # the outsider is in another head's team
    assert owner_cols[0].count == 2


def test_board_query_count_does_not_grow_with_deals(
    cast: Cast, pipeline: Pipeline, django_assert_max_num_queries: object
) -> None:
    client = _client_for(cast.owner)
    for _ in range(3):
        _open(cast, pipeline, cast.manager)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("web:board"))
    for _ in range(30):
        _open(cast, pipeline, cast.manager)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("web:board"))
    assert len(many) == len(few)
    assert len(many) <= 9  # one is the agenda badge in the header
