from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, Touch

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal_id(cast: Cast, pipeline: Pipeline) -> int:
    person = PersonFactory(owner=cast.manager)
    return deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=None).pk


def test_log_a_closing_touch(cast: Cast, api_for: ApiFor, deal_id: int) -> None:
    response = api_for(cast.manager).post(
        "/api/v1/touches",
        {"deal_id": deal_id, "kind": "closing", "step": "demo", "outcome": "advanced"},
    )
    assert response.status_code == 201
    touch = Touch.objects.get()
    assert (touch.step, touch.outcome, touch.user) == ("demo", "advanced", cast.manager)


def test_closing_touch_needs_its_step(cast: Cast, api_for: ApiFor, deal_id: int) -> None:
    response = api_for(cast.manager).post(
        "/api/v1/touches", {"deal_id": deal_id, "kind": "closing"}
    )
    assert response.status_code == 422
    assert "step" in response.json()["error"]["fields"]
    assert not Touch.objects.exists()


def test_touch_needs_exactly_one_subject(cast: Cast, api_for: ApiFor) -> None:
    response = api_for(cast.manager).post("/api/v1/touches", {"kind": "warming"})
    assert response.status_code == 422


def test_outsider_cannot_touch_or_see(cast: Cast, api_for: ApiFor, deal_id: int) -> None:
    api_for(cast.manager).post("/api/v1/touches", {"deal_id": deal_id, "kind": "warming"})
    outsider = api_for(cast.outsider)
    assert (
        outsider.post("/api/v1/touches", {"deal_id": deal_id, "kind": "warming"}).status_code == 404
    )
    assert outsider.get("/api/v1/touches").json()["items"] == []
    assert Touch.objects.count() == 1
    rows = api_for(cast.head).get("/api/v1/touches", {"deal_id": deal_id}).json()["items"]
    assert len(rows) == 1


def test_plan_list_and_complete_a_task(cast: Cast, api_for: ApiFor, deal_id: int) -> None:
    api = api_for(cast.manager)
    due = (timezone.now() + dt.timedelta(days=1)).isoformat()
    created = api.post("/api/v1/tasks", {"deal_id": deal_id, "title": "Call back", "due_at": due})
    assert created.status_code == 201
    task_id = created.json()["id"]
    rows = api.get("/api/v1/tasks", {"deal_id": deal_id, "open": "true"}).json()["items"]
    assert [row["id"] for row in rows] == [task_id]
    done = api.post(f"/api/v1/tasks/{task_id}/complete", {"note": "Talked"})
    assert done.status_code == 200 and done.json()["done_at"] is not None
    assert Touch.objects.get().note == "Talked"
    assert api.get("/api/v1/tasks", {"deal_id": deal_id, "open": "true"}).json()["items"] == []
    again = api.post(f"/api/v1/tasks/{task_id}/complete", {})
    assert again.status_code == 422
    assert Touch.objects.count() == 1


def test_outsider_cannot_complete_anothers_task(cast: Cast, api_for: ApiFor, deal_id: int) -> None:
    due = (timezone.now() + dt.timedelta(days=1)).isoformat()
    task_id = (
        api_for(cast.manager)
        .post("/api/v1/tasks", {"deal_id": deal_id, "title": "Call", "due_at": due})
        .json()["id"]
    )
    assert api_for(cast.outsider).post(f"/api/v1/tasks/{task_id}/complete", {}).status_code == 404
    assert Task.objects.get().done_at is None
