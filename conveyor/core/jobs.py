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
