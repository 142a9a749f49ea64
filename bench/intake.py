"""Web-form intake benchmark: `python -m bench.intake [--seconds N] [--workers N] [--db sqlite|pg]`.

Prepares a fresh database (SQLite file bench/data/bench-intake.sqlite3, or the PostgreSQL
database `conveyor_bench_intake` via --pg-url / BENCH_PG_URL), migrates it and creates a web form,
then serves `conveyor.wsgi` with gunicorn (CONVEYOR_ENV=production, a generated SECRET_KEY, rate
limits raised out of the way: this measures throughput, not the limiter) on a free loopback port
and loads `POST /f/<key>` from a second process, `wrk`, for --seconds with a few connections. Each
request is an urlencoded submission with its own name, phone and Idempotency-Key.

Writes bench/results/<date>-intake-<db>.json and rebuilds the "Intake (web forms)" table in
bench/README.md. Without `wrk` on PATH (Debian: `apt-get install wrk`) it prints a SKIPPED line
and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import common
from bench.run import DEFAULT_PG_URL, README, RESULTS, ROOT, machine, postgres_reachable
from bench.run_one import DATA, with_database

BENCH_DB = "conveyor_bench_intake"
SQLITE_PATH = DATA / "bench-intake.sqlite3"
INTAKE_MARKER = "<!-- Intake table: rewritten by bench/intake.py. -->"
INTAKE_END = "<!-- End of intake table. -->"
AIM_RPS = 400
AIM_P99_MS = 150.0

# wrk calls request() for every request; response() counts the answers by status so that the
# bench can compare them with the leads in the database. done() prints one JSON line.
LUA = r"""
-- Globals, not locals: done() reads them from each thread with thread:get().
counter = 0
created = 0
other = 0
sent = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Accept"] = "application/json"
end

function request()
  counter = counter + 1
  sent = sent + 1
  local n = math.random(1000000, 9999999)
  local body = "name=Bench+Visitor+" .. tid .. "-" .. counter
    .. "&phone=%2B1415" .. n
    .. "&email=v" .. tid .. "-" .. counter .. "%40bench.example.com"
    .. "&message=Please+call+me+back&utm_source=bench&utm_medium=wrk"
  wrk.headers["Idempotency-Key"] = "bench-" .. RUN .. "-" .. tid .. "-" .. counter
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, o, s = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
    s = s + t:get("sent")
  end
  io.write(string.format('WRKCOUNTS {"created": %d, "other": %d, "sent": %d}\n', c, o, s))
end
"""

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), counts and errors from `wrk --latency` output."""
    result: dict[str, Any] = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise ValueError("no Requests/sec line in the wrk output")
    result["requests_per_s"] = float(match.group(1))
    match = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    if match:
        result["requests"] = int(match.group(1))
        result["duration_s"] = round(_ms(match.group(2)) / 1000, 2)
    match = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", output, re.MULTILINE)
    if match:
        result["latency_avg_ms"] = round(_ms(match.group(1)), 2)
        result["latency_max_ms"] = round(_ms(match.group(3)), 2)
    percentiles = {}
    for pct, value in re.findall(r"^\s*(\d+)%\s+(\S+)\s*$", output, re.MULTILINE):
        percentiles[f"p{pct}_ms"] = round(_ms(value), 2)
    result["latency"] = percentiles
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
        if match
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx_3xx"] = int(match.group(1)) if match else 0
    match = re.search(r"^WRKCOUNTS (\{.*\})$", output, re.MULTILINE)
    if match:
        result["counts"] = json.loads(match.group(1))
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(db: str, pg_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CONVEYOR_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "CONVEYOR_DATA_DIR": str(data_dir),
            # Measure throughput, not the limiter: no submission is marked as over the limit.
            "CONVEYOR_FORM_RATE_PER_IP": str(10**9),
            "CONVEYOR_FORM_RATE_PER_FORM": str(10**9),
            "LOG_LEVEL": "ERROR",
        }
    )
    env.pop("REDIS_URL", None)
    if db == "pg":
        env["DATABASE_URL"] = with_database(pg_url, BENCH_DB)
        env.pop("CONVEYOR_SQLITE_PATH", None)
    else:
        env.pop("DATABASE_URL", None)
        env["CONVEYOR_SQLITE_PATH"] = str(SQLITE_PATH)
    return env


def fresh_database(db: str, pg_url: str) -> None:
    common.fresh_database(db, pg_url, name=BENCH_DB, sqlite_path=SQLITE_PATH)


def setup_django(env: dict[str, str]) -> None:
    """Django in this process, on the bench database (one database per process, like run_one)."""
    os.environ.update(env)
    for name in ("DATABASE_URL", "CONVEYOR_SQLITE_PATH", "REDIS_URL"):
        if name not in env:
            os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conveyor.settings")
    import django

    django.setup()


def prepare(key_name: str) -> tuple[str, str]:
    """Migrate, create the form; its key and the database version."""
    from django.core.management import call_command
    from django.db import connection

    from conveyor.intake.services import form_create

    call_command("migrate", verbosity=0, interactive=False)
    form = form_create(name=key_name, by=None, min_fill_seconds=0)
    version = common.database_version()
    connection.close()
    return form.key, version


def web_form_leads(key: str, run: str) -> int:
    """Leads recorded by this run's requests (found by their Idempotency-Key)."""
    from django.db import connection

    from conveyor.intake.models import Lead, LeadChannel

    count = Lead.objects.filter(
        channel=LeadChannel.WEB_FORM, idempotency_key__startswith=f"form:{key}:bench-{run}-"
    ).count()
    connection.close()
    return count


