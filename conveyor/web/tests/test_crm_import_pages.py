"""Settings → Import: upload, preview with the column mapping, import, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
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


@pytest.fixture(autouse=True)
def _data_dir(settings: Settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    return settings.DATA_DIR


def _client(user: object, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _upload(client: Client, path: Path, source: str) -> Any:
    with path.open("rb") as handle:
        return client.post(reverse("web:crm-import"), {"file": handle, "source": source})


def _options(response: Any, **changes: Any) -> dict[str, Any]:
    """The preview form's current values, changed."""
    form = response.context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v not in (None, False)}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_manager_cannot_import(cast: Cast) -> None:
    client = _client(cast.manager)
    assert client.get(reverse("web:crm-import")).status_code == 403
    with (SAMPLES / "pipedrive-deals.csv").open("rb") as handle:
        response = client.post(reverse("web:crm-import"), {"file": handle, "source": "pipedrive"})
    assert response.status_code == 403
    token = "x" * 24
    assert client.get(reverse("web:crm-import-preview", args=[token])).status_code == 403


def test_import_needs_login(client: Client) -> None:
    assert client.get(reverse("web:crm-import")).status_code == 302


def test_preview_then_confirm_imports_the_file(cast: Cast, _data_dir: Path) -> None:
    sample_users()
    client = _client(cast.owner)
    assert client.get(reverse("web:crm-import")).status_code == 200
    response = _upload(client, SAMPLES / "amocrm-deals.csv", "amocrm")
    assert response.status_code == 302
    preview_url = response.headers["Location"]

    page = client.get(preview_url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Windows-1251" in html and "<code>;</code>" in html
    # The mapping is pre-filled from the amoCRM profile.
    assert page.context["form"]["map_title"].value() == "Название сделки"
    assert page.context["plan"].counts.refuse == 10
    assert "Rows that use these are refused unless you tick" in html
    assert not Deal.objects.exists()

    # Tick "create the missing ones" and look again.
    response = client.post(preview_url, _options(page, create_missing="on", action="preview"))
    assert response.status_code == 302
    page = client.get(preview_url)
    assert page.context["plan"].counts.create == 10
    assert "These will be created by the import:" in page.content.decode()
    assert not Deal.objects.exists()

    response = client.post(preview_url, _options(page, action="import"))
    assert response.status_code == 302
    done = client.get(response.headers["Location"])
    assert done.status_code == 200
    assert done.context["entry"]["result"]["deals"] == 10
    assert Deal.objects.count() == 10 and Lead.objects.count() == 10
    assert Person.objects.count() == 8
    assert Pipeline.objects.filter(name="Продажи").exists()
    # The upload is gone once imported; the preview now leads to the result.
    assert not list((_data_dir / "imports").glob("*.csv"))
    assert client.get(preview_url).status_code == 302


def test_generic_csv_is_mapped_in_the_preview(cast: Cast) -> None:
    sample_users()
    small_business()
    client = _client(cast.owner)
    preview_url = _upload(client, SAMPLES / "generic.csv", "csv").headers["Location"]
    page = client.get(preview_url)
    assert "No column holds the person&#x27;s name" in page.content.decode()
    mapping = json.loads((SAMPLES / "generic-mapping.json").read_text())
    choices = {f"map_{key}": column for key, column in mapping.items()}
    response = client.post(preview_url, {**choices, "action": "preview"})
    assert response.status_code == 302
    page = client.get(preview_url)
    plan = page.context["plan"]
    assert (plan.counts.create, plan.counts.people_duplicate) == (10, 2)
    assert page.context["first_rows"][0][0] == "Website for the bakery"
    assert "Duplicates linked, not created again" in page.content.decode()


def test_refused_import_shows_the_reasons_and_writes_nothing(cast: Cast, tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2", "Deal - Value": "?"})],
    )
    client = _client(cast.owner)
    preview_url = _upload(client, path, "pipedrive").headers["Location"]
    page = client.get(preview_url)
    response = client.post(preview_url, _options(page, action="import"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "1 row of 2 cannot be imported" in html
    assert "&#x27;?&#x27; is not an amount" in html
    assert not Deal.objects.exists()


def test_skip_bad_rows_gives_a_report_to_download(cast: Cast, tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2", "Deal - Value": "?"})],
    )
    client = _client(cast.owner)
    preview_url = _upload(client, path, "pipedrive").headers["Location"]
    page = client.get(preview_url)
    response = client.post(preview_url, _options(page, skip_bad_rows="on", action="import"))
    done = client.get(response.headers["Location"])
    assert done.context["entry"]["result"]["refused"] == 1
    token = done.context["token"]
    report = client.get(reverse("web:crm-import-report", args=[token]))
    assert report.status_code == 200
    body = b"".join(report.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    assert "'?' is not an amount" in body
    assert Deal.objects.count() == 1
    # Another user's session cannot fetch it.
    assert _client(cast.head).get(reverse("web:crm-import-report", args=[token])).status_code == 404


def test_upload_of_another_user_is_not_found(cast: Cast) -> None:
    preview_url = _upload(_client(cast.head), SAMPLES / "pipedrive-deals.csv", "pipedrive")
    assert _client(cast.owner).get(preview_url.headers["Location"]).status_code == 404


def test_upload_needs_the_csrf_token(cast: Cast) -> None:
    client = _client(cast.owner, enforce_csrf_checks=True)
    with (SAMPLES / "pipedrive-deals.csv").open("rb") as handle:
        response = client.post(reverse("web:crm-import"), {"file": handle, "source": "pipedrive"})
    assert response.status_code == 403


def test_oversize_upload_refused(cast: Cast, settings: Settings, _data_dir: Path) -> None:
    settings.CONVEYOR_IMPORT_MAX_BYTES = 1000
    response = _upload(_client(cast.owner), SAMPLES / "pipedrive-deals.csv", "pipedrive")
    assert response.status_code == 400
    assert "imports are limited to 1.0 KB" in response.content.decode()
    assert not list(_data_dir.glob("imports/*"))


def test_broken_encoding_upload_refused(cast: Cast, tmp_path: Path, _data_dir: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Deal - Title,Person - Name\nCafé,Zoë\n".encode("latin-1"))
    response = _upload(_client(cast.owner), path, "pipedrive")
    assert response.status_code == 400
    assert "Cannot read this file&#x27;s encoding: on line 2" in response.content.decode()
    assert not list(_data_dir.glob("imports/*.csv"))


def test_preview_query_count_does_not_grow_with_rows(cast: Cast, tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    client = _client(cast.owner)
    few = pipedrive_file(tmp_path, [deal_row()], name="few.csv")
    many = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": str(i), "Person - Email": f"p{i}@x.example"})
            for i in range(150)
        ],
        name="many.csv",
    )
    counts = []
    for path in (few, many):
        preview_url = _upload(client, path, "pipedrive").headers["Location"]
        with CaptureQueriesContext(connection) as queries:
            assert client.get(preview_url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_oversize_upload_refused_before_it_is_read(
    cast: Cast, settings: Settings, tmp_path: Path, _data_dir: Path
) -> None:
    settings.CONVEYOR_IMPORT_MAX_BYTES = 100 * 1024
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 60_000)  # 240 KB: over the limit with room to spare
    response = _upload(_client(cast.owner), path, "pipedrive")
    assert response.status_code == 400
    assert "imports are limited to 100.0 KB" in response.content.decode()
    assert not list(_data_dir.glob("imports/*"))


def test_an_excel_workbook_is_refused_with_what_to_do(cast: Cast, tmp_path: Path) -> None:
    path = tmp_path / "deals.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    response = _upload(_client(cast.owner), path, "pipedrive")
    assert response.status_code == 400
    assert "This is an Excel workbook or another archive, not CSV" in response.content.decode()
