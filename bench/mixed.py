"""Mixed-load benchmark: `python -m bench.mixed [--seconds 20] [--db pg|sqlite] [--deals 10000]
[--workers 3] [--worker-class sync|gthread] [--clients 6]`.

Prepares a fresh database (the PostgreSQL database `bench_mixed` via --pg-url / BENCH_PG_URL, or
the SQLite file bench/data/bench-mixed.sqlite3): migrates it, collects the static files (the
production storage needs their manifest to render a page), imports the generated dataset of
--deals deals (bench/data/ds-<N>/, as `bench.run` makes it), and gives every load client an API
token (`token_create`) and a logged-in web session of one of the dataset's managers, plus its own
share of that manager's open deals. Then it serves `conveyor.wsgi` with gunicorn on a free
loopback port with production settings (as bench/intake.py does, through its helpers) and runs
the load from a second process, `python -m bench.mixed_load`, for a warm-up and --seconds: board
pages, deal moves, touches and API leads by weight (see that module).

Reports per operation and overall the requests, requests/s, p50, p99 and errors, then checks the
database against the answers: one new stage change per successful move, one touch per touch
answered 201, one lead per lead answered 201, and every deal at the stage and version its client
last saw. Writes bench/results/<date>-mixed-<db>.json and the "Mixed load" table in
bench/README.md. Exits non-zero on any error or disagreement.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common, intake
from bench.run import DEFAULT_PG_URL, README, RESULTS, ROOT, dataset, machine, postgres_reachable
from bench.run_one import DATA, with_database

BENCH_DB = "bench_mixed"
SQLITE_PATH = DATA / "bench-mixed.sqlite3"
MIXED_MARKER = "<!-- Mixed load table: rewritten by bench/mixed.py. -->"
MIXED_END = "<!-- End of mixed load table. -->"
# Shares of the requests: people look at the board about as often as they change something.
WEIGHTS = {"board": 30, "move": 30, "touch": 25, "lead": 15}
WARMUP_SECONDS = 3
# At most this many deals per client, which moves and touches them in turn (the 10,000-deal
# dataset leaves each of 6 clients ~50 open deals).
DEALS_PER_CLIENT = 400


def environment(db: str, pg_url: str, data_dir: Path) -> dict[str, str]:
    """The intake bench's production environment, on this bench's database, with the API rate
    limit raised out of the way (the counter is still written on every call)."""
    env = intake.environment(db, pg_url, data_dir)
    env["CONVEYOR_API_RATE_PER_MINUTE"] = str(10**9)
    if db == "pg":
        env["DATABASE_URL"] = with_database(pg_url, BENCH_DB)
    else:
        env["CONVEYOR_SQLITE_PATH"] = str(SQLITE_PATH)
    return env


def prepare(folder: Path) -> str:
    """Migrate, collect the static files, import the dataset; the database version."""
    from django.core.management import call_command

    from conveyor.dataset.importer import import_dataset

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    import_dataset(folder)
    return common.database_version()


def make_plan(clients: int, run: str) -> dict[str, Any]:
    """What each load client acts as: the token and web session of one of the managers (round
    robin) and its own share of that manager's open deals; the stages of every pipeline."""
    from django.conf import settings
    from django.test import Client

    from conveyor.accounts.models import Role, User
    from conveyor.accounts.services import token_create
    from conveyor.pipelines.models import Deal, DealStatus, Stage

    stages: dict[int, list[int]] = {}
    for stage in Stage.objects.filter(is_archived=False).order_by("pipeline_id", "position"):
        stages.setdefault(stage.pipeline_id, []).append(stage.pk)
    movable = {pid for pid, ids in stages.items() if len(ids) > 1}
    managers = list(User.objects.filter(role=Role.MANAGER, is_active=True).order_by("pk"))
    assert managers, "the database has no managers"
    plan_clients = []
    for i in range(clients):
        manager = managers[i % len(managers)]
        sharing = len(range(i % len(managers), clients, len(managers)))
        open_deals = [
            deal
            for deal in Deal.objects.filter(owner=manager, status=DealStatus.OPEN)
            .order_by("pk")
            .values("id", "version", "stage_id", "pipeline_id")
            if deal["pipeline_id"] in movable and deal["stage_id"] in stages[deal["pipeline_id"]]
        ]
        own = open_deals[i // len(managers) :: sharing][:DEALS_PER_CLIENT]
        token = token_create(user=manager, name=f"Bench mixed {run} {i + 1}", by=None)
        browser = Client()
        browser.force_login(manager)
        cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
        plan_clients.append(
            {
                "user": manager.email,
                "token": token.raw,
                "session_cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}",
                "deals": own,
                "boards": sorted({d["pipeline_id"] for d in own}) or sorted(stages)[:1],
            }
        )
    return {
        "run": run,
        "weights": WEIGHTS,
        "stages": {str(pid): ids for pid, ids in stages.items()},
        "clients": plan_clients,
    }


def snapshot(run: str, deal_ids: list[int]) -> dict[str, int]:
    """What the checks count: moves of the plan's deals, this run's touches and leads."""
    from conveyor.intake.models import Lead, LeadChannel
    from conveyor.pipelines.models import ChangeKind, StageChange
    from conveyor.touches.models import Touch

    return {
        "move": StageChange.objects.filter(deal_id__in=deal_ids, kind=ChangeKind.MOVE).count(),
        "touch": Touch.objects.filter(
            deal_id__in=deal_ids, note__startswith=f"bench-mixed {run}:"
        ).count(),
        "lead": Lead.objects.filter(channel=LeadChannel.API, source=f"bench-mixed-{run}").count(),
    }


def deals_disagreeing(seen: dict[str, dict[str, int]]) -> list[str]:
    """Deals whose stage or version in the database is not the one their client last saw."""
    from conveyor.pipelines.models import Deal

    stored = {
        row["id"]: row
        for row in Deal.objects.filter(pk__in=[int(k) for k in seen]).values(
            "id", "version", "stage_id"
        )
    }
    wrong = [
        f"deal {deal_id}: client saw stage {last['stage_id']} v{last['version']}, database has "
        f"stage {stored[int(deal_id)]['stage_id']} v{stored[int(deal_id)]['version']}"
        for deal_id, last in seen.items()
        if int(deal_id) in stored
        and (stored[int(deal_id)]["stage_id"], stored[int(deal_id)]["version"])
        != (last["stage_id"], last["version"])
    ]
    return wrong


def check(
    before: dict[str, int], after: dict[str, int], load: dict[str, Any], wrong: list[str]
) -> dict[str, Any]:
    """The database against the answers: one row per success, nothing more, nothing less."""
    ok = load["whole_run"]["ok"]
    rows = {op: after[op] - before[op] for op in after}
    problems = [
        f"{op}: {rows[op]:,} new rows in the database for {ok.get(op, 0):,} successful answers"
        for op in rows
        if rows[op] != ok.get(op, 0)
    ]
    problems += wrong[:20]
    if len(wrong) > 20:
        problems.append(f"... and {len(wrong) - 20} more deals")
    return {"rows": rows, "answers": {op: ok.get(op, 0) for op in rows}, "problems": problems}


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (None when it is gone or remote)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _backends(db: str) -> list[int]:
    """The PostgreSQL server processes serving the bench database (not this process's own)."""
    if db != "pg":
        return []
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend'"
            " AND pid <> pg_backend_pid()"
        )
        pids = [int(row[0]) for row in cursor.fetchall()]
    connection.close()
    return pids


