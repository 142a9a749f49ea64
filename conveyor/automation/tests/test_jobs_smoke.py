from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks import task
from pytest_django import Settings

from conveyor.core.jobs import enqueue_on_commit, queue_prune
from conveyor.core.models import PeriodicSlot
from conveyor.testing.jobs import drain

pytestmark = pytest.mark.django_db(transaction=True)


@task()
def _mark(name: str) -> str:
    PeriodicSlot.objects.create(name=name, due_at="2026-01-01T00:00:00Z")
    return name


def test_a_job_enqueued_on_commit_runs_on_each_backend(job_backend: str) -> None:
    enqueue_on_commit(_mark, f"ran-{job_backend}")
    assert drain() == 1
    assert PeriodicSlot.objects.filter(name=f"ran-{job_backend}").exists()


def test_the_database_queue_drops_old_finished_rows_and_orphans_but_keeps_live_ones(
    settings: Settings,
) -> None:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    now = timezone.now()
    for name in ("old-done", "new-done", "orphan", "running", "waiting"):
        _mark.enqueue(name)
    rows = {r.args_kwargs["args"][0]: r for r in DBTaskResult.objects.all()}
    DBTaskResult.objects.filter(pk=rows["old-done"].pk).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=now - dt.timedelta(days=8)
    )
    DBTaskResult.objects.filter(pk=rows["new-done"].pk).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=now - dt.timedelta(days=6)
    )
    DBTaskResult.objects.filter(pk=rows["orphan"].pk).update(
        status=TaskResultStatus.RUNNING, started_at=now - dt.timedelta(days=2)
    )
    DBTaskResult.objects.filter(pk=rows["running"].pk).update(
        status=TaskResultStatus.RUNNING, started_at=now - dt.timedelta(minutes=5)
    )

    assert queue_prune(now) == 2
    left = {r.args_kwargs["args"][0] for r in DBTaskResult.objects.all()}
    assert left == {"new-done", "running", "waiting"}


def test_pruning_leaves_other_backends_alone(settings: Settings) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    assert queue_prune() == 0
