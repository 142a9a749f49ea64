"""Board benchmark: `python -m bench.board [--deals 100000] [--db sqlite|pg] [--requests 30]`.

On a fresh database (SQLite file bench/data/bench-board.sqlite3, or the PostgreSQL database
`bench_board`) it builds one pipeline of six stages holding N open deals — the worst case for a
board: every open deal of the account on one screen — with their people (five sources, three
temperatures, phones and e-mails), eight managers in two teams under two heads, and an open task
on seven deals in ten; then ANALYZE (VACUUM ANALYZE on PostgreSQL), as a running database has
statistics. The deals are spread over the stages 35/25/15/12/8/5%, so the first column holds
about a third of them.

Then it times, through Django's test Client (the whole middleware stack, a logged-in session in
the database, DEBUG off, cached templates), `--requests` requests of each after 3 warm-ups:

- **board**: the board page as the owner (every deal counted and summed, the first page of
  cards of each column, CARDS_PER_COLUMN);
- **board, filtered**: the same page as a head with the owner, source, temperature and search
  filters on (a head sees their teams' deals, so the visibility rule is in the query too);
- **column page**: "Show more" of the biggest column from the middle of it (keyset cursor), as
  htmx asks for it (the fragment);
- **deal page**: the page of the deal in the middle of that column, as the owner.

p50 and p95 in milliseconds, and the queries each request makes (counted once, apart). The aim
is a p95 of at most 150 ms. Writes bench/results/<date>-board-<N>-<db>.json and rebuilds the
Board table in bench/README.md from every such file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import common
from bench.run import DEFAULT_PG_URL, README, RESULTS, ROOT, machine, postgres_reachable
from bench.run_one import DATA, with_database

BENCH_DB = "bench_board"
SQLITE_PATH = DATA / "bench-board.sqlite3"
MARKER = "<!-- Board table: rewritten by bench/board.py. -->"
END = "<!-- End of board table. -->"
AIM_MS = 150
WARM_UP = 3
SEED = 11
BATCH = 5000
STAGE_SHARES = [0.35, 0.25, 0.15, 0.12, 0.08, 0.05]
SOURCES = ["website", "ads", "referral", "walk-in", "cold call"]
FIRST = ["Ivan", "Maria", "Elena", "Georgi", "Anna", "Petar", "Olga", "Nikolai", "Daria", "Boris"]
LAST = ["Petrov", "Ivanova", "Georgiev", "Kozlova", "Dimitrov", "Sokolova", "Iliev", "Markova"]


def build(deals: int) -> dict[str, Any]:
    """The pipeline, its people and open deals, written in bulk (seeded: the same every run)."""
    from django.utils import timezone

    from conveyor.accounts.models import Role, Team, User
    from conveyor.people.models import Person, Temperature
    from conveyor.pipelines.models import Deal, LossReason, Pipeline, Segment, Stage
    from conveyor.touches.models import Task

    rng = random.Random(SEED)
    now = timezone.now()
    owner = User.objects.create_user(email="owner@bench.example", name="Owner", role=Role.OWNER)
    managers: list[User] = []
    heads: list[User] = []
    for t in range(2):
        head = User.objects.create_user(
            email=f"head{t}@bench.example", name=f"Head {t}", role=Role.HEAD
        )
        team = Team.objects.create(name=f"Team {t}", head=head)
        head.team = team
        head.save()
        heads.append(head)
        for m in range(4):
            managers.append(
                User.objects.create_user(
                    email=f"manager{t}{m}@bench.example",
                    name=f"Manager {t}{m}",
                    role=Role.MANAGER,
                    team=team,
                )
            )
    segment = Segment.objects.create(name="Bench")
    pipeline = Pipeline.objects.create(name="Bench / first sale", segment=segment)
    stages = [
        Stage.objects.create(
            pipeline=pipeline,
            position=n,
            name=f"Stage {n}",
            exit_criterion=f"The client did step {n}",
            rot_days=14 if n > 1 else None,
        )
        for n in range(1, len(STAGE_SHARES) + 1)
    ]
    for name in ("Too expensive", "Went silent", "Chose a competitor"):
        LossReason.objects.create(name=name, pipeline=pipeline)
    temperatures = [Temperature.COLD, Temperature.WARM, Temperature.HOT]
    made = 0
    while made < deals:
        size = min(BATCH, deals - made)
        people = Person.objects.bulk_create(
            [
                Person(
                    name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    email=f"client{made + n}@example.com",
                    phone=f"+35988{made + n:07d}",
                    source=rng.choice(SOURCES),
                    temperature=rng.choice(temperatures),
                    created_at=now - timedelta(days=200),
                )
                for n in range(size)
            ]
        )
        rows = []
        for person in people:
            stage = rng.choices(stages, weights=STAGE_SHARES)[0]
            entered = now - timedelta(minutes=rng.randrange(1, 120 * 24 * 60))
            rows.append(
                Deal(
                    person=person,
                    pipeline=pipeline,
                    stage=stage,
                    owner=rng.choice(managers),
                    amount=Decimal(rng.randrange(5, 500) * 100),
                    opened_at=entered - timedelta(days=rng.randrange(0, 60)),
                    stage_entered_at=entered,
                    max_position=stage.position,
                )
            )
        created = Deal.objects.bulk_create(rows)
        Task.objects.bulk_create(
            [
                Task(
                    deal=deal,
                    assignee=deal.owner,
                    title="Call about the proposal",
                    due_at=now + timedelta(hours=rng.randrange(-72, 240)),
                )
                for deal in created
                if rng.random() < 0.7
            ]
        )
        made += size
        print(f"  {made:,} open deals", flush=True)
    return {
        "pipeline": pipeline,
        "stages": stages,
        "owner": owner,
        "head": heads[0],
        "manager": managers[0],
    }


def analyze() -> None:
    """Planner statistics, and on PostgreSQL the visibility map (autovacuum would have set it on
    a running database; index-only scans need it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def timed(fn: Callable[[], Any], requests: int) -> dict[str, float]:
    for _ in range(WARM_UP):
        fn()
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
        "max_ms": round(times[-1], 1),
    }


