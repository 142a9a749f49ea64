"""The worker in production conditions: an action that keeps failing is retried, logged and in the
end given up, without holding up the rest of the queue; a worker killed in the middle of a batch
and started again loses no event and runs none twice. On SQLite and on PostgreSQL (whichever the
test session runs on)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from pytest_django import Settings

from conveyor.automation import engine
from conveyor.automation.models import Action, AutomationRule, AutomationRun, JobStatus, Trigger
from conveyor.automation.tasks import periodic_checks_job
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory
from conveyor.testing.jobs import drain
from conveyor.touches.models import Task

if TYPE_CHECKING:
    from conftest import Cast

# ---------------------------------------------------------------------------------------------
# A worker process killed mid-batch, then started again

CONVEYOR = Path(sys.executable).with_name("conveyor")  # the console command, manage.py's twin
DEALS = 60  # one run each
KILL_AFTER_DONE = 3  # runs done before the test steps in to kill the worker inside the next
RUN_TIMEOUT = 120  # seconds any one subprocess may take

# Data for the worker, written by a separate process through the real services: every deal
# opened makes one run of the rule and enqueues its job (django-tasks-db) on commit.
SETUP_SCRIPT = """
import sys

import django

django.setup()

from conveyor.accounts.models import Role, User
from conveyor.automation.models import Action, AutomationRule, Trigger
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory, pipeline_with_stages

manager = User.objects.create(email="manager@example.com", name="Maria Manager", role=Role.MANAGER)
pipeline = pipeline_with_stages()
AutomationRule.objects.create(
    name="Call back",
    pipeline=pipeline,
    trigger=Trigger.DEAL_CREATED,
    action=Action.CREATE_TASK,
    params={"title": "Call back"},
)
for _ in range(int(sys.argv[1])):
    deal_open(person=PersonFactory(owner=manager), pipeline=pipeline, owner=manager, by=None)
