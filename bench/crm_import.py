"""CRM import benchmark: `python -m bench.crm_import [--rows N] [--db sqlite|pg] [--pg-url URL]`.

Generates a Pipedrive-style deals export of N rows (default 100,000; seeded, so every run reads
the same file) into a temp folder: ~60% open, 25% won, 15% lost deals with a reason, in two
pipelines with Pipedrive's default stages, seven owners, about 1.4 deals per person (so about
30% of the rows link to a person met earlier in the file), phones written with spaces and
brackets, half the amounts with thousands separators, and three columns no field reads (label,
expected close date, source channel), kept on the intake records. On a fresh database (SQLite file
bench/data/bench-crm-import.sqlite3, or the PostgreSQL database `conveyor_bench_import`) it times:

- the dry run (`import-crm --dry-run`: read, check and plan every row);
- the import (`import-crm --create-missing`: plan again, create the two pipelines, their
  stages and the loss reasons, write people, companies, deals, stage history and intake
  records in one transaction); **rows/s** = file rows / import seconds, the figure the aim
  (>= 20,000 rows/s) is about;
- the replay (the same command again: every deal is recognised as imported before).

It checks the database afterwards (one deal and one intake record per row, people as many as
distinct people in the file) and writes bench/results/<date>-crm-import-<db>.json, then
rebuilds the "CRM import" table in bench/README.md from every such file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import common
from bench.run import DEFAULT_PG_URL, README, RESULTS, ROOT, machine, postgres_reachable
from bench.run_one import DATA, with_database

BENCH_DB = "conveyor_bench_import"
SQLITE_PATH = DATA / "bench-crm-import.sqlite3"
MARKER = "<!-- CRM import table: rewritten by bench/crm_import.py. -->"
END = "<!-- End of CRM import table. -->"
AIM_ROWS_PER_S = 20_000
SEED = 7

HEADER = [
    "Deal - ID",
    "Deal - Title",
    "Deal - Value",
    "Deal - Currency",
    "Deal - Status",
    "Deal - Pipeline",
    "Deal - Stage",
    "Deal - Owner",
    "Deal - Lost reason",
    "Deal - Deal created",
    "Deal - Won time",
    "Deal - Lost time",
    "Deal - Deal closed on",
    "Person - ID",
    "Person - Name",
    "Person - Email",
    "Person - Phone",
    "Organization - Name",
    # Columns no Conveyor field reads; each intake record keeps them (as exports have many).
    "Deal - Label",
    "Deal - Expected close date",
    "Deal - Source channel",
]
LABELS = ("", "", "Hot", "Warm", "Cold")
CHANNELS = ("Web forms", "Referral", "Cold call", "Event")
PIPELINES = {
    "Sales pipeline": (
        "Qualified",
        "Contact Made",
        "Demo Scheduled",
        "Proposal Made",
        "Negotiations Started",
    ),
    "Renewals": ("Contacted", "Offer Sent", "Negotiation"),
}
OWNERS = (
    "Elena Georgieva",
    "Dmitry Sokolov",
    "Ivan Petrov",
    "Maria Dimitrova",
    "Alexei Smirnov",
    "Nina Koleva",
    "Georgi Stoyanov",
)
REASONS = ("No budget", "Too expensive", "Chose a competitor", "Went silent", "Not now")
FIRST = ("Anna", "Peter", "Mei", "Luis", "Oskar", "Sara", "Tom", "Jane", "Amira", "Ivan", "Olga")
LAST = ("Keller", "Novak", "Chen", "Ortega", "Lind", "Rossi", "Becker", "Roe", "Haddad", "Kim")


def generate(path: Path, rows: int, seed: int = SEED) -> dict[str, int]:
    """Write the export; returns what it holds (rows, distinct people, companies, statuses)."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    people: list[tuple[int, str, str, str, str]] = []
    statuses = {"open": 0, "won": 0, "lost": 0}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for deal_id in range(1, rows + 1):
            if people and rng.random() < 0.3:
                person = people[rng.randrange(len(people))]
            else:
                pid = len(people) + 1
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {pid}"
                # Unique per person, written the ways people type them.
                area, line = 201 + pid // 10000 % 780, pid % 10000
                number = f"+1 {area} 555 {line:04d}"
                if pid % 3 == 0:
                    number = f"+1 ({area}) 555-{line:04d}"
                person = (pid, name, f"p{pid}@example.com", number, f"Company {pid // 3}")
                people.append(person)
            pid, name, email, phone, company = person
            pipeline = "Sales pipeline" if rng.random() < 0.8 else "Renewals"
            stage = rng.choice(PIPELINES[pipeline])
            created = start + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
            roll = rng.random()
            status = "Open" if roll < 0.6 else ("Won" if roll < 0.85 else "Lost")
            statuses[status.lower()] += 1
            closed = created + timedelta(hours=rng.randrange(1, 24 * 90))
            closed_text = closed.strftime("%Y-%m-%d %H:%M:%S")
            value = rng.randint(100, 200_000)
            writer.writerow(
                [
                    deal_id,
                    f"Deal {deal_id} for {company}",
                    f"{value:,}" if value % 2 else str(value),
                    "EUR",
                    status,
                    pipeline,
                    stage,
                    rng.choice(OWNERS),
                    rng.choice(REASONS) if status == "Lost" else "",
                    created.strftime("%Y-%m-%d %H:%M:%S"),
                    closed_text if status == "Won" else "",
                    closed_text if status == "Lost" else "",
                    closed_text if status != "Open" else "",
                    pid,
                    name,
                    email,
                    phone,
                    company,
                    rng.choice(LABELS),
                    (created + timedelta(days=30)).strftime("%Y-%m-%d") if status == "Open" else "",
                    rng.choice(CHANNELS),
                ]
            )
    return {
        "rows": rows,
        "people": len(people),
        "companies": len({p[4] for p in people}),
        **statuses,
    }


