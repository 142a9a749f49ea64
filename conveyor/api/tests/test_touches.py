from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.api.tests.conftest import ApiFor
from conveyor.core.selectors import audit_entries
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, Touch
from conveyor.touches.services import preset_due, task_schedule

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


# --- POST /tasks/{id}/reschedule: the agenda's "+1 hour", "Tomorrow", "Next week" ----------------


@pytest.fixture
def task(cast: Cast, deal_id: int) -> Task:
    return task_schedule(
        by=None,
        assignee=cast.manager,
        title="Call",
        deal=Deal.objects.get(pk=deal_id),
        due_at=timezone.now() + dt.timedelta(hours=3),
    )


def test_reschedule_a_task_as_the_agenda_does(cast: Cast, api_for: ApiFor, task: Task) -> None:
    old = task.due_at
    response = api_for(cast.manager).post(f"/api/v1/tasks/{task.pk}/reschedule", {"preset": "week"})
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    expected = preset_due("week", due_at=old, now=timezone.now())
    assert task.due_at == expected
    assert dt.datetime.fromisoformat(response.json()["due_at"]) == expected
    entry = audit_entries(task).first()
    assert entry is not None and entry.action == "update" and entry.actor_id == cast.manager.pk
    assert "due_at" in entry.changes


def test_reschedule_a_task_to_an_exact_time(cast: Cast, api_for: ApiFor, task: Task) -> None:
    due = (timezone.now() + dt.timedelta(days=3)).replace(microsecond=0)
    response = api_for(cast.manager).post(
        f"/api/v1/tasks/{task.pk}/reschedule", {"due_at": due.isoformat()}
    )
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert task.due_at == due


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "preset"),
        ({"preset": "hour", "due_at": "2030-01-01T10:00:00+00:00"}, "preset"),
        ({"preset": "month"}, "preset"),
        ({"due_at": "2030-01-01T10:00:00"}, "due_at"),
        ({"due_at": 1893492000}, "due_at"),
    ],
)
def test_bad_reschedules_name_their_field_and_change_nothing(
    cast: Cast, api_for: ApiFor, task: Task, body: dict[str, object], field: str
) -> None:
    old = task.due_at
    response = api_for(cast.manager).post(f"/api/v1/tasks/{task.pk}/reschedule", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["fields"]
    task.refresh_from_db()
    assert task.due_at == old


def test_a_done_task_is_not_rescheduled(cast: Cast, api_for: ApiFor, task: Task) -> None:
    api = api_for(cast.manager)
    api.post(f"/api/v1/tasks/{task.pk}/complete", {})
    task.refresh_from_db()
    response = api.post(f"/api/v1/tasks/{task.pk}/reschedule", {"preset": "hour"})
    assert response.status_code == 422
    assert Task.objects.get().due_at == task.due_at


def test_someone_elses_task_cannot_be_rescheduled(cast: Cast, api_for: ApiFor, task: Task) -> None:
    old = task.due_at
    response = api_for(cast.outsider).post(
        f"/api/v1/tasks/{task.pk}/reschedule", {"preset": "tomorrow"}
    )
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.due_at == old
