"""`conveyor worker`: run background jobs with the configured backend, plus the periodic checks.

database (default): django-tasks-db's worker over the application's own database;
rq: an RQ worker (with its scheduler, for delayed jobs) on Redis — run as many as you like.
Whichever runs, a beat thread enqueues the periodic checks once per CONVEYOR_PERIODIC_SECONDS
across all workers (a claimed slot in the database, see core/jobs.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from conveyor.automation.tasks import periodic_checks_job
from conveyor.core.jobs import periodic_claim

BEAT_NAME = "automation.periodic_checks"


def beat_once() -> bool:
    """Enqueue the periodic checks if this period's slot is still free."""
    every = dt.timedelta(seconds=settings.CONVEYOR_PERIODIC_SECONDS)
    if periodic_claim(BEAT_NAME, every):
        periodic_checks_job.enqueue()
        return True
    return False


class Command(BaseCommand):
    help = "Run background jobs (automation, e-mail, webhooks) and the periodic checks."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Run the periodic checks now, work until the queue is empty, then exit "
            "(for cron or a one-off catch-up).",
        )
        parser.add_argument(
            "--no-beat", action="store_true", help="Do not enqueue the periodic checks."
        )

    def handle(self, *args: Any, burst: bool, no_beat: bool, **options: Any) -> None:
        backend = settings.CONVEYOR_TASKS_BACKEND
        if backend == "immediate":
            raise CommandError(
                "CONVEYOR_TASKS_BACKEND=immediate runs jobs as they are enqueued; "
                "there is nothing for a worker to do."
            )
        verbosity = int(options.get("verbosity", 1))
        if burst:
            if not no_beat:
                periodic_checks_job.enqueue()
            self._work(backend, burst=True, verbosity=verbosity)
            return
        if not no_beat:
            threading.Thread(target=self._beat, name="conveyor-beat", daemon=True).start()
        self.stdout.write(f"Conveyor worker: {backend} backend; Ctrl+C stops it.")
        self._work(backend, burst=False, verbosity=verbosity)

    def _beat(self) -> None:
        # Asks often (the slot decides), so a period is never missed by more than 30 s.
        interval = max(1, min(30, settings.CONVEYOR_PERIODIC_SECONDS))
        while True:
            beat_once_safe()
            time.sleep(interval)

    def _work(self, backend: str, *, burst: bool, verbosity: int) -> None:
        if backend == "rq":
            call_command(
                "rqworker",
                "default",
                job_class="django_tasks_rq.Job",
                burst=burst,
                with_scheduler=True,
                verbosity=verbosity,
            )
            return
        call_command(
            "db_worker",
            queue_name="*",
            batch=burst,
            reload=False,
            startup_delay=not burst,
            interval=1,
            verbosity=verbosity,
        )


def beat_once_safe() -> bool:
    """One beat; a database hiccup must not kill the thread (the next beat tries again)."""
    try:
        close_old_connections()
        return beat_once()
    except Exception:
        logging.getLogger(__name__).exception("periodic beat failed")
        return False
    finally:
        close_old_connections()
