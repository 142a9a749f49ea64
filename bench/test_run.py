"""The runner's bookkeeping: the README keeps its intro and gets one table row per database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run


def _db(name: str) -> dict[str, object]:
    return {
        "database": name,
        "version": "1.0",
        "rows": 1000,
        "import_seconds": 2.0,
        "import_rows_per_s": 500,
        "bare_insert_rows_per_s": 5000,
        "share_of_bare_insert": 0.1,
        "funnel_whole_period": {"seconds": 0.5, "cohort": 10, "won": 1},
        "funnel_last_quarter": {"seconds": 0.1, "cohort": 3, "won": 0},
    }


def test_readme_keeps_the_intro_and_lists_every_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nHand-written.\n\n{run.MARKER}\n\nold table\n")
    monkeypatch.setattr(run, "RESULTS", results)
    monkeypatch.setattr(run, "README", readme)
    payload = {"date": "2026-01-02", "deals": 100, "databases": [_db("sqlite"), _db("pg")]}
    (results / "2026-01-02-100-deals.json").write_text(json.dumps(payload))

    run.rewrite_readme()
    run.rewrite_readme()  # idempotent

    text = readme.read_text()
    assert text.startswith("# Bench\n\nHand-written.\n")
    assert text.count(run.MARKER) == 1
    assert "old table" not in text
    assert "| 2026-01-02 | 100 | 1,000 | SQLite 1.0 |" in text
    assert "| PostgreSQL 1.0 |" in text and "| 10% |" in text


def test_unreachable_postgres_gives_a_reason() -> None:
    reason = run.postgres_reachable("postgres://nobody@127.0.0.1:1/none")
    assert reason
