"""An upload larger than the app takes is never stored, whoever sends it (core/uploads.py).

`Recording` is a real upload handler put in front of Django's own: it notes every file the
multipart parser hands to the handlers, so a test sees whether an upload was taken in at all."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.test import Client
from django.test.client import encode_multipart
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import TokenScope
from conveyor.accounts.services import token_create
from conveyor.api.models import IdempotencyRecord
from conveyor.core.uploads import UPLOAD_OVERHEAD

pytestmark = pytest.mark.django_db

BOUNDARY = "upload-boundary"
LIMIT = 1000
CRM_IMPORT = "/api/v1/crm-imports/preview"
FILES_SEEN: list[str] = []


class Recording(FileUploadHandler):
    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        FILES_SEEN.append(field_name)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@pytest.fixture(autouse=True)
def _recording(settings: Settings) -> None:
    FILES_SEEN.clear()
    settings.CONVEYOR_IMPORT_MAX_BYTES = LIMIT
    settings.FILE_UPLOAD_HANDLERS = [
        f"{__name__}.Recording",
        *settings.FILE_UPLOAD_HANDLERS,
    ]


def _body(file_size: int, **fields: str) -> bytes:
    """A multipart body with one CSV file of `file_size` bytes and the given fields."""
    content = b"a,b\n" + b"x" * (file_size - 4)
    return encode_multipart(
        BOUNDARY,
        {"source": "pipedrive", **fields, "file": SimpleUploadedFile("d.csv", content)},
    )


def _post(client: Client, url: str, body: bytes, **headers: str) -> Any:
    return client.post(
        url, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}", headers=headers
    )


def test_an_oversize_api_upload_is_refused_before_the_token_is_checked() -> None:
    body = _body(LIMIT + UPLOAD_OVERHEAD + 1)
    answer = _post(
        Client(), CRM_IMPORT, body, Authorization="Bearer not-a-token", **{"Idempotency-Key": "k"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    assert "CONVEYOR_IMPORT_MAX_BYTES" in answer.json()["error"]["message"]
    assert FILES_SEEN == []
    assert not IdempotencyRecord.objects.exists()


def test_an_api_upload_within_the_limit_is_taken_in_and_then_judged_by_its_token() -> None:
    # The same request, small enough: the idempotency hash reads the file before the token is
    # checked, which is why the limit has to stand in front of it.
    answer = _post(
        Client(),
        CRM_IMPORT,
        _body(LIMIT),
        Authorization="Bearer not-a-token",
        **{"Idempotency-Key": "k"},
    )
    assert answer.status_code == 401
    assert FILES_SEEN == ["file"]


def test_the_limit_is_the_file_limit_plus_the_envelope(cast: Cast) -> None:
    token = token_create(user=cast.owner, name="t", scopes=(TokenScope.READ, TokenScope.WRITE))
    bearer = f"Bearer {token.raw}"
    padding = LIMIT + UPLOAD_OVERHEAD - len(_body(100, note=""))
    at_limit = _body(100, note="y" * padding)
    assert len(at_limit) == LIMIT + UPLOAD_OVERHEAD
    assert _post(Client(), CRM_IMPORT, at_limit, Authorization=bearer).status_code != 413
    assert FILES_SEEN == ["file"]
    over = at_limit.replace(b"note", b"notes", 1)
    assert _post(Client(), CRM_IMPORT, over, Authorization=bearer).status_code == 413


def test_an_oversize_upload_to_a_page_is_read_and_dropped_never_stored() -> None:
    # A stranger with a CSRF cookie and token of their own making: the CSRF check reads the
    # form (and passes), the login page answers the form again.
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32
    body = _body(LIMIT + UPLOAD_OVERHEAD + 1, csrfmiddlewaretoken="a" * 32)
    answer = _post(client, reverse("web:login"), body)
    assert answer.status_code == 200
    assert FILES_SEEN == []


def test_an_oversize_import_page_upload_still_says_the_limit(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.owner)
    answer = _post(client, reverse("web:crm-import"), _body(LIMIT + UPLOAD_OVERHEAD + 1))
    assert answer.status_code == 400
    assert "imports are limited to 1.0 KB" in answer.content.decode()
    assert FILES_SEEN == []
