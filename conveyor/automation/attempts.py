"""Claiming and recording attempts of runs, e-mails and webhook deliveries.

A row is claimed with one conditional UPDATE that pushes its `next_attempt_at` a lease ahead:
a second job for the same row (a duplicate enqueue, the sweep) finds nothing to claim. Slow
work (SMTP, HTTP) then happens outside any transaction, and its result is written after.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_tasks.base import Task

from conveyor.automation.models import (
    Attempts,
    AutomationRun,
    JobStatus,
    OutgoingEmail,
    WebhookDelivery,
)
from conveyor.automation.tasks import automation_run_job, email_send_job, webhook_deliver_job
from conveyor.core.jobs import enqueue_on_commit

A = TypeVar("A", bound=Attempts)

# Longer than the slowest single attempt (SMTP and HTTP time out well before it).
LEASE = dt.timedelta(minutes=2)
DUE = (JobStatus.PENDING, JobStatus.RETRYING)
# Each kind of attempted row and the job that makes an attempt at it (retries, the sweep).
JOBS: dict[type[Attempts], Task[Any, Any]] = {
    AutomationRun: automation_run_job,
    OutgoingEmail: email_send_job,
    WebhookDelivery: webhook_deliver_job,
}


def claim(model: type[A], pk: int, now: dt.datetime | None = None) -> A | None:
    """The row, if it is due and this caller is the one to attempt it; otherwise None."""
    now = now or timezone.now()
    claimed = model._default_manager.filter(pk=pk, status__in=DUE, next_attempt_at__lte=now).update(
        next_attempt_at=now + LEASE, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return model._default_manager.get(pk=pk)


def retry_delay(attempt: int) -> dt.timedelta:
    """Wait before attempt `attempt + 1`: base, 4 x base, 16 x base, … (exponential backoff)."""
    return dt.timedelta(seconds=settings.CONVEYOR_RETRY_BASE_SECONDS * 4 ** max(attempt - 1, 0))


def succeed(obj: Attempts, result: str = "", *, status: str = JobStatus.DONE) -> None:
    obj.status = status
    obj.result = result
    obj.finished_at = timezone.now()
    obj.save(update_fields=["status", "result", "finished_at"])


def fail(obj: Attempts, error: str, *, retry: bool = True) -> dt.datetime | None:
    """Record a failed attempt and enqueue the next one (after commit) for its time. Returns
    that time, or None when this was the last try (attempts exhausted or the error will not go
    away by waiting)."""
    obj.result = error[:2000]
    if retry and obj.attempts < settings.CONVEYOR_RETRY_MAX_ATTEMPTS:
        obj.status = JobStatus.RETRYING
        obj.next_attempt_at = timezone.now() + retry_delay(obj.attempts)
        obj.save(update_fields=["status", "result", "next_attempt_at"])
        enqueue_on_commit(JOBS[type(obj)], obj.pk, run_after=obj.next_attempt_at)
        return obj.next_attempt_at
    obj.status = JobStatus.FAILED
    obj.finished_at = timezone.now()
    obj.save(update_fields=["status", "result", "finished_at"])
    return None


def due_ids(model: type[Attempts], *, older_than: dt.timedelta, limit: int = 1000) -> list[int]:
    """Rows still due `older_than` after their time: their job was lost (a crash between commit
    and enqueue, a flushed Redis). The sweep enqueues them again; claiming makes that safe."""
    cutoff = timezone.now() - older_than
    return list(
        model._default_manager.filter(status__in=DUE, next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
