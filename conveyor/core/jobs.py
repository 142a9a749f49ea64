"""Background jobs: enqueue after commit, claim periodic slots.

Jobs are Django tasks (the django-tasks backport; the backend is chosen by
CONVEYOR_TASKS_BACKEND). A job takes ids, never objects, and is enqueued only once the
transaction that wrote its row has committed, so the worker always finds what it is asked to do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks.base import Task

from conveyor.core.models import PeriodicSlot


def enqueue_on_commit(
    task: Task[Any, Any], *args: Any, run_after: dt.datetime | None = None
) -> None:
    """Enqueue `task(*args)` when the current transaction commits (at once outside one)."""
    job = task.using(run_after=run_after) if run_after is not None else task
    transaction.on_commit(lambda: job.enqueue(*args))


def periodic_claim(name: str, every: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """True for exactly one caller per period of `every`, however many workers ask.

    The claim is one conditional UPDATE (due_at <= now → due_at = now + every), atomic on both
    databases without a lock held across calls.
    """
    now = now or timezone.now()
    PeriodicSlot.objects.get_or_create(name=name, defaults={"due_at": now})
    claimed = PeriodicSlot.objects.filter(name=name, due_at__lte=now).update(due_at=now + every)
    return claimed == 1


# Queue rows of the database backend are transport only (the runs, e-mails and deliveries hold
# the truth), so finished ones go after a week. A row still RUNNING after a day belongs to a
# worker that died mid-job (no attempt takes more than minutes): its work was re-enqueued by the
# sweep, so the row is only clutter.
KEEP_FINISHED = dt.timedelta(days=7)
ORPHAN_AFTER = dt.timedelta(days=1)


def queue_prune(now: dt.datetime | None = None) -> int:
    """Delete old finished and orphaned rows of the database queue; returns how many."""
    from django.conf import settings

    if settings.TASKS["default"]["BACKEND"] != "django_tasks_db.DatabaseBackend":
        return 0
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    finished, _ = (
        DBTaskResult.objects.finished().filter(finished_at__lt=now - KEEP_FINISHED).delete()
    )
    orphans, _ = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=now - ORPHAN_AFTER
    ).delete()
    return finished + orphans


def db_burst_worker(worker_id: str, worker_class: type[Any] | None = None) -> Any:
    """A django-tasks-db worker that runs every due job of every queue, then stops (tests and
    benchmarks drain the queue with it; `worker_class` may be a subclass that measures)."""
    from django_tasks_db.management.commands.db_worker import Worker

    return (worker_class or Worker)(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