"""


@dataclass
class WorkerDatabase:
    """A database of the test's own: the worker subprocesses reach it through `env`, the test
    reads and writes it directly with `sql` (placeholders: %s)."""

    vendor: str
    env: dict[str, str]
    log: Path
    connect: Callable[[], Any]  # a new connection (SQLite: autocommit; PostgreSQL: not)
    conn: Any = field(default=None, repr=False)  # autocommit: every read sees the latest commit

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.vendor == "sqlite" and params:
            query = query.replace("%s", "?")
        cursor = self.conn.execute(query, params) if params else self.conn.execute(query)
        return list(cursor.fetchall()) if cursor.description else []

    def value(self, query: str, *params: Any) -> Any:
        return self.sql(query, *params)[0][0]

    def runs_by_status(self) -> dict[str, int]:
        rows = self.sql("SELECT status, COUNT(*) FROM automation_automationrun GROUP BY status")
        return dict(rows)

    def runs_done(self) -> int:
        return int(
            self.value("SELECT COUNT(*) FROM automation_automationrun WHERE status = 'done'")
        )

    def jobs(self, status: str) -> list[int]:
        """The run ids of the queued automation jobs (django-tasks-db rows) in this state."""
        rows = self.sql(
            "SELECT args_kwargs FROM django_tasks_database_dbtaskresult "
            "WHERE status = %s AND task_path LIKE %s",
            status,
            "%.automation_run_job",
        )
        return [
            (json.loads(value) if isinstance(value, str) else value)["args"][0] for (value,) in rows
        ]

    def conveyor(self, *args: str) -> None:
        """Run a `conveyor` command to its end; its output goes to the log."""
        with self.log.open("a") as out:
            out.write(f"\n$ conveyor {' '.join(args)}\n")
            out.flush()
            result = subprocess.run(
                [str(CONVEYOR), *args],
                env=self.env,
                cwd=django_settings.BASE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
                check=False,
            )
        assert result.returncode == 0, f"conveyor {' '.join(args)} failed:\n{self.log.read_text()}"


def _subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CONVEYOR_", "DATABASE_URL", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="conveyor.settings",
        CONVEYOR_TASKS_BACKEND="database",
        CONVEYOR_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def worker_database(tmp_path: Path) -> Iterator[WorkerDatabase]:
    """A fresh, migrated database on the session's engine: a SQLite file, or a PostgreSQL
    database of its own on the session's server."""
    env = _subprocess_env(tmp_path)
    log = tmp_path / "worker.log"
    if connection.vendor == "sqlite":
        path = tmp_path / "worker.sqlite3"
        env["CONVEYOR_SQLITE_PATH"] = str(path)
        database = WorkerDatabase(
            "sqlite",
            env,
            log,
            # Autocommit (isolation_level=None): a transaction only where BEGIN says so.
            connect=lambda: sqlite3.connect(path, timeout=20, isolation_level=None),
        )
        database.conveyor("migrate", "--no-input", "--verbosity=0")
        database.conn = database.connect()
        try:
            yield database
        finally:
            database.conn.close()
        return

    if connection.vendor != "postgresql":
        pytest.skip(f"no worker restart test for {connection.vendor}")
    import psycopg

    params = connection.settings_dict
    name = f"conveyor_test_restart_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server: dict[str, Any] = {
        "host": params["HOST"] or None,
        "port": params["PORT"] or None,
        "user": params["USER"] or None,
        "password": params["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        password = f":{quote(params['PASSWORD'], safe='')}" if params["PASSWORD"] else ""
        port = f":{params['PORT']}" if params["PORT"] else ""
        user = quote(params["USER"] or "", safe="")
        env["DATABASE_URL"] = (
            f"postgres://{user}{password}@{params['HOST'] or 'localhost'}{port}/{name}"
        )
        database = WorkerDatabase(
            "postgresql", env, log, connect=lambda: psycopg.connect(dbname=name, **server)
        )
        database.conveyor("migrate", "--no-input", "--verbosity=0")
        with psycopg.connect(dbname=name, autocommit=True, **server) as conn:
            database.conn = conn
            yield database
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_until_done(db: WorkerDatabase, worker: subprocess.Popen[bytes], count: int) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while db.runs_done() < count:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{db.log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not do {count} runs in time:\n{db.log.read_text()}")
        time.sleep(0.002)


def _kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=RUN_TIMEOUT)
    assert worker.returncode == -signal.SIGKILL


def _kill_inside_a_run_postgresql(db: WorkerDatabase, worker: subprocess.Popen[bytes]) -> None:
    """Kill the worker in the middle of a run's transaction: it has claimed the job and counted
    the attempt, and waits to insert the task (the test holds a lock on the task table)."""
    locker = db.connect()  # not autocommit: the lock lasts until the rollback below
    try:
        locker.execute("LOCK TABLE touches_task IN SHARE MODE")
        deadline = time.monotonic() + RUN_TIMEOUT
        while not db.value(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            'INSERT INTO "touches_task"%',
        ):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker never reached the locked insert:\n{db.log.read_text()}")
            time.sleep(0.002)
        _kill(worker)
    finally:
        locker.rollback()
        locker.close()
    # Once unblocked, the dead worker's server process rolls its transaction back and ends.
    deadline = time.monotonic() + RUN_TIMEOUT
    while db.value(
        "SELECT COUNT(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ):
        assert time.monotonic() < deadline, "the killed worker's connection stayed open"
        time.sleep(0.01)


def _kill_inside_a_run_sqlite(db: WorkerDatabase, worker: subprocess.Popen[bytes]) -> None:
    """Kill the worker between claiming a job and committing its run. The worker is frozen
    (SIGSTOP) the moment a claimed job shows, so what the test reads next cannot change under
    it (WAL readers never wait for the writer): a claimed job whose run has not committed is
    the moment to kill; otherwise the worker goes on (SIGCONT) and the test watches again.
    Taking SQLite's write lock instead raced the worker for it and could miss every run."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        assert worker.poll() is None, f"the worker exited:\n{db.log.read_text()}"
        assert time.monotonic() < deadline, f"never caught mid-run:\n{db.log.read_text()}"
        if not db.jobs("RUNNING"):
            time.sleep(random.uniform(0, 0.0005))
            continue
        worker.send_signal(signal.SIGSTOP)
        try:
            if db.jobs("RUNNING") and db.runs_done() == len(db.jobs("SUCCESSFUL")):
                _kill(worker)  # SIGKILL ends a stopped process too
                return
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGCONT)


# Ten minutes pass for the runs still due, in each column format (SQLite: Django's UTC text).
TEN_MINUTES_PASS = {
    "sqlite": "UPDATE automation_automationrun "
    "SET next_attempt_at = strftime('%Y-%m-%d %H:%M:%f', next_attempt_at, '-10 minutes') "
    "WHERE status IN ('pending', 'retrying')",
    "postgresql": "UPDATE automation_automationrun "
    "SET next_attempt_at = next_attempt_at - interval '10 minutes' "
    "WHERE status IN ('pending', 'retrying')",
}


def test_a_killed_worker_loses_no_event_and_runs_none_twice(
    worker_database: WorkerDatabase,
) -> None:
    db = worker_database
    with db.log.open("a") as out:
        subprocess.run(
            [sys.executable, "-c", SETUP_SCRIPT, str(DEALS)],
            env=db.env,
            cwd=django_settings.BASE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
            check=True,
        )
    assert db.runs_by_status() == {"pending": DEALS}
    assert len(db.jobs("READY")) == DEALS

    with db.log.open("a") as out:
        out.write("\n$ conveyor worker --no-beat  (to be killed)\n")
        out.flush()
        worker = subprocess.Popen(
            [str(CONVEYOR), "worker", "--no-beat"],
            env=db.env,
            cwd=django_settings.BASE_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_done(db, worker, KILL_AFTER_DONE)
            if db.vendor == "postgresql":
                _kill_inside_a_run_postgresql(db, worker)
            else:
                _kill_inside_a_run_sqlite(db, worker)
        finally:
            if worker.poll() is None:
                _kill(worker)

    # Killed part way through the batch, in the middle of a run: some runs done, the rest
    # pending; the interrupted run left no trace but its job, claimed (RUNNING) forever.
    at_kill = db.runs_by_status()
    done = at_kill.get("done", 0)
    assert 0 < done < DEALS, f"the kill did not land mid-batch: {at_kill}"
    assert at_kill == {"done": done, "pending": DEALS - done}
    [orphan] = db.jobs("RUNNING")
    assert db.sql(
        "SELECT status, attempts FROM automation_automationrun WHERE id = %s", orphan
    ) == [("pending", 0)]
    assert db.value("SELECT COUNT(*) FROM touches_task") == done

    # Time passes: the pending runs are long past due, so the sweep of the periodic checks
    # (which `worker --burst` runs) enqueues them again; their old jobs may still be queued too.
    db.sql(TEN_MINUTES_PASS[db.vendor])
    db.conveyor("worker", "--burst")

    assert db.runs_by_status() == {"done": DEALS}, db.log.read_text()
    assert db.jobs("RUNNING") == [orphan]  # its run was rescued by the sweep, not by its job
    # Every run did its action exactly once: one attempt each (the killed one left no trace)...
    assert db.sql("SELECT MIN(attempts), MAX(attempts) FROM automation_automationrun") == [(1, 1)]
    # ...so every deal has its task, and none has two.
    per_deal = db.sql(
        "SELECT d.id, COUNT(t.id) FROM pipelines_deal d "
        "LEFT JOIN touches_task t ON t.deal_id = d.id AND t.title = 'Call back' GROUP BY d.id"
    )
    assert len(per_deal) == DEALS
    assert {count for _deal, count in per_deal} == {1}
    assert db.value("SELECT COUNT(*) FROM touches_task") == DEALS


# ---------------------------------------------------------------------------------------------
# An action that keeps failing, through the real worker (in this process)


def _open(cast: Cast, pipeline: Pipeline) -> Deal:
    return deal_open(
        person=PersonFactory(owner=cast.manager), pipeline=pipeline, owner=cast.manager, by=None
    )


def _time_passes(run: AutomationRun) -> None:
    """The run's retry time is long gone (past the sweep's grace): the periodic checks, run by
    the worker, enqueue it again."""
    AutomationRun.objects.filter(pk=run.pk).update(
        next_attempt_at=timezone.now() - engine.SWEEP_GRACE - dt.timedelta(minutes=1)
    )
    periodic_checks_job.enqueue()


def _failures_logged(caplog: pytest.LogCaptureFixture, run: AutomationRun) -> list[str]:
    return [
        f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        for record in caplog.records
        if record.name == engine.__name__
        and record.levelno == logging.ERROR
        and record.getMessage() == f"automation run {run.pk} failed"
        and record.exc_info
        and record.exc_info[0] is not None
    ]


@pytest.mark.django_db(transaction=True)
def test_a_failing_action_is_retried_and_the_worker_goes_on(
    job_backend: str,
    cast: Cast,
    pipeline: Pipeline,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CONVEYOR_RETRY_BASE_SECONDS = 60
    settings.CONVEYOR_RETRY_MAX_ATTEMPTS = 3
    caplog.set_level(logging.ERROR, logger=engine.__name__)
    # A rule whose parameter is not a number: the action fails with a real ValueError (nothing
    # validates a rule's JSON parameters). It comes first, so its job runs before the healthy one.
    broken = AutomationRule.objects.create(
        name="Broken",
        pipeline=pipeline,
        trigger=Trigger.DEAL_CREATED,
        action=Action.CREATE_TASK,
        position=1,
        params={"title": "Never", "due_in_days": "soon"},
    )
    healthy = AutomationRule.objects.create(
        name="Healthy",
        pipeline=pipeline,
        trigger=Trigger.DEAL_CREATED,
        action=Action.CREATE_TASK,
        position=2,
        params={"title": "Call back"},
    )

    # Attempt 1: the failure is recorded and logged, the healthy run after it is done.
    first = _open(cast, pipeline)
    before = timezone.now()
    drain()
    failing = AutomationRun.objects.get(rule=broken, deal=first)
    assert failing.status == JobStatus.RETRYING
    assert failing.attempts == 1
    assert failing.result.startswith("ValueError: invalid literal for int()"), failing.result
    assert failing.finished_at is None
    wait = failing.next_attempt_at - before
    assert dt.timedelta(seconds=59) < wait < dt.timedelta(seconds=75), wait
    assert _failures_logged(caplog, failing) == [failing.result]
    ok = AutomationRun.objects.get(rule=healthy, deal=first)
    assert (ok.status, ok.attempts) == (JobStatus.DONE, 1), ok.result
    assert list(Task.objects.values_list("deal_id", "title")) == [(first.pk, "Call back")]

    # Its retry is not due yet: another worker pass leaves it alone.
    drain()
    failing.refresh_from_db()
    assert (failing.status, failing.attempts) == (JobStatus.RETRYING, 1)

    # Attempt 2, while new work arrives: the new deal's runs go through as usual.
    second = _open(cast, pipeline)
    _time_passes(failing)
    before = timezone.now()
    drain()
    failing.refresh_from_db()
    assert (failing.status, failing.attempts) == (JobStatus.RETRYING, 2)
    wait = failing.next_attempt_at - before
    assert dt.timedelta(seconds=239) < wait < dt.timedelta(seconds=255), wait
    assert len(_failures_logged(caplog, failing)) == 2
    assert AutomationRun.objects.get(rule=healthy, deal=second).status == JobStatus.DONE
    assert AutomationRun.objects.get(rule=broken, deal=second).attempts == 1

    # Attempt 3 of 3: given up, with the error kept and logged once more.
    _time_passes(failing)
    drain()
    failing.refresh_from_db()
    assert failing.status == JobStatus.FAILED
    assert failing.attempts == 3
    assert failing.result.startswith("ValueError: invalid literal for int()"), failing.result
    assert failing.finished_at is not None
    assert _failures_logged(caplog, failing) == [failing.result] * 3
    # A late copy of its retry job (still queued for the time set by attempt 2) does nothing.
    assert engine.run_execute(run_id=failing.pk) == "not due"
    assert AutomationRun.objects.get(pk=failing.pk).attempts == 3

    # The healthy rule did its work once per deal; the broken one left nothing behind.
    assert sorted(Task.objects.values_list("deal_id", "title")) == [
        (first.pk, "Call back"),
        (second.pk, "Call back"),
    ]
    assert set(AutomationRun.objects.filter(rule=healthy).values_list("status", "attempts")) == {
        (JobStatus.DONE, 1)
    }
