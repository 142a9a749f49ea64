"""The CRM import bench's own bookkeeping: the generated export and the README table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench import crm_import, run


def test_generated_export_holds_what_it_says(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    contents = crm_import.generate(path, 500)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == contents["rows"] == 500
    assert contents["open"] + contents["won"] + contents["lost"] == 500
    assert len({row["Person - ID"] for row in rows}) == contents["people"] < 500
    assert len({row["Person - Phone"] for row in rows}) == contents["people"]
    lost = [row for row in rows if row["Deal - Status"] == "Lost"]
    assert len(lost) == contents["lost"] and all(row["Deal - Lost reason"] for row in lost)
    # Seeded: the same file every time.
    again = tmp_path / "again.csv"
    crm_import.generate(again, 500)
    assert again.read_bytes() == path.read_bytes()


def test_readme_table_sits_between_its_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nIntro.\n\n{run.MARKER}\n\ndataset table\n")
    monkeypatch.setattr(crm_import, "RESULTS", results)
    payload = {
        "date": "2026-01-02",
        "database": "sqlite",
        "version": "3.40",
        "rows": 1000,
        "dry_run_seconds": 0.1,
        "import_seconds": 0.2,
        "import_rows_per_s": 5000,
        "replay_seconds": 0.05,
        "aim_met": False,
        "check": "ok",
    }
    (results / "2026-01-02-crm-import-sqlite.json").write_text(json.dumps(payload))

    crm_import.rewrite_readme(readme)
    crm_import.rewrite_readme(readme)  # idempotent

    text = readme.read_text()
    assert text.count(crm_import.MARKER) == 1
    assert text.index(crm_import.END) < text.index(run.MARKER)
    assert "| 2026-01-02 | 1,000 | SQLite 3.40 | 0.10 | 0.20 | 5,000 | 0.05 | no | ok |" in text
    assert text.endswith("dataset table\n")
