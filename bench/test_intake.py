"""The intake bench's parser of `wrk --latency` output, and its README section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import intake, run

WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:57653/f/lW4YLuLbGcfSLC0sUb5K4w
  1 threads and 6 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    51.83ms   54.68ms   1.20s    92.36%
    Req/Sec   136.26     18.04   171.00     78.00%
  Latency Distribution
     50%   33.50ms
     75%  845.00us
     90%   89.13ms
     99%    1.03s
  682 requests in 5.02s, 254.50KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    135.83
Transfer/sec:     50.69KB
WRKCOUNTS {"created": 678, "other": 4, "sent": 688}
"""


def test_parse_wrk_reads_rate_percentiles_and_errors() -> None:
    figures = intake.parse_wrk(WRK_OUTPUT)
    assert figures["requests_per_s"] == 135.83
    assert figures["requests"] == 682
    assert figures["duration_s"] == 5.02
    assert figures["latency_avg_ms"] == 51.83
    assert figures["latency_max_ms"] == 1200.0
    assert figures["latency"] == {
        "p50_ms": 33.5,
        "p75_ms": 0.84,  # 845us, rounded to 2 digits
        "p90_ms": 89.13,
        "p99_ms": 1030.0,
    }
    assert figures["socket_errors"] == {"connect": 0, "read": 2, "write": 0, "timeout": 1}
    assert figures["non_2xx_3xx"] == 4
    assert figures["counts"] == {"created": 678, "other": 4, "sent": 688}


def test_parse_wrk_without_errors_and_garbage() -> None:
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    figures = intake.parse_wrk(clean)
    assert figures["non_2xx_3xx"] == 0
    assert sum(figures["socket_errors"].values()) == 0
    with pytest.raises(ValueError):
        intake.parse_wrk("wrk: command failed")


def test_intake_section_leaves_the_dataset_table_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nHand-written.\n\n{run.MARKER}\n\n| dataset table |\n")
    monkeypatch.setattr(intake, "RESULTS", results)
    monkeypatch.setattr(run, "RESULTS", results)
    monkeypatch.setattr(run, "README", readme)
    figures = intake.parse_wrk(WRK_OUTPUT)
    data = {
        "date": "2026-01-02",
        "database": "sqlite",
        "version": "3.40.1",
        "server": "gunicorn sync x3",
        "load": "wrk 1 thread, 6 connections",
        "seconds": 5,
        "wrk": figures,
        "leads": 680,
        "aim_met": False,
    }
    (results / "2026-01-02-intake-sqlite.json").write_text(json.dumps(data))
    intake.rewrite_readme_intake(readme)
    intake.rewrite_readme_intake(readme)  # idempotent
    text = readme.read_text()
    assert text.count(intake.INTAKE_MARKER) == 1
    assert "| 2026-01-02 | SQLite 3.40.1 | gunicorn sync x3 |" in text
    assert "| 136 | 33.5 | 1,030.0 |" in text
    # bench/run.py keeps everything above its marker, the intake section included.
    assert text.index(intake.INTAKE_MARKER) < text.index(run.MARKER)
    run.rewrite_readme()
    assert intake.INTAKE_MARKER in readme.read_text()
