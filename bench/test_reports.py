"""The reports bench: DuckDB, computing from the exported rows, gets our funnel and touches
numbers on a small generated dataset; and the README tables sit between their markers."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bench import common, reports, run


@pytest.mark.django_db
def test_duckdb_gets_the_same_funnel_and_touches(tmp_path: Path) -> None:
    from conveyor.analytics.filters import ReportFilter
    from conveyor.analytics.reports import REPORTS
    from conveyor.dataset.generate import generate_dataset
    from conveyor.dataset.importer import import_dataset

    generate_dataset(tmp_path / "ds", deals=400, seed=5, start=date(2024, 1, 1), months=6)
    import_dataset(tmp_path / "ds")
    counts = reports.export_parquet(tmp_path / "parquet")
    assert counts["deals"] == 400 and counts["stage_changes"] > 400 and counts["touches"] > 400

    whole = ReportFilter(
        date_from=date(2024, 1, 1),
        date_to=date(2024, 7, 1),
        pipeline=common.biggest_conversion_pipeline(),
    )
    ours = {
        "funnel": (0.1, REPORTS["funnel"].execute(whole)),
        "touches": (0.1, REPORTS["touches"].execute(replace(whole, pipeline=None))),
    }
    assert ours["funnel"][1]["cohort"] and ours["touches"][1]["touches_to_first_sale"]["deals"]
    compared = reports.compare_with_duckdb(tmp_path / "parquet", whole, ours, runs=1)
    assert [(row["report"], row["differences"]) for row in compared] == [
        ("funnel", []),
        ("touches", []),
    ]

    # A wrong number on our side is caught.
    wrong = copy.deepcopy(ours["funnel"][1])
    wrong["stages"][1]["reached"] += 1
    wrong["stages"][2]["hours_in_stage_median"] += 0.01
    duck = reports.duck_funnel(reports.duck_connection(tmp_path / "parquet"), whole)
    assert len(reports.funnel_differences(wrong, duck)) == 2


def test_readme_tables_sit_between_their_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nIntro.\n\n{run.MARKER}\n\ndataset table\n")
    monkeypatch.setattr(reports, "RESULTS", results)
    payload = {
        "date": "2026-01-02",
        "database": "pg",
        "version": "15.2",
        "deals": 1000,
        "reports": [
            {
                "report": "funnel",
                "whole_period": {"seconds": 0.5},
                "last_quarter": {"seconds": 0.125},
                "aim_met": True,
            },
            {
                "report": "conveyor",
                "whole_period": {"error": "stopped after 60 s", "stopped_after": 60.0},
                "last_quarter": {"error": "ValueError: x"},
                "aim_met": False,
            },
        ],
        "duckdb": {
            "reports": [
                {
                    "report": "funnel",
                    "ours_seconds": 0.5,
                    "duckdb_seconds": 0.05,
                    "ratio": 10.0,
                    "agrees": True,
                }
            ]
        },
    }
    (results / "2026-01-02-reports-1000-pg.json").write_text(json.dumps(payload))

    reports.rewrite_readme(readme)
    reports.rewrite_readme(readme)  # idempotent

    text = readme.read_text()
    assert text.count(reports.MARKER) == 1 and text.count(reports.DUCK_MARKER) == 1
    assert text.index(reports.END) < text.index(reports.DUCK_MARKER)
    assert text.index(reports.DUCK_END) < text.index(run.MARKER)
    assert "| 2026-01-02 | 1,000 | PostgreSQL 15.2 | funnel | 0.500 | 0.125 | yes |" in text
    assert "| conveyor | > 60 | error | no |" in text
    assert "| funnel | 0.500 | 0.050 | 10.0x | yes |" in text
    assert text.endswith("dataset table\n")
