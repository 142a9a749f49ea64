"""The dashboard page: this month by default, a manager's own for a manager, a fixed number of
queries, and its exports — CSV, XLSX, and the page itself printed to PDF and PNG by Chromium."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from openpyxl import load_workbook
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.analytics.selectors import month_window
from conveyor.core import snapshot
from conveyor.pipelines.models import Pipeline
from conveyor.pipelines.services import deal_open, deal_win
from conveyor.testing.browser import NEEDS_CHROMIUM
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _win(owner: User, pipeline: Pipeline, amount: int, title: str) -> None:
    at = timezone.now() - dt.timedelta(minutes=5)
    deal = deal_open(
        person=PersonFactory(owner=owner, name=title),
        pipeline=pipeline,
        owner=owner,
        by=None,
        amount=Decimal(amount),
        at=at,
    )
    deal_win(deal_id=deal.pk, version=deal.version, by=None, at=at)


@pytest.fixture
def sales(cast: Cast, pipeline: Pipeline) -> None:
    _win(cast.manager, pipeline, 700, "Mila")
    _win(cast.outsider, pipeline, 9000, "Otto")


def test_month_window_is_this_month_half_open() -> None:
    assert month_window(dt.date(2026, 12, 31)) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))


def test_head_sees_this_months_numbers_of_their_teams(cast: Cast, sales: None) -> None:
    response = _client(cast.head).get(reverse("web:dashboard"))
    assert response.status_code == 200
    data = response.context["data"]
    first, to = month_window(timezone.localdate())
    assert (data["filter"]["from"], data["filter"]["to"]) == (first.isoformat(), to.isoformat())
    assert data["key_counts"]["deals_won"] == 1  # team A's; the outsider's win is team B's
    assert data["key_counts"]["revenue"] == 700.0
    html = response.content.decode()
    assert "<h1>Dashboard</h1>" in html
    assert "Download PDF" in html


def test_a_manager_gets_their_own_dashboard(cast: Cast, sales: None) -> None:
    response = _client(cast.outsider).get(reverse("web:dashboard"))
    assert response.status_code == 200
    assert "<h1>My dashboard</h1>" in response.content.decode()
    assert response.context["data"]["key_counts"]["revenue"] == 9000.0


def test_an_anonymous_visitor_is_sent_to_log_in() -> None:
    response = Client().get(reverse("web:dashboard"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_bad_window_is_shown_on_the_form(cast: Cast) -> None:
    response = _client(cast.head).get(
        reverse("web:dashboard"), {"date_from": "2026-03-01", "date_to": "2026-02-01"}
    )
    assert response.status_code == 200
    assert response.context["data"] is None
    assert "before its end" in response.content.decode()


def test_page_queries_do_not_grow_with_the_deals(
    cast: Cast, pipeline: Pipeline, settings: Settings
) -> None:
    client = _client(cast.head)
    _win(cast.manager, pipeline, 100, "First")
    client.get(reverse("web:dashboard"))  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("web:dashboard"))
    for n in range(15):
        _win(cast.manager, pipeline, 100, f"More {n}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("web:dashboard"))
    assert len(many) == len(few)


def test_csv_and_xlsx_exports(cast: Cast, sales: None) -> None:
    client = _client(cast.head)
    csv = client.get(reverse("web:dashboard"), {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines()[0].startswith("leads,requests,key_meetings")
    xlsx = client.get(reverse("web:dashboard"), {"format": "xlsx"})
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames[:2] == ["Key counts", "Plan vs fact"]


@NEEDS_CHROMIUM
def test_pdf_export_is_a_printed_pdf_of_the_page(cast: Cast, sales: None) -> None:
    response = _client(cast.head).get(reverse("web:dashboard"), {"format": "pdf"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="dashboard.pdf"'
    assert response.content.startswith(b"%PDF-")
    assert len(response.content) > 5_000


@NEEDS_CHROMIUM
def test_png_export_is_a_picture_of_the_page_in_the_readers_language(
    cast: Cast, sales: None
) -> None:
    client = _client(cast.head)
    client.cookies["django_language"] = "bg"
    response = client.get(reverse("web:dashboard"), {"format": "png"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(response.content[16:20], "big")
    assert width == snapshot.PNG_WIDTH


def test_printed_document_has_no_scripts_and_no_outside_requests(
    cast: Cast, pipeline: Pipeline, sales: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = '<img src=x onerror="alert(1)">'
    deal_open(
        person=PersonFactory(owner=cast.manager, name=payload),
        pipeline=pipeline,
        owner=cast.manager,
        by=None,
    )  # no task: it is listed as stalled
    captured: dict[str, str] = {}

    def keep(html: str, format: str, *, height: int = 0) -> bytes:
        captured["html"] = html
        return b"%PDF-"

    monkeypatch.setattr(snapshot, "render", keep)
    _client(cast.head).get(reverse("web:dashboard"), {"format": "pdf"})
    html = captured["html"]
    assert "<script" not in html
    assert f'content="{escape(snapshot.DOCUMENT_CSP)}"' in html
    assert payload not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert ".tiles {" in html  # the stylesheet is inline: nothing is fetched


def test_without_chromium_the_page_says_so_and_keeps_the_other_exports(
    cast: Cast, sales: None, settings: Settings
) -> None:
    settings.CONVEYOR_CHROMIUM = "/nonexistent/chromium"
    client = _client(cast.head)
    response = client.get(reverse("web:dashboard"), {"format": "png"}, follow=True)
    assert response.status_code == 200
    assert "not available on this server" in response.content.decode()
    assert client.get(reverse("web:dashboard"), {"format": "csv"}).status_code == 200