def environment(db: str, pg_url: str, data_dir: Path) -> None:
    common.use_database(db, pg_url=with_database(pg_url, BENCH_DB), sqlite_path=SQLITE_PATH)
    # The 100k-row file is ~13 MB; the default limit (50 MB) applies as in production.
    os.environ["CONVEYOR_DATA_DIR"] = str(data_dir)


def fresh_database(db: str, pg_url: str) -> None:
    common.fresh_database(db, pg_url, name=BENCH_DB, sqlite_path=SQLITE_PATH)


def timed_command(*args: str) -> tuple[float, dict[str, Any]]:
    from django.core.management import call_command

    out = io.StringIO()
    began = time.perf_counter()
    call_command("import-crm", *args, "--format", "json", stdout=out)
    seconds = time.perf_counter() - began
    return seconds, json.loads(out.getvalue())


def measure(db: str, rows: int, pg_url: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="conveyor-bench-crm-"))
    export = tmp / "pipedrive-deals.csv"
    print(f"Generating a {rows:,}-row Pipedrive export ...", flush=True)
    began = time.perf_counter()
    contents = generate(export, rows)
    print(
        f"  {export.stat().st_size / 1e6:.1f} MB, {contents['people']:,} people, "
        f"in {time.perf_counter() - began:.1f} s"
    )
    fresh_database(db, pg_url)
    environment(db, pg_url, tmp)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from conveyor.accounts.models import User
    from conveyor.intake.models import Lead
    from conveyor.people.models import Company, Person
    from conveyor.pipelines.models import Deal, StageChange

    call_command("migrate", verbosity=0, interactive=False)
    for name in OWNERS:
        User.objects.create_user(email=name.lower().replace(" ", ".") + "@bench.example", name=name)
    version = common.database_version()

    print(f"[{db}] dry run ...", flush=True)
    dry_s, dry = timed_command(str(export), "--from", "pipedrive", "--dry-run", "--create-missing")
    print(f"[{db}] dry run: {dry_s:.2f} s ({rows / dry_s:,.0f} rows/s)")
    print(f"[{db}] import ...", flush=True)
    import_s, imported = timed_command(str(export), "--from", "pipedrive", "--create-missing")
    print(f"[{db}] import: {import_s:.2f} s ({rows / import_s:,.0f} rows/s)")
    print(f"[{db}] replay ...", flush=True)
    replay_s, replay = timed_command(str(export), "--from", "pipedrive", "--create-missing")
    print(f"[{db}] replay: {replay_s:.2f} s ({rows / replay_s:,.0f} rows/s)")

    found = {
        "deals": Deal.objects.count(),
        "leads": Lead.objects.count(),
        "people": Person.objects.count(),
        "companies": Company.objects.count(),
        "stage_changes": StageChange.objects.count(),
    }
    expected = {
        "deals": rows,
        "leads": rows,
        "people": contents["people"],
        "companies": contents["companies"],
        "stage_changes": rows + contents["won"] + contents["lost"],
    }
    check = "ok" if found == expected and replay["counts"]["exists"] == rows else "MISMATCH"
    connection.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "database": db,
        "version": version,
        "rows": rows,
        "file": contents,
        "dry_run_seconds": round(dry_s, 2),
        "dry_run_rows_per_s": round(rows / dry_s),
        "import_seconds": round(import_s, 2),
        "import_rows_per_s": round(rows / import_s),
        "replay_seconds": round(replay_s, 2),
        "replay_rows_per_s": round(rows / replay_s),
        "written": imported["result"],
        "plan_counts": dry["counts"],
        "database_after": found,
        "check": check,
        "aim_rows_per_s": AIM_ROWS_PER_S,
        "aim_met": rows / import_s >= AIM_ROWS_PER_S,
    }


def render_table() -> str:
    lines = [
        "| date | rows | database | dry run s | import s | import rows/s | replay s "
        "| aim met | check |",
        "|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for path in sorted(RESULTS.glob("*-crm-import-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        name = common.database_name(data["database"])
        lines.append(
            f"| {data['date']} | {data['rows']:,} | {name} {data['version']} "
            f"| {data['dry_run_seconds']:.2f} | {data['import_seconds']:.2f} "
            f"| {data['import_rows_per_s']:,} | {data['replay_seconds']:.2f} "
            f"| {'yes' if data['aim_met'] else 'no'} | {data['check']} |"
        )
    return "\n".join(lines)


def rewrite_readme(readme: Path = README) -> None:
    """Put the CRM import table between its markers, above the dataset table's marker."""
    common.put_section(readme, start=MARKER, end=END, title="CRM import", table=render_table())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    if args.db == "pg":
        reason = postgres_reachable(args.pg_url)
        if reason is not None:
            print(
                f"CRM import bench on PostgreSQL SKIPPED: cannot connect to {args.pg_url} "
                f"({reason})."
            )
            return
    result = measure(args.db, args.rows, args.pg_url)
    today = datetime.now(UTC).date()
    result = {"date": today.isoformat(), **result, "machine": machine()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{today.isoformat()}-crm-import-{args.db}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rewrite_readme()
    print(
        f"{args.db}: {result['import_rows_per_s']:,} rows/s imported "
        f"(aim >= {AIM_ROWS_PER_S:,}: {'met' if result['aim_met'] else 'NOT met'}); "
        f"check {result['check']}."
    )
    print(f"Wrote {out.relative_to(ROOT)} and the CRM import table in {README.relative_to(ROOT)}.")
    if result["check"] != "ok":
        print(f"ERROR: the database does not hold what the file does: {result['database_after']}")
        sys.exit(1)


if __name__ == "__main__":
    main()