def _cpu(pids: list[int]) -> dict[int, float]:
    return {pid: used for pid in pids if (used := _cpu_seconds(pid)) is not None}


def run_load(
    plan_path: Path, out_path: Path, *, server_pid: int, db: str
) -> tuple[dict[str, Any], list[float], dict[str, float | None]]:
    """The load process, with the 1-minute load average sampled every second while it runs,
    and the CPU the gunicorn workers and the database processes used from (about) the end of
    the warm-up to the end of the load (the load average says how busy the machine was; the CPU
    per request does not depend on it)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.mixed_load", str(plan_path), str(out_path)], cwd=ROOT
    )
    samples = []
    workers: dict[int, float] | None = None
    backends: dict[int, float] = {}
    while proc.poll() is None:
        samples.append(os.getloadavg()[0])
        if workers is None and time.monotonic() - started >= WARMUP_SECONDS:
            workers, backends = _cpu(_children(server_pid)), _cpu(_backends(db))
        time.sleep(0.5)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.mixed_load exited with {proc.returncode}")
    cpu: dict[str, float | None] = {"gunicorn_s": None, "database_s": None}
    if workers is not None:
        # Counted from zero: a worker or connection that appeared after the warm-up.
        now = _cpu(_children(server_pid))
        cpu["gunicorn_s"] = round(sum(now[p] - workers.get(p, 0.0) for p in now), 2)
        if db == "pg":
            now = _cpu(_backends(db))
            if now:
                cpu["database_s"] = round(sum(now[p] - backends.get(p, 0.0) for p in now), 2)
    result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    return result, samples, cpu


def cpu_per_request(cpu: dict[str, float | None], requests: int) -> float | None:
    """Server CPU (gunicorn workers + database) per measured request, in ms."""
    if cpu.get("gunicorn_s") is None or not requests:
        return None
    return round(((cpu["gunicorn_s"] or 0.0) + (cpu.get("database_s") or 0.0)) * 1000 / requests, 1)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def render_mixed_table() -> str:
    """One block per result file: the whole run first, then each operation."""
    lines = [
        "| date | database | server | clients | seconds | operation | requests | req/s "
        "| p50 ms | p99 ms | conflicts | errors | server CPU ms/req | load avg | database check |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for data, name in common.recorded_runs(RESULTS, "*-mixed-*.json"):
        load = data["load_average"]
        run_cells = (
            f"| {data['date']} | {name} {data['version']} | {data['server']} "
            f"| {data['clients']} | {data['seconds']:.1f} "
        )
        tail_cells = (
            f"| {_fmt(data.get('server_cpu', {}).get('ms_per_request'))} "
            f"| {load['during_min']:.1f} to {load['during_max']:.1f} "
            f"| {'ok' if not data['check']['problems'] else 'FAILED'} |"
        )
        rows = [("**all**", data["overall"]), *data["operations"].items()]
        for n, (op, fig) in enumerate(rows):
            lines.append(
                (run_cells if n == 0 else "| | | | | ")
                + f"| {op} | {_fmt(fig['requests'])} | {_fmt(fig['requests_per_s'])} "
                f"| {_fmt(fig['p50_ms'])} | {_fmt(fig['p99_ms'])} | {_fmt(fig['conflicts'])} "
                f"| {_fmt(fig['errors'])} " + (tail_cells if n == 0 else "| | | |")
            )
    return "\n".join(lines)


def rewrite_readme_mixed(readme: Path = README) -> None:
    common.put_section(
        readme, start=MIXED_MARKER, end=MIXED_END, title="Mixed load", table=render_mixed_table()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="pg")
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=2, help="per worker, for gthread")
    parser.add_argument("--clients", type=int, default=6, help="load threads")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL)
    args = parser.parse_args(argv)

    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        print("Mixed bench SKIPPED: gunicorn is not installed (pip install -e '.[dev]').")
        return
    if args.db == "pg":
        reason = postgres_reachable(args.pg_url)
        if reason is not None:
            print(f"Mixed bench on PostgreSQL SKIPPED: cannot connect to {args.pg_url} ({reason}).")
            return

    folder, _meta = dataset(args.deals)
    tmp = Path(tempfile.mkdtemp(prefix="conveyor-bench-mixed-"))
    env = environment(args.db, args.pg_url, tmp)
    common.fresh_database(args.db, args.pg_url, name=BENCH_DB, sqlite_path=SQLITE_PATH)
    intake.setup_django(env)
    from django.db import connection

    run = secrets.token_hex(4)
    print(f"[{args.db}] preparing: migrate, static files, {args.deals:,} deals ...", flush=True)
    version = prepare(folder)
    plan = make_plan(args.clients, run)
    deal_ids = [d["id"] for c in plan["clients"] for d in c["deals"]]
    port = intake.free_port()
    plan.update(
        base_url=f"http://127.0.0.1:{port}", warmup_seconds=WARMUP_SECONDS, seconds=args.seconds
    )
    plan_path, out_path = tmp / "plan.json", tmp / "load.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")

    server_cmd, server = intake.gunicorn_command(
        str(gunicorn), port, args.workers, args.worker_class, args.threads
    )
    print(
        f"[{args.db}] {server} at {plan['base_url']}; {args.clients} clients, "
        f"{len(deal_ids):,} deals, {WARMUP_SECONDS} s warm-up + {args.seconds} s ...",
        flush=True,
    )
    before = snapshot(run, deal_ids)
    connection.close()  # nothing held open while the server runs
    load_before = os.getloadavg()
    proc = subprocess.Popen(server_cmd, cwd=ROOT, env=env)
    try:
        intake.wait_until_up(f"{plan['base_url']}/login/", proc)
        load, during, cpu = run_load(plan_path, out_path, server_pid=proc.pid, db=args.db)
    finally:
        intake.stop(proc)
    load_after = os.getloadavg()
    after = snapshot(run, deal_ids)
    verdict = check(before, after, load, deals_disagreeing(load["deals"]))

    today = datetime.now(UTC).date()
    result = {
        "date": today.isoformat(),
        "database": args.db,
        "version": version,
        "server": server,
        "clients": args.clients,
        "load": "bench.mixed_load: http.client, one thread per client, back to back",
        "weights": WEIGHTS,
        "deals": args.deals,
        "deals_in_play": len(deal_ids),
        "warmup_seconds": WARMUP_SECONDS,
        "seconds": load["seconds"],
        "machine": machine(),
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "during_min": round(min(during, default=load_before[0]), 2),
            "during_max": round(max(during, default=load_before[0]), 2),
            "after": [round(x, 2) for x in load_after],
        },
        "operations": load["operations"],
        "overall": load["overall"],
        "whole_run": load["whole_run"],
        "client_cpu_seconds": load.get("client_cpu_seconds"),
        "server_cpu": {**cpu, "ms_per_request": cpu_per_request(cpu, load["overall"]["requests"])},
        "error_examples": load["error_examples"],
        "check": verdict,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{today.isoformat()}-mixed-{args.db}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rewrite_readme_mixed()
    shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\n{'operation':<10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'conflicts':>9} {'errors':>7}"
    )
    for op, fig in [*load["operations"].items(), ("all", load["overall"])]:
        print(
            f"{op:<10} {fig['requests']:>9,} {fig['requests_per_s']:>8,.1f} "
            f"{_fmt(fig['p50_ms']):>8} {_fmt(fig['p99_ms']):>8} {fig['conflicts']:>9,} "
            f"{fig['errors']:>7,}"
        )
    print(
        f"load average {result['load_average']['during_min']} to "
        f"{result['load_average']['during_max']} during the run ({os.cpu_count()} cores); "
        f"the load process used {load.get('client_cpu_seconds')} s of CPU"
    )
    server_cpu = result["server_cpu"]
    print(
        f"server CPU after the warm-up: gunicorn {server_cpu['gunicorn_s']} s, database "
        f"{server_cpu['database_s']} s, {server_cpu['ms_per_request']} ms per request"
    )
    for text in load["error_examples"]:
        print(f"  error: {text}")
    for text in verdict["problems"]:
        print(f"  database check: {text}")
    print(f"Wrote {out.relative_to(ROOT)} and the mixed load table in {README.relative_to(ROOT)}.")
    if load["whole_run"]["errors"] or verdict["problems"]:
        print("ERROR: some requests failed or the database does not match the answers.")
        sys.exit(1)


if __name__ == "__main__":
    main()
