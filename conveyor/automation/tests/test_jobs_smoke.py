from __future__ import annotations

import pytest
from django_tasks import task

from conveyor.core.jobs import enqueue_on_commit
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