def queries_of(fn: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def measure(db: str, deals: int, requests: int, pg_url: str) -> dict[str, Any]:
    common.fresh_database(db, pg_url, name=BENCH_DB, sqlite_path=SQLITE_PATH)
    common.use_database(db, pg_url=with_database(pg_url, BENCH_DB), sqlite_path=SQLITE_PATH)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from conveyor.pipelines.models import Deal
    from conveyor.web.views.board import cursor_param

    call_command("migrate", verbosity=0, interactive=False)
    print(f"[{db}] building {deals:,} open deals ...", flush=True)
    began = time.perf_counter()
    made = build(deals)
    analyze()
    build_s = time.perf_counter() - began
    print(f"[{db}] built in {build_s:.0f} s", flush=True)
    pipeline, stages = made["pipeline"], made["stages"]
    board_url = reverse("web:board-pipeline", args=[pipeline.pk])
    biggest = stages[0]
    in_column = Deal.objects.filter(stage=biggest).count()
    middle = Deal.objects.filter(stage=biggest).order_by("stage_entered_at", "pk")[in_column // 2]
    column_url = reverse("web:board-cards", args=[pipeline.pk, biggest.pk])
    filters = {
        "owner": made["manager"].pk,
        "source": "ads",
        "temperature": "hot",
        "q": "ivan",
    }

    def client_for(user: Any) -> Any:
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        return client

    owner, head = client_for(made["owner"]), client_for(made["head"])

    def get(client: Any, url: str, data: dict[str, Any] | None = None, **headers: str) -> Any:
        response = client.get(url, data or {}, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        return response

    deal_url = reverse("web:deal", args=[middle.pk])
    paths: dict[str, Callable[[], Any]] = {
        "board": lambda: get(owner, board_url),
        "board, filtered": lambda: get(head, board_url, filters),
        "column page": lambda: get(
            owner,
            column_url,
            {"after": cursor_param((middle.stage_entered_at, middle.pk))},
            **{"HX-Request": "true"},
        ),
        "deal page": lambda: get(owner, deal_url),
    }
    results = {}
    for name, fn in paths.items():
        results[name] = {**timed(fn, requests), "queries": queries_of(fn)}
        print(f"[{db}] {name}: {results[name]}", flush=True)
    version = common.database_version()
    connection.close()
    return {
        "database": db,
        "version": version,
        "deals": deals,
        "requests": requests,
        "biggest_column": in_column,
        "build_seconds": round(build_s, 1),
        "paths": results,
        "load_average": list(os.getloadavg()),
        "aim_p95_ms": AIM_MS,
        "aim_met": all(r["p95_ms"] <= AIM_MS for r in results.values()),
    }


def render_table() -> str:
    lines = [
        "| date | open deals | database | request | p50 ms | p95 ms | queries | load | aim met |",
        "|---|---:|---|---|---:|---:|---:|---:|---|",
    ]
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in RESULTS.glob("*-board-*.json")]
    runs.sort(key=lambda r: (r["date"], r["deals"], r["database"]))
    for data in runs:
        name = common.database_name(data["database"])
        load = f"{data['load_average'][0]:.1f}"
        for request, figures in data["paths"].items():
            lines.append(
                f"| {data['date']} | {data['deals']:,} | {name} {data['version']} "
                f"| {request} "
                f"| {figures['p50_ms']:.1f} | {figures['p95_ms']:.1f} | {figures['queries']} "
                f"| {load} | {'yes' if figures['p95_ms'] <= data['aim_p95_ms'] else 'no'} |"
            )
    return "\n".join(lines)


def rewrite_readme(readme: Path = README) -> None:
    """Put the board table between its markers, above the dataset table's marker."""
    common.put_section(readme, start=MARKER, end=END, title="Board", table=render_table())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    if args.db == "pg":
        reason = postgres_reachable(args.pg_url)
        if reason is not None:
            print(f"Board bench on PostgreSQL SKIPPED: cannot connect to {args.pg_url} ({reason}).")
            return
    result = measure(args.db, args.deals, args.requests, args.pg_url)
    today = datetime.now(UTC).date()
    result = {"date": today.isoformat(), **result, "machine": machine()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{today.isoformat()}-board-{args.deals}-{args.db}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rewrite_readme()
    print(
        f"{args.db}, {args.deals:,} open deals: aim (p95 <= {AIM_MS} ms) "
        f"{'met' if result['aim_met'] else 'NOT met'}."
    )
    print(f"Wrote {out.relative_to(ROOT)} and the Board table in {README.relative_to(ROOT)}.")


if __name__ == "__main__":
    main()