def gunicorn_command(
    gunicorn: str, port: int, workers: int, worker_class: str, threads: int
) -> tuple[list[str], str]:
    """The command serving conveyor.wsgi on a loopback port, and how to name it in the output."""
    command = [
        gunicorn,
        "conveyor.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
        "--backlog",
        "256",
    ]
    label = f"gunicorn {worker_class} x{workers}"
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
        label += f"x{threads} threads"
    return command, label


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; the status does not matter here
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout:.0f} s")


def run_wrk(wrk: str, url: str, script: Path, seconds: int, connections: int, threads: int) -> str:
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # graceful: workers finish the request in hand
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fmt_ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render_intake_table() -> str:
    lines = [
        "| date | database | server | wrk | seconds | form posts/s | p50 ms | p99 ms "
        "| max ms | leads | errors | aim met |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for data, name in common.recorded_runs(RESULTS, "*-intake-*.json"):
        lat = data["wrk"]["latency"]
        errors = data["wrk"]["non_2xx_3xx"] + sum(data["wrk"]["socket_errors"].values())
        lines.append(
            f"| {data['date']} | {name} {data['version']} | {data['server']} "
            f"| {data['load']} | {data['wrk'].get('duration_s', data['seconds'])} "
            f"| {data['wrk']['requests_per_s']:,.0f} | {_fmt_ms(lat.get('p50_ms'))} "
            f"| {_fmt_ms(lat.get('p99_ms'))} | {_fmt_ms(data['wrk'].get('latency_max_ms'))} "
            f"| {data['leads']:,} | {errors:,} | {'yes' if data['aim_met'] else 'no'} |"
        )
    return "\n".join(lines)


def rewrite_readme_intake(readme: Path = README) -> None:
    """Put the intake table between its own markers, above the dataset table's marker."""
    common.put_section(
        readme,
        start=INTAKE_MARKER,
        end=INTAKE_END,
        title="Intake (web forms)",
        table=render_intake_table(),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=2, help="per worker, for gthread")
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL)
    args = parser.parse_args(argv)

    wrk = shutil.which("wrk")
    if wrk is None:
        print("Intake bench SKIPPED: `wrk` is not installed (Debian: apt-get install wrk).")
        return
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        print("Intake bench SKIPPED: gunicorn is not installed (pip install -e '.[dev]').")
        return
    if args.db == "pg":
        reason = postgres_reachable(args.pg_url)
        if reason is not None:
            print(
                f"Intake bench on PostgreSQL SKIPPED: cannot connect to {args.pg_url} ({reason})."
            )
            return

    tmp = Path(tempfile.mkdtemp(prefix="conveyor-bench-intake-"))
    (tmp / "static").mkdir()
    env = environment(args.db, args.pg_url, tmp)
    fresh_database(args.db, args.pg_url)
    setup_django(env)
    key, version = prepare("Bench intake")
    port = free_port()
    url = f"http://127.0.0.1:{port}/f/{key}"
    script = tmp / "post.lua"
    run = secrets.token_hex(4)
    script.write_text(f'RUN = "{run}"\n' + LUA, encoding="utf-8")
    warm_script = tmp / "warm.lua"
    warm_script.write_text(f'RUN = "warm{secrets.token_hex(4)}"\n' + LUA, encoding="utf-8")

    server_cmd, server = gunicorn_command(
        str(gunicorn), port, args.workers, args.worker_class, args.threads
    )
    print(f"Intake bench on {args.db}: {server} at {url}", flush=True)
    proc = subprocess.Popen(server_cmd, cwd=ROOT, env=env)
    try:
        wait_until_up(url, proc)
        run_wrk(wrk, url, warm_script, 3, args.connections, 1)  # warm-up: imports, connections
        output = run_wrk(wrk, url, script, args.seconds, args.connections, 1)
    finally:
        stop(proc)
    leads = web_form_leads(key, run)
    print(output)
    figures = parse_wrk(output)
    counts = figures.get("counts", {})
    # wrk stops with up to `connections` requests in flight: the server still records them,
    # wrk does not count them. So every 201 must be a lead and no lead may lack a request.
    lost = counts.get("created", 0) > leads or leads > counts.get("sent", 0)
    p99 = figures["latency"].get("p99_ms")
    aim_met = figures["requests_per_s"] >= AIM_RPS and p99 is not None and p99 <= AIM_P99_MS
    today = datetime.now(UTC).date()
    result = {
        "date": today.isoformat(),
        "database": args.db,
        "version": version,
        "server": server,
        "load": f"wrk 1 thread, {args.connections} connections",
        "seconds": args.seconds,
        "machine": machine(),
        "wrk": figures,
        "leads": leads,
        "leads_check": "lost or extra leads" if lost else "ok",
        "aim": {"requests_per_s": AIM_RPS, "p99_ms": AIM_P99_MS},
        "aim_met": aim_met,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{today.isoformat()}-intake-{args.db}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rewrite_readme_intake()
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{args.db}: {figures['requests_per_s']:,.0f} form posts/s, "
        f"p50 {figures['latency'].get('p50_ms')} ms, p99 {p99} ms; "
        f"{leads:,} leads for {counts.get('created', 0):,} answers 201 "
        f"({counts.get('sent', 0):,} sent); aim (≥ {AIM_RPS}/s, p99 ≤ {AIM_P99_MS:.0f} ms) "
        f"{'met' if aim_met else 'NOT met'}."
    )
    print(f"Wrote {out.relative_to(ROOT)} and the intake table in {README.relative_to(ROOT)}.")
    if lost or counts.get("other", 0):
        print("ERROR: some requests failed or leads do not match the answers.")
        sys.exit(1)


if __name__ == "__main__":
    main()
