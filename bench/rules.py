"""Automation-rule benchmark: `python -m bench.rules --db sqlite|pg [--runs N] [--backend B]`.

On a fresh database, one pipeline with one rule ("deal created" → "create a task"): N deals are
opened through `deal_open` (one transaction each, as the board and the API open them), which
writes N AutomationRuns and enqueues N jobs on commit; then the real worker of the backend drains
the queue and the time it takes is measured — the django-tasks-db worker in batch mode
(`--backend database`, the queue in the application's database) or an RQ SimpleWorker in burst
mode on Redis (`--backend rq`). Afterwards every run must be done and exactly N tasks created, or
the bench fails rather than print a number. Without `--backend` both run, each in its own process
(Django reads the tasks backend from the settings once per process). `--rq-worker fork` times
`conveyor worker --burst --no-beat` instead (django-rq's forking worker, as deployed). Results
are merged into bench/results/<date>-rules-<db>.json, one entry per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import common
from bench.run import DEFAULT_PG_URL, RESULTS, ROOT, machine, postgres_reachable
from bench.run_one import DATA, with_database

BENCH_DB = "conveyor_bench_rules"
SQLITE_PATH = DATA / "bench-rules.sqlite3"
DEFAULT_RQ_URL = "redis://127.0.0.1:6379/14"
BACKENDS = ("database", "rq")
TITLE = "Call the new client"


def _redis_reachable(url: str) -> str | None:
    """None when Redis answers, else the reason (printed as the skip line)."""
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def _database_label() -> str:
    from django.db import connection

    name = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    return f"{name} {common.database_version()}"


def _prepare(runs: int) -> tuple[Any, Any]:
    """A manager, a pipeline with two stages and the rule; returns (pipeline, rule)."""
    from conveyor.accounts.models import Role, User
    from conveyor.automation.models import Action, AutomationRule, Trigger
    from conveyor.pipelines.models import Pipeline, Stage

    User.objects.create_user(email="bench@example.com", password=None, role=Role.MANAGER)
    pipeline = Pipeline.objects.create(name="Bench rules")
    for position in (1, 2):
        Stage.objects.create(pipeline=pipeline, position=position, name=f"S{position}")
    rule = AutomationRule.objects.create(
        name="Bench: task on new deal",
        pipeline=pipeline,
        trigger=Trigger.DEAL_CREATED,
        action=Action.CREATE_TASK,
        params={"title": TITLE, "due_in_days": 1},
    )
    return pipeline, rule


def _open_deals(pipeline: Any, runs: int) -> float:
    """Open `runs` deals, one transaction each; returns the seconds it took (runs + enqueues)."""
    from django.db import transaction

    from conveyor.accounts.models import User
    from conveyor.people.models import Person
    from conveyor.pipelines.services import deal_open

    owner = User.objects.get(email="bench@example.com")
    people = Person.objects.bulk_create(Person(name=f"P{n}", owner=owner) for n in range(runs))
    started = time.perf_counter()
    for person in people:
        with transaction.atomic():
            deal_open(person=person, pipeline=pipeline, owner=owner, by=None)
    return time.perf_counter() - started


# A drain returns how many jobs the worker ran and when (perf_counter) the last one finished:
# the worker's own start-up and shutdown (RQ joins its pubsub thread, ~1 s) are not rule runs.
Drain = Callable[[], tuple[int, float]]


def _drain_database() -> Drain:
    from django_tasks_db.management.commands.db_worker import Worker

    from conveyor.core.jobs import db_burst_worker

    class TimedWorker(Worker):
        last_done = 0.0

        def run_task(self, db_task_result: Any) -> None:
            super().run_task(db_task_result)
            self.last_done = time.perf_counter()

    def work() -> tuple[int, float]:
        worker = db_burst_worker("bench-rules", TimedWorker)
        worker.run()
        return worker._run_tasks, worker.last_done

    return work


def _drain_rq() -> Drain:
    import django_rq
    from django_tasks_rq.backend import Job
    from rq import SimpleWorker

    queue = django_rq.get_queue("default", job_class=Job)

    class TimedWorker(SimpleWorker):
        executed = 0
        last_done = 0.0

        def execute_job(self, job: Any, queue: Any) -> None:
            super().execute_job(job, queue)
            self.executed += 1
            self.last_done = time.perf_counter()

    def work() -> tuple[int, float]:
        rq_worker = TimedWorker([queue], connection=queue.connection, job_class=Job)
        rq_worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        return rq_worker.executed, rq_worker.last_done

    return work


def _drain_command() -> Drain:
    """`conveyor worker --burst --no-beat` itself: with the rq backend that is django-rq's
    `rqworker`, whose default worker forks a work horse per job (which opens its own database
    connection); the time is the whole command's, start-up and shutdown included."""
    from django.core.management import call_command

    def work() -> tuple[int, float]:
        call_command("worker", burst=True, no_beat=True, verbosity=0)
        return -1, time.perf_counter()

    return work


