"""Deal-move benchmark: `python -m bench.moves [--deals N] [--db sqlite|pg]`.

Opens N deals through `deal_open`, then times N `deal_move` calls (one transaction each, as the
board and the API make them) twice on fresh deals: with the receivers of `deal_changed`
connected (cadences + automation rules + webhooks, the way the app runs) and with them
disconnected (the bare history write), so the cost the reactions add to the hot path is measured,
not guessed. Writes bench/results/<date>-moves-<db>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

from bench.run import DEFAULT_PG_URL, RESULTS, machine, postgres_reachable
from bench.run_one import DATA, with_database

BENCH_DB = "conveyor_bench_moves"


def _setup(db: str, pg_url: str) -> None:
    from bench import common

    common.fresh_database(db, pg_url, name=BENCH_DB, sqlite_path=DATA / "bench-moves.sqlite3")


def _measure(deals: int, connected: bool) -> float:
    from conveyor.accounts.models import Role, User
    from conveyor.people.models import Person
    from conveyor.pipelines.models import Deal, Pipeline, Stage
    from conveyor.pipelines.services import deal_move, deal_open
    from conveyor.pipelines.signals import deal_changed

    receivers = [("touches.cadences_follow_stage",), ("automation.deal_changed",)]
    if not connected:
        for (uid,) in receivers:
            deal_changed.disconnect(dispatch_uid=uid)
    owner = User.objects.filter(role=Role.MANAGER).first() or User.objects.create_user(
        email="bench@example.com", password=None, role=Role.MANAGER
    )
    pipeline = Pipeline.objects.create(name=f"Bench {connected} {time.time()}")
    stages = [Stage.objects.create(pipeline=pipeline, position=n, name=f"S{n}") for n in (1, 2)]
    people = Person.objects.bulk_create(Person(name=f"P{n}") for n in range(deals))
    opened = [
        deal_open(person=person, pipeline=pipeline, owner=owner, by=None) for person in people
    ]
    started = time.perf_counter()
    for deal in opened:
        deal_move(deal_id=deal.pk, stage=stages[1], version=deal.version, by=None)
    elapsed = time.perf_counter() - started
    assert Deal.objects.filter(pipeline=pipeline, stage=stages[1]).count() == deals
    if not connected:
        from conveyor.automation import receivers as automation_receivers
        from conveyor.touches import receivers as touch_receivers

        deal_changed.connect(touch_receivers.follow_stage, dispatch_uid=receivers[0][0])
        deal_changed.connect(automation_receivers.deal_event, dispatch_uid=receivers[1][0])
    return deals / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=2000)
    parser.add_argument("--db", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args(argv)
    if args.db == "pg":
        problem = postgres_reachable(args.pg_url)
        if problem:
            print(f"SKIPPED moves on PostgreSQL: {problem}")
            return
        os.environ["DATABASE_URL"] = with_database(args.pg_url, BENCH_DB)
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["CONVEYOR_SQLITE_PATH"] = str(DATA / "bench-moves.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conveyor.settings")
    _setup(args.db, args.pg_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bare = _measure(args.deals, connected=False)
    full = _measure(args.deals, connected=True)
    result: dict[str, Any] = {
        "benchmark": "deal_move",
        "db": args.db,
        "deals": args.deals,
        "moves_per_second_bare": round(bare, 1),
        "moves_per_second_with_receivers": round(full, 1),
        "machine": machine(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-moves-{args.db}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"deal_move on {args.db}: {bare:.0f}/s bare, {full:.0f}/s with cadences+automation "
        f"receivers ({args.deals} moves) → {out}"
    )


if __name__ == "__main__":
    main()
