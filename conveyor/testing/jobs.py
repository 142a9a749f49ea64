"""Background jobs in tests: run the configured backend's real worker until the queue is empty.

`job_backend` (a fixture in the root conftest) switches TASKS to the database backend or to RQ on
the local Redis; `drain()` then runs a real worker in burst mode in this process.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from conveyor.core.jobs import db_burst_worker

RQ_TEST_URL = os.environ.get("CONVEYOR_TEST_RQ_URL", "redis://127.0.0.1:6379/15")

BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
}


def redis_or_skip() -> None:
    """Under CI a missing Redis is a failure; elsewhere the RQ variant skips with a clear line."""
    import redis

    try:
        redis.Redis.from_url(RQ_TEST_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError as exc:
        message = f"RQ backend tests need Redis at {RQ_TEST_URL} (redis-server): {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def drain() -> int:
    """Run every job that is due now; returns how many ran."""
    backend = settings.TASKS["default"]["BACKEND"]
    if backend == BACKENDS["rq"]:
        import django_rq
        from django_tasks_rq.backend import Job
        from rq import SimpleWorker

        queue = django_rq.get_queue("default", job_class=Job)
        before = queue.count
        rq_worker = SimpleWorker([queue], connection=queue.connection, job_class=Job)
        rq_worker.work(burst=True, with_scheduler=False)
        return before
    worker = db_burst_worker("test-worker")
    worker.run()
    return int(worker._run_tasks)
