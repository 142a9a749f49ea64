"""`/api/v1/crm-imports`: preview an export, then import it, as Settings → Import does."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import encode_multipart
from pytest_django import Settings

from conftest import Cast
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.intake.models import Lead
from conveyor.intake.tests.crmfiles import (
    PIPEDRIVE_HEADER,
    deal_row,
    pipedrive_file,
    sales_pipeline,
    sample_users,
)
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import Deal, Pipeline, Stage, StageChange
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db

PREVIEW = "/api/v1/crm-imports/preview"
IMPORT = "/api/v1/crm-imports"


@pytest.fixture(autouse=True)
def _private_folders(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder and the data folder, each empty and of this test only, so
    a file left behind in either shows."""
    settings.DATA_DIR = tmp_path / "data"
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


def _send(api: Api, url: str, path: Path, source: str = "pipedrive", **options: Any) -> Any:
    data = {
        "file": SimpleUploadedFile(path.name, path.read_bytes(), "text/csv"),
        "source": source,
        **{
            name: str(value).lower() if isinstance(value, bool) else value
            for name, value in options.items()
        },
    }
    return api.post_form(url, data)


def _snapshot() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Deal, Person, Company, Lead, StageChange, Pipeline, Stage)
    }


def _bad_amount_file(tmp_path: Path) -> Path:
    """Two good rows and one (line 3) whose amount cannot be read."""
    return pipedrive_file(
        tmp_path,
        [
            deal_row(),
            deal_row(**{"Deal - ID": "2", "Deal - Value": "a lot"}),
            deal_row(
                **{
                    "Deal - ID": "3",
                    "Person - Name": "Ben Bauer",
                    "Person - Email": "ben@bauer.example",
                    "Person - Phone": "",
                }
            ),
        ],
    )


def test_preview_tells_what_the_import_would_do_and_writes_nothing(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    sales_pipeline()
    sample_users()
    bob = PersonFactory(name="Bob Braun", email="bob@braun.example", phone="")
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(),
            deal_row(**{"Deal - ID": "2", "Deal - Title": "Shop"}),
            deal_row(
                **{
                    "Deal - ID": "3",
                    "Person - Name": "Bob Braun",
                    "Person - Email": "bob@braun.example",
                    "Person - Phone": "",
                }
            ),
            deal_row(**{"Deal - ID": "4", "Deal - Value": "a lot"}),
            deal_row(**{"Deal - ID": "5", "Deal - Stage": "Unheard of"}),
        ],
    )
    before = _snapshot()

    response = _send(api_for(cast.owner), PREVIEW, path)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["file_name"], body["source"], body["encoding"], body["delimiter"]) == (
        "deals.csv",
        "pipedrive",
        "UTF-8",
        ",",
    )
    assert body["header"] == PIPEDRIVE_HEADER
    assert body["mapping"]["amount"] == "Deal - Value"
    assert body["counts"] == {
        "rows": 5,
        "create": 3,
        "exists": 0,
        "refuse": 2,
        "people_new": 1,
        "people_existing": 1,
        "people_duplicate": 1,
        "companies_new": 1,
    }
    assert body["missing"] == {
        "pipelines": [],
        "stages": [{"pipeline": "Sales pipeline", "stage": "Unheard of"}],
        "loss_reasons": [],
    }
    assert [(item["line"], item["column"]) for item in body["refused"]] == [
        (5, "Deal - Value"),
        (6, "Deal - Stage"),
    ]
    assert body["refused_more"] == 0
    assert body["linked"] == [
        {"line": 3, "name": "Anna Keller", "person_id": None, "person_line": 2},
        {"line": 4, "name": "Bob Braun", "person_id": bob.pk, "person_line": None},
    ]
    assert _snapshot() == before


