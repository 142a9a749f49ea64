"""A settings form saved over someone's later change is shown again instead of putting back
the values it was opened with (web/views/settings form_page, `seen`)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.pipelines.models import Segment
from conveyor.pipelines.services import segment_save
from conveyor.testing.factories import SegmentFactory

pytestmark = pytest.mark.django_db

CONFLICT = "Someone saved this record after you opened it"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _seen(page: str) -> str:
    match = re.search(r'name="seen" value="(\d+)"', page)
    assert match is not None, "the form carries no stamp"
    return match.group(1)


def test_a_save_over_a_later_change_is_refused_then_taken_when_confirmed(cast: Cast) -> None:
    segment = SegmentFactory(name="Retail", description="Shops")
    url = reverse("web:settings-segment", kwargs={"pk": segment.pk})
    mine = _client(cast.owner)
    opened = _seen(mine.get(url).content.decode())
    # Meanwhile the head changes the description.
    segment_save(by=cast.head, segment_id=segment.pk, name="Retail", description="Shops, kiosks")

    answer = mine.post(url, {"name": "Retail chains", "description": "Shops", "seen": opened})

    assert answer.status_code == 400
    page = answer.content.decode()
    assert CONFLICT in page
    segment.refresh_from_db()
    assert (segment.name, segment.description) == ("Retail", "Shops, kiosks")
    # The page shows what was posted, with the new stamp: saving again is a choice made knowing.
    assert 'value="Retail chains"' in page
    again = mine.post(url, {"name": "Retail chains", "description": "Shops", "seen": _seen(page)})
    assert again.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.description) == ("Retail chains", "Shops")


def test_a_save_with_nothing_saved_in_between_goes_through(cast: Cast) -> None:
    segment = SegmentFactory(name="Retail")
    segment_save(by=cast.head, segment_id=segment.pk, name="Retail", description="Shops")
    url = reverse("web:settings-segment", kwargs={"pk": segment.pk})
    client = _client(cast.owner)
    opened = _seen(client.get(url).content.decode())
    answer = client.post(url, {"name": "Retail", "description": "Kiosks", "seen": opened})
    assert answer.status_code == 302
    assert Segment.objects.get(pk=segment.pk).description == "Kiosks"


def test_a_new_record_form_carries_no_stamp_and_saves(cast: Cast) -> None:
    client = _client(cast.owner)
    url = reverse("web:settings-segment-new")
    assert 'name="seen"' not in client.get(url).content.decode()
    assert client.post(url, {"name": "Wholesale", "description": ""}).status_code == 302
    assert Segment.objects.filter(name="Wholesale").exists()
