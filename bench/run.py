"""Run the benchmark: `python -m bench.run --deals N [--pg-url URL] [--skip-sqlite] [--skip-pg]`.

Generates the dataset once into bench/data/ds-<N>/ (kept and reused while its parameters match),
runs `bench.run_one` in a fresh process per database (Django settings are read once per process),
writes bench/results/<date>-<N>-deals.json and rebuilds the table in bench/README.md from every
result file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from conveyor.core.timewindow import add_months
from conveyor.dataset.generate import HEADERS, generate_dataset

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data"
RESULTS = BENCH / "results"
README = BENCH / "README.md"
MARKER = "<!-- Everything below this line is rewritten by bench/run.py. -->"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"

# A fixed period keeps datasets (and so results) comparable from one run to the next.
START = date(2024, 1, 1)
MONTHS = 24
SEED = 1


def dataset(deals: int) -> tuple[Path, dict[str, Any]]:
    """The dataset folder for `deals`, generated unless one with the same parameters exists."""
    folder = DATA / f"ds-{deals}"
    params_file = DATA / f"ds-{deals}.json"
    params = {"deals": deals, "seed": SEED, "start": START.isoformat(), "months": MONTHS}
    if params_file.exists() and all((folder / name).exists() for name in HEADERS):
        saved = json.loads(params_file.read_text(encoding="utf-8"))
        if saved.get("params") == params:
            print(f"Reusing {folder} ({saved['rows']:,} rows).")
            return folder, saved
    print(f"Generating {deals:,} deals into {folder} ...", flush=True)
    result = generate_dataset(folder, deals=deals, seed=SEED, start=START, months=MONTHS)
    saved = {
        "params": params,
        "counts": result.counts,
        "rows": result.total_rows,
        "generate_seconds": round(result.seconds, 2),
        "generate_rows_per_s": round(result.total_rows / result.seconds),
        "end": add_months(START, MONTHS).isoformat(),
    }
    params_file.write_text(json.dumps(saved, indent=2), encoding="utf-8")
    print(
        f"Generated {result.total_rows:,} rows in {result.seconds:.1f} s "
        f"({saved['generate_rows_per_s']:,} rows/s)."
    )
    return folder, saved


def postgres_reachable(url: str) -> str | None:
    """None when we can connect, else the reason (printed as the skip line)."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def run_database(db: str, folder: Path, meta: dict[str, Any], pg_url: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    cmd = [
        sys.executable,
        "-m",
        "bench.run_one",
        "--db",
        db,
        "--data",
        str(folder),
        "--start",
        meta["params"]["start"],
        "--end",
        meta["end"],
        "--out",
        str(out),
    ]
    if db == "pg":
        cmd += ["--pg-url", pg_url]
    began = time.perf_counter()
    completed = subprocess.run(cmd, cwd=ROOT, check=False)
    if completed.returncode != 0:
        out.unlink(missing_ok=True)
        return {"database": db, "error": f"bench.run_one exited with {completed.returncode}"}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    out.unlink(missing_ok=True)
    result["wall_seconds"] = round(time.perf_counter() - began, 1)
    return result


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_table() -> str:
    lines = [
        "| date | deals | rows | database | import s | import rows/s | bare insert rows/s "
        "| share of bare | funnel whole period s | funnel last quarter s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for path in sorted(RESULTS.glob("*-deals.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for db in data.get("databases", []):
            if "error" in db:
                continue
            name = "SQLite" if db["database"] == "sqlite" else "PostgreSQL"
            lines.append(
                f"| {data['date']} | {_fmt(data['deals'])} | {_fmt(db['rows'])} "
                f"| {name} {db['version']} | {_fmt(db['import_seconds'], 1)} "
                f"| {_fmt(db['import_rows_per_s'])} | {_fmt(db['bare_insert_rows_per_s'])} "
                f"| {db['share_of_bare_insert']:.0%} "
                f"| {_fmt(db['funnel_whole_period']['seconds'], 3)} "
                f"| {_fmt(db['funnel_last_quarter']['seconds'], 3)} |"
            )
    return "\n".join(lines)


def rewrite_readme() -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmark\n"
    intro = text.split(MARKER, 1)[0].rstrip()
    README.write_text(f"{intro}\n\n{MARKER}\n\n{render_table()}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL") or DEFAULT_PG_URL)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args(argv)

    folder, meta = dataset(args.deals)
    databases: list[dict[str, Any]] = []
    if not args.skip_sqlite:
        databases.append(run_database("sqlite", folder, meta, ""))
    if not args.skip_pg:
        reason = postgres_reachable(args.pg_url)
        if reason is None:
            databases.append(run_database("pg", folder, meta, args.pg_url))
        else:
            print(f"PostgreSQL SKIPPED: cannot connect to {args.pg_url} ({reason}).")
    if not databases:
        print("Nothing was measured.")
        return
    today = datetime.now(UTC).date()
    # The same data must give the same funnel on every database; say so if it does not.
    measured = [db for db in databases if "error" not in db]
    for key in ("funnel_whole_period", "funnel_last_quarter"):
        seen = {(db[key]["cohort"], db[key]["won"]) for db in measured}
        if len(seen) > 1:
            print(f"WARNING: {key} differs between databases: {sorted(seen)}")
    result = {
        "date": today.isoformat(),
        "deals": args.deals,
        "machine": machine(),
        "dataset": meta,
        "databases": databases,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{today.isoformat()}-{args.deals}-deals.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rewrite_readme()
    print(f"Wrote {out.relative_to(ROOT)} and the table in {README.relative_to(ROOT)}.")
    if any("error" in db for db in databases):
        sys.exit(1)


if __name__ == "__main__":
    main()