def test_preview_caps_the_refused_list_and_says_how_many_are_left_out(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    sales_pipeline()
    sample_users()
    rows = [deal_row(**{"Deal - ID": str(n), "Deal - Value": "a lot"}) for n in range(1, 503)]

    response = _send(api_for(cast.owner), PREVIEW, pipedrive_file(tmp_path, rows))

    body = response.json()
    assert body["counts"]["refuse"] == 502
    assert len(body["refused"]) == 500
    assert body["refused_more"] == 2


def test_mapping_overrides_the_profile_and_an_empty_column_unmaps_a_field(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    sales_pipeline()
    sample_users()
    path = pipedrive_file(tmp_path, [deal_row(**{"Deal - Value": "", "Budget": "2500"})])
    mapping = json.dumps({"amount": "Budget", "company": ""})

    body = _send(api_for(cast.owner), PREVIEW, path, mapping=mapping).json()

    assert body["mapping"]["amount"] == "Budget"
    assert "company" not in body["mapping"]
    assert body["counts"]["create"] == 1
    assert body["counts"]["companies_new"] == 0


@pytest.mark.parametrize(
    "mapping",
    ["not json", '["amount", "Budget"]', '{"amount": 5}', '{"amount": "No such column"}'],
)
def test_a_mapping_that_does_not_fit_is_refused_on_mapping(
    tmp_path: Path, cast: Cast, api_for: ApiFor, mapping: str
) -> None:
    path = pipedrive_file(tmp_path, [deal_row()])

    response = _send(api_for(cast.owner), PREVIEW, path, mapping=mapping)

    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == ["mapping"]


def test_a_file_that_is_not_csv_is_refused_on_file(cast: Cast, api_for: ApiFor) -> None:
    workbook = SimpleUploadedFile("deals.xlsx", b"PK\x03\x04 a zipped workbook")

    response = api_for(cast.owner).post_form(PREVIEW, {"file": workbook, "source": "pipedrive"})

    assert response.status_code == 422
    assert "not CSV" in response.json()["error"]["fields"]["file"][0]


def test_a_file_over_the_limit_is_refused_on_file(
    tmp_path: Path, cast: Cast, api_for: ApiFor, settings: Settings
) -> None:
    path = pipedrive_file(tmp_path, [deal_row()])
    settings.CONVEYOR_IMPORT_MAX_BYTES = 100

    for url in (PREVIEW, IMPORT):
        response = _send(api_for(cast.owner), url, path)
        assert response.status_code == 422
        assert "CONVEYOR_IMPORT_MAX_BYTES" in response.json()["error"]["fields"]["file"][0]


def test_refused_rows_refuse_the_import_with_their_lines_and_nothing_is_written(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    sales_pipeline()
    sample_users()
    before = _snapshot()

    response = _send(api_for(cast.owner), IMPORT, _bad_amount_file(tmp_path))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("1 row of 3 cannot be imported")
    [line] = error["fields"]["file"]
    assert line.startswith("Line 3, column Deal - Value: ")
    assert _snapshot() == before


def test_skip_bad_rows_imports_the_good_ones_lists_the_rejected_and_leaves_no_file(
    tmp_path: Path, cast: Cast, api_for: ApiFor, _private_folders: Path, settings: Settings
) -> None:
    sales_pipeline()
    sample_users()

    response = _send(api_for(cast.owner), IMPORT, _bad_amount_file(tmp_path), skip_bad_rows=True)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows"], body["deals"], body["people"], body["refused"]) == (3, 2, 2, 1)
    assert [(item["line"], item["column"]) for item in body["rejected"]] == [(3, "Deal - Value")]
    assert body["rejected_more"] == 0
    assert Deal.objects.count() == 2
    # The upload and the report of rejected rows went to a private folder, now removed.
    assert list(_private_folders.iterdir()) == []
    assert not Path(settings.DATA_DIR).exists()


def test_the_same_file_twice_writes_nothing_the_second_time(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    sales_pipeline()
    sample_users()
    path = pipedrive_file(tmp_path, [deal_row(), deal_row(**{"Deal - ID": "2"})])
    api = api_for(cast.owner)

    first = _send(api, IMPORT, path).json()
    after_first = _snapshot()
    second = _send(api, IMPORT, path)

    assert (first["deals"], first["exists"]) == (2, 0)
    assert second.status_code == 201
    assert (second.json()["deals"], second.json()["exists"]) == (0, 2)
    assert _snapshot() == after_first
    assert _send(api, PREVIEW, path).json()["counts"]["exists"] == 2


def test_a_manager_may_not_import(tmp_path: Path, cast: Cast, api_for: ApiFor) -> None:
    sales_pipeline()
    sample_users()
    path = pipedrive_file(tmp_path, [deal_row()])
    before = _snapshot()

    for url in (PREVIEW, IMPORT):
        response = _send(api_for(cast.manager), url, path)
        assert response.status_code == 403
        assert response.json()["error"]["message"] == (
            "Only owners and heads of sales import from other CRMs."
        )
    assert _snapshot() == before


def test_a_head_may_not_import_deals_owned_outside_their_teams(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Owner": cast.manager.email}),
            deal_row(**{"Deal - ID": "2", "Deal - Owner": cast.outsider.email}),
        ],
    )
    before = _snapshot()

    response = _send(api_for(cast.head), IMPORT, path)

    assert response.status_code == 422
    assert response.json()["error"]["fields"]["file"] == [
        "Line 3, column Deal - Owner: you may not assign deals to Oleg Outsider"
    ]
    assert _snapshot() == before
    imported = _send(api_for(cast.head), IMPORT, path, skip_bad_rows=True).json()
    assert imported["deals"] == 1
    assert Deal.objects.get().owner == cast.manager


def test_an_unknown_source_is_refused_on_source(
    tmp_path: Path, cast: Cast, api_for: ApiFor
) -> None:
    response = _send(api_for(cast.owner), PREVIEW, pipedrive_file(tmp_path, [deal_row()]), "x")

    assert response.status_code == 422
    assert list(response.json()["error"]["fields"]) == ["source"]


def test_a_missing_file_is_refused_on_file(cast: Cast, api_for: ApiFor) -> None:
    answer = api_for(cast.owner).post_form(PREVIEW, {"source": "pipedrive"})
    assert answer.status_code == 422
    assert list(answer.json()["error"]["fields"]) == ["file"]


def test_a_retried_import_with_its_key_imports_once_whatever_the_boundary(
    tmp_path: Path, cast: Cast, api_for: ApiFor, settings: Settings
) -> None:
    # Larger than Django reads into memory: the middleware hashes the parsed upload instead.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    sales_pipeline()
    sample_users()
    rows = [deal_row(**{"Deal - ID": str(n), "Deal - Title": f"Deal {n:04}"}) for n in range(40)]
    path = pipedrive_file(tmp_path, rows)
    assert path.stat().st_size > 1000
    api = api_for(cast.owner)

    def send(boundary: str, content: bytes) -> Any:
        body = encode_multipart(
            boundary,
            {"source": "pipedrive", "file": SimpleUploadedFile(path.name, content, "text/csv")},
        )
        return api.client.post(
            IMPORT,
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers=api._headers({"Idempotency-Key": "import-1"}),
        )

    first = send("first-boundary", path.read_bytes())
    assert first.status_code == 201
    assert first.json()["deals"] == 40
    again = send("another-boundary", path.read_bytes())
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Deal.objects.count() == 40
    other = send("first-boundary", path.read_bytes() + b"\n")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
