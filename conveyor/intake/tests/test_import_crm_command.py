"""`conveyor import-crm FILE --from ...`: prints the plan, imports, exits non-zero on refusal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django import Settings

from conveyor.intake.models import Lead
from conveyor.intake.tests.crmfiles import (
    SAMPLES,
    deal_row,
    pipedrive_file,
    sales_pipeline,
    sample_users,
    small_business,
)
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("import-crm", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_dry_run_prints_the_plan_and_writes_nothing() -> None:
    sample_users()
    out = _run(str(SAMPLES / "amocrm-deals.csv"), "--from", "amocrm", "--dry-run")
    assert "amocrm-deals.csv: 10 rows, Windows-1251, delimiter ';', source amocrm" in out
    assert "  title              <- Название сделки" in out
    assert "Would create 0 deals" in out and "10 refused" in out
    assert "Missing pipelines missing (use --create-missing): Продажи" in out
    assert "line 2: column Воронка: there is no pipeline 'Продажи'" in out
    assert not Deal.objects.exists() and not Pipeline.objects.exists()


def test_dry_run_with_create_missing_lists_what_would_be_created() -> None:
    sample_users()
    out = _run(
        str(SAMPLES / "hubspot-deals.csv"), "--from", "hubspot", "--dry-run", "--create-missing"
    )
    assert "Would create 10 deals (people: 8 new, 0 linked to existing people, 2 linked" in out
    assert "Missing stages to create: Sales Pipeline / Appointment Scheduled, " in out
    assert "line 3: person duplicate of the person on line 2" in out
    assert not Deal.objects.exists()


def test_import_prints_what_was_created() -> None:
    sample_users()
    out = _run(str(SAMPLES / "pipedrive-deals.csv"), "--from", "pipedrive", "--create-missing")
    assert "Created 12 deals" in out
    assert "Created pipelines: Sales pipeline, Partners" in out
    assert "Imported 12 deals in" in out
    assert Deal.objects.count() == 12 and Lead.objects.count() == 12
    again = _run(str(SAMPLES / "pipedrive-deals.csv"), "--from", "pipedrive", "--create-missing")
    assert "12 imported before (skipped)" in again and "Imported 0 deals" in again
    assert Deal.objects.count() == 12


def test_refused_import_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2", "Deal - Value": "x"})],
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 row of 2 cannot be imported"):
        call_command("import-crm", str(path), "--from", "pipedrive", stdout=out)
    assert "line 3: column Deal - Value: 'x' is not an amount" in out.getvalue()
    assert not Deal.objects.exists() and not Person.objects.exists()


def test_skip_bad_rows_prints_the_report_path(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2", "Deal - Value": "x"})],
    )
    report = tmp_path / "out" / "bad.csv"
    report.parent.mkdir()
    out = _run(str(path), "--from", "pipedrive", "--skip-bad-rows", "--report", str(report))
    assert f"Rejected rows written to {report}" in out
    assert "'x' is not an amount" in report.read_text(encoding="utf-8-sig")
    assert Deal.objects.count() == 1


def test_generic_csv_with_a_mapping_file_and_map_overrides() -> None:
    sample_users()
    small_business()
    out = _run(
        str(SAMPLES / "generic.csv"),
        "--from",
        "csv",
        "--mapping",
        str(SAMPLES / "generic-mapping.json"),
        "--map",
        "company=",  # leave the companies out
        "--format",
        "json",
    )
    summary = json.loads(out)
    assert summary["counts"]["create"] == 10
    assert "company" not in summary["mapping"]
    assert summary["result"]["deals"] == 10 and summary["result"]["companies"] == 0
    assert summary["file"]["delimiter"] == ";"


def test_default_pipeline_for_rows_without_one(tmp_path: Path) -> None:
    sample_users()
    pipeline = sales_pipeline()
    path = pipedrive_file(tmp_path, [deal_row(**{"Deal - Pipeline": ""})])
    _run(str(path), "--from", "pipedrive", "--pipeline", "sales PIPELINE")
    assert Deal.objects.get().pipeline == pipeline


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "amount"], "is not field=Column"),
        (["--map", "nonsense=Deal - Title"], "'nonsense' is not a field that can be imported"),
        (["--pipeline", "Nope"], "There is no pipeline named 'Nope'"),
    ],
)
def test_bad_options_are_clear_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run(str(SAMPLES / "pipedrive-deals.csv"), "--from", "pipedrive", *args)


def test_oversize_file_refused_with_a_clear_message(settings: Settings) -> None:
    settings.CONVEYOR_IMPORT_MAX_BYTES = 1000
    with pytest.raises(CommandError, match=r"The file is 2\.5 KB; imports are limited to 1\.0 KB"):
        _run(str(SAMPLES / "pipedrive-deals.csv"), "--from", "pipedrive")
    assert not Deal.objects.exists()


def test_broken_encoding_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Deal - Title,Person - Name\nCafé,Zoë\n".encode("latin-1"))
    with pytest.raises(CommandError, match=r"Cannot read this file's encoding: on line 2"):
        _run(str(path), "--from", "pipedrive", "--dry-run")


def test_verbose_dry_run_lists_every_row(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    Deal.objects.create(
        person=Person.objects.create(name="Old", email="old@x.example"),
        pipeline=Pipeline.objects.get(name="Sales pipeline"),
        stage=Pipeline.objects.get(name="Sales pipeline").stages.first(),
        external_id="pipedrive:3",
    )
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1"}),
            deal_row(**{"Deal - ID": "2", "Deal - Title": "Again", "Person - Phone": ""}),
            deal_row(**{"Deal - ID": "3"}),
            deal_row(**{"Deal - ID": "4", "Deal - Owner": "Ghost"}),
        ],
    )
    out = _run(str(path), "--from", "pipedrive", "--dry-run", "-v", "2")
    assert "  line 2: create deal 'Website' (open), new person\n" in out
    assert "  line 3: create deal 'Again' (open), duplicate of the person on line 2\n" in out
    assert "  line 4: imported before (deal #" in out
    assert "  line 5: refused: Deal - Owner: no user 'Ghost'" in out
