from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.people.models import Person, Suppression
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _anna(cast: Cast) -> Person:
    return PersonFactory(owner=cast.manager, name="Anna Keller", phone="+359888123456")


def test_export_links_download_json_and_a_csv_zip(cast: Cast) -> None:
    anna = _anna(cast)
    client = _client(cast.manager)
    body = client.get(f"/people/{anna.pk}/export.json")
    assert body.status_code == 200
    assert json.loads(body.content)["person"]["name"] == "Anna Keller"
    archive = client.get(f"/people/{anna.pk}/export.csv")
    assert archive["Content-Type"] == "application/zip"
    assert "person.csv" in zipfile.ZipFile(io.BytesIO(archive.content)).namelist()


@pytest.mark.parametrize("path", ["export.json", "export.csv", ""])
def test_a_manager_of_another_team_gets_404_and_nothing_leaks(cast: Cast, path: str) -> None:
    anna = _anna(cast)
    response = _client(cast.outsider).get(f"/people/{anna.pk}/{path}")
    assert response.status_code == 404
    assert b"Anna" not in response.content


def test_a_head_erases_after_confirming(cast: Cast) -> None:
    anna = _anna(cast)
    client = _client(cast.head)
    page = client.get(f"/people/{anna.pk}/")
    assert b'name="confirm"' in page.content
    unconfirmed = client.post(f"/people/{anna.pk}/", {"reason": "asked"})
    assert unconfirmed.status_code == 400
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"
    done = client.post(f"/people/{anna.pk}/", {"reason": "asked", "confirm": "yes"})
    assert done.status_code == 302
    assert Person.objects.get(pk=anna.pk).name == f"Erased person #{anna.pk}"
    assert Suppression.objects.count() == 2  # e-mail and phone


def test_a_manager_sees_no_erase_button_and_a_post_changes_nothing(cast: Cast) -> None:
    anna = _anna(cast)
    client = _client(cast.manager)
    assert b'name="confirm"' not in client.get(f"/people/{anna.pk}/").content
    response = client.post(f"/people/{anna.pk}/", {"confirm": "yes"})
    assert response.status_code == 400
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"
    assert not Suppression.objects.exists()