def _check(backend: str, pipeline: Any, rule: Any, runs: int, jobs_run: int) -> None:
    """Refuse to report a number unless the worker really did every run."""
    from django.db.models import Count

    from conveyor.automation.models import AutomationRun, JobStatus
    from conveyor.touches.models import Task

    statuses = dict(
        AutomationRun.objects.filter(rule=rule).values_list("status").annotate(n=Count("pk"))
    )
    if statuses != {JobStatus.DONE: runs}:
        raise SystemExit(f"FAILED: expected {runs} runs done, found {statuses}")
    tasks = Task.objects.filter(deal__pipeline=pipeline, title=TITLE).count()
    if tasks != runs:
        raise SystemExit(f"FAILED: expected {runs} tasks, found {tasks}")
    if jobs_run not in (runs, -1):  # -1: a forking worker, counted by the checks around
        raise SystemExit(f"FAILED: the worker ran {jobs_run} jobs, expected {runs}")
    if backend == "database":
        from django_tasks_db.models import DBTaskResult

        left = DBTaskResult.objects.exclude(status="SUCCESSFUL").count()
        if left:
            raise SystemExit(f"FAILED: {left} database jobs not successful")
    else:
        import django_rq
        from rq.registry import FailedJobRegistry

        queue = django_rq.get_queue("default")
        failed = len(FailedJobRegistry(queue=queue))
        if queue.count or failed:
            raise SystemExit(f"FAILED: {queue.count} RQ jobs left, {failed} failed")


def _measure(db: str, backend: str, runs: int, fork: bool) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.backends.signals import connection_created

    call_command("migrate", verbosity=0)
    label = _database_label()
    pipeline, rule = _prepare(runs)
    open_seconds = _open_deals(pipeline, runs)
    drains = {"database": _drain_database, "rq": _drain_command if fork else _drain_rq}
    work = drains[backend]()

    # Diagnostics, not the measure: statements sent and connections opened while draining.
    queries = 0
    connections = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    def opened(**kwargs: Any) -> None:
        nonlocal connections
        connections += 1

    connection_created.connect(opened, weak=False)
    load = os.getloadavg()[0]
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        jobs_run, last_done = work()
        stopped = time.perf_counter()
    seconds = last_done - started
    connection_created.disconnect(opened)
    _check(backend, pipeline, rule, runs, jobs_run)
    return {
        "database": label,
        "runs": runs,
        "rule": "deal_created -> create_task",
        "worker": (
            "conveyor worker --burst --no-beat (rqworker: rq Worker, a fork per job)"
            if fork
            else "django-tasks-db Worker (batch, 1 process)"
            if backend == "database"
            else "rq SimpleWorker (burst, 1 process)"
        ),
        "open_seconds": round(open_seconds, 2),
        "deals_opened_per_second": round(runs / open_seconds, 1),
        "drain_seconds": round(seconds, 2),
        "runs_per_second": round(runs / seconds, 1),
        "worker_seconds": round(stopped - started, 2),
        # Statements and connections of this process only (a forked work horse is not seen).
        "queries_per_run": None if fork else round(queries / runs, 1),
        "db_connections_opened": None if fork else connections,
        # Other processes on the machine share its cores: the 1-minute load before the drain.
        "load_average_before": round(load, 2),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _write(db: str, key: str, entry: dict[str, Any]) -> Any:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-rules-{db}.json"
    result: dict[str, Any] = {}
    if out.exists():
        result = json.loads(out.read_text(encoding="utf-8"))
    result.update({"benchmark": "automation_runs", "db": db, "machine": machine()})
    result.setdefault("backends", {})[key] = entry
    result["backends"] = {name: result["backends"][name] for name in sorted(result["backends"])}
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return out


def _one(db: str, backend: str, runs: int, pg_url: str, rq_url: str, fork: bool) -> int:
    if db == "pg":
        problem = postgres_reachable(pg_url)
        if problem:
            print(f"SKIPPED rules on PostgreSQL: {problem}")
            return 0
        os.environ["DATABASE_URL"] = with_database(pg_url, BENCH_DB)
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["CONVEYOR_SQLITE_PATH"] = str(SQLITE_PATH)
    if backend == "rq":
        problem = _redis_reachable(rq_url)
        if problem:
            print(f"SKIPPED rules with the rq backend: Redis at {rq_url}: {problem}")
            return 0
        import redis

        redis.Redis.from_url(rq_url).flushdb()
        os.environ["CONVEYOR_RQ_URL"] = rq_url
    os.environ["CONVEYOR_TASKS_BACKEND"] = backend
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conveyor.settings")
    from bench import common

    common.fresh_database(db, pg_url, name=BENCH_DB, sqlite_path=SQLITE_PATH)
    entry = _measure(db, backend, runs, fork)
    key = f"{backend}-fork" if fork else backend
    out = _write(db, key, entry)
    print(
        f"rule runs on {entry['database']}, {key} backend: {entry['runs_per_second']:.0f} "
        f"runs/s ({runs} runs drained in {entry['drain_seconds']:.1f} s, all done, {runs} tasks; "
        f"deals opened at {entry['deals_opened_per_second']:.0f}/s) → {out.relative_to(ROOT)}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument(
        "--backend", choices=BACKENDS, help="the tasks backend (default: each, one process each)"
    )
    parser.add_argument(
        "--rq-worker",
        choices=["simple", "fork"],
        default="simple",
        help="rq: a SimpleWorker in this process (default), or `conveyor worker --burst` "
        "(rqworker, a forked work horse per job; stored as backend 'rq-fork')",
    )
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--rq-url", default=os.environ.get("BENCH_RQ_URL", DEFAULT_RQ_URL))
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    fork = args.rq_worker == "fork"
    if fork and args.backend != "rq":
        parser.error("--rq-worker fork needs --backend rq")
    if args.backend:
        return _one(args.db, args.backend, args.runs, args.pg_url, args.rq_url, fork)
    status = 0
    for backend in BACKENDS:
        cmd = [sys.executable, "-m", "bench.rules", "--db", args.db, "--runs", str(args.runs)]
        cmd += ["--backend", backend, "--pg-url", args.pg_url, "--rq-url", args.rq_url]
        status = subprocess.run(cmd, cwd=ROOT, check=False).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
