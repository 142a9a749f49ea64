from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django import Settings

from conveyor.core.errors import ServiceError
from conveyor.intake.mail import lead_from_message
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.tests.mailutil import build_message

pytestmark = pytest.mark.django_db

LIMITS = {"max_attachment_bytes": 1000, "max_total_bytes": 1500}


@pytest.fixture(autouse=True)
def _media(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_plain_message_becomes_an_email_lead() -> None:
    lead = lead_from_message(build_message(), **LIMITS)
    assert lead.channel == LeadChannel.EMAIL
    assert lead.status == LeadStatus.INBOX
    assert lead.name == "Ana Petrova"
    assert lead.email == "ana@example.org"
    assert lead.payload["subject"] == "Quote for 20 desks"
    assert lead.payload["note"] == "Hello, please send a quote."
    assert lead.payload["to"] == ["leads@example.com"]
    assert lead.idempotency_key == "email:quote-1@example.org"
    assert "attachments" not in lead.payload


def test_sender_without_a_display_name_is_named_by_the_address() -> None:
    lead = lead_from_message(build_message(sender="ivan.k@Example.ORG"), **LIMITS)
    assert lead.name == "ivan.k"
    assert lead.email == "ivan.k@example.org"


def test_plain_text_wins_over_html() -> None:
    raw = build_message(text="Plain words", html="<p>HTML words</p>")
    assert lead_from_message(raw, **LIMITS).payload["note"] == "Plain words"


def test_html_only_message_is_stripped_to_text() -> None:
    raw = build_message(
        text=None, html="<html><body><p>Need <b>50</b> chairs &amp; desks</p></body></html>"
    )
    lead = lead_from_message(raw, **LIMITS)
    assert lead.payload["note"] == "Need 50 chairs & desks"


def test_programs_are_not_stored_whatever_they_are_called(_media: Path) -> None:
    raw = build_message(
        attachments=[
            ("offer.pdf", b"MZ\x90\x00" + b"x" * 100, "application/pdf"),  # a Windows program
            ("invoice.pdf.exe", b"%PDF-1.7 harmless", "application/pdf"),
            ("run.sh", b"#!/bin/sh\nrm -rf ~\n", "text/plain"),
            ("photo.jpg", b"\x7fELF\x02\x01", "image/jpeg"),
            ("readme.txt", "Привет".encode(), "text/plain"),
            ("page.pdf", b"<!DOCTYPE html><script>alert(1)</script>", "application/pdf"),
        ]
    )
    lead = lead_from_message(raw, **LIMITS)
    skipped = lead.payload["attachments_skipped"]
    assert [(s["name"], s["reason"], s["detected_type"]) for s in skipped] == [
        ("offer.pdf", "executable", "application/x-msdownload"),
        ("invoice.pdf.exe", "executable", "application/pdf"),
        ("run.sh", "executable", "text/x-shellscript"),
        ("photo.jpg", "executable", "application/x-executable"),
    ]
    kept = lead.payload["attachments"]
    # Kept, with what they really are: the HTML "pdf" is never served as a PDF.
    assert [(a["name"], a["detected_type"]) for a in kept] == [
        ("readme.txt", "text/plain"),
        ("page.pdf", "text/html"),
    ]
    assert sorted(p.name for p in (_media / "leads" / str(lead.pk)).iterdir()) == [
        "page.pdf",
        "readme.txt",
    ]


def test_attachments_within_limits_are_stored_and_over_limit_ones_listed(
    _media: Path,
) -> None:
    raw = build_message(
        attachments=[
            ("../../etc/passwd", b"a" * 600, "text/plain"),
            ("plan.pdf", b"%PDF" + b"b" * 400, "application/pdf"),
            ("huge.zip", b"z" * 1001, "application/zip"),
            ("third.txt", b"c" * 600, "text/plain"),
        ]
    )
    lead = lead_from_message(raw, **LIMITS)
    kept = lead.payload["attachments"]
    assert [(a["name"], a["size"]) for a in kept] == [("../../etc/passwd", 600), ("plan.pdf", 404)]
    assert kept[0]["path"] == f"leads/{lead.pk}/passwd"
    assert kept[1] == {
        "name": "plan.pdf",
        "size": 404,
        "content_type": "application/pdf",
        "detected_type": "application/pdf",
        "path": f"leads/{lead.pk}/plan.pdf",
    }
    assert (_media / kept[0]["path"]).read_bytes() == b"a" * 600
    assert (_media / kept[1]["path"]).read_bytes().startswith(b"%PDF")
    skipped = lead.payload["attachments_skipped"]
    assert [(s["name"], s["size"], s["reason"]) for s in skipped] == [
        ("huge.zip", 1001, "too_large"),
        ("third.txt", 600, "total_too_large"),
    ]
    # Only the kept ones are on disk, all inside the lead's own folder.
    assert sorted(p.name for p in (_media / "leads" / str(lead.pk)).iterdir()) == [
        "passwd",
        "plan.pdf",
    ]
    assert Lead.objects.get(pk=lead.pk).payload["attachments"] == kept


def test_attachment_names_are_made_unique_and_safe(_media: Path) -> None:
    raw = build_message(
        attachments=[
            ("offer.txt", b"one", "text/plain"),
            ("offer.txt", b"two", "text/plain"),
            ("..", b"dots", "text/plain"),
        ]
    )
    lead = lead_from_message(raw, **LIMITS)
    paths = [a["path"] for a in lead.payload["attachments"]]
    assert len(set(paths)) == 3
    assert all(p.startswith(f"leads/{lead.pk}/") and ".." not in p for p in paths)
    assert (_media / paths[1]).read_bytes() == b"two"


def test_the_same_message_twice_is_one_lead(_media: Path) -> None:
    raw = build_message(attachments=[("a.txt", b"x", "text/plain")])
    first = lead_from_message(raw, **LIMITS)
    second = lead_from_message(raw, **LIMITS)
    assert second.pk == first.pk
    assert Lead.objects.count() == 1
    assert len(list((_media / "leads" / str(first.pk)).iterdir())) == 1


def test_message_without_message_id_is_deduplicated_by_its_bytes() -> None:
    raw = build_message(message_id=None)
    assert lead_from_message(raw, **LIMITS).pk == lead_from_message(raw, **LIMITS).pk
    assert Lead.objects.get().idempotency_key.startswith("email:sha256:")


@pytest.mark.parametrize("sender", ["", "Nobody <not-an-address>", "undisclosed-recipients:;"])
def test_message_without_a_usable_sender_is_refused(sender: str, _media: Path) -> None:
    raw = build_message(sender=sender, attachments=[("a.txt", b"x", "text/plain")])
    with pytest.raises(ServiceError) as error:
        lead_from_message(raw, **LIMITS)
    assert error.value.field == "from"
    assert not Lead.objects.exists()
    assert not _media.exists()
