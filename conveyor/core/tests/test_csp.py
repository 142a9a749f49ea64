from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from conftest import Cast
from conveyor.intake.services import form_create
from conveyor.pipelines.models import Pipeline

pytestmark = pytest.mark.django_db


def test_pages_forbid_inline_scripts_and_framing(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.owner)
    policy = client.get("/board/")["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy


def test_public_form_may_be_framed_by_any_site(cast: Cast, pipeline: Pipeline) -> None:
    form = form_create(name="Contact", by=cast.owner, pipeline=pipeline)
    policy = Client().get(f"/f/{form.key}")["Content-Security-Policy"]
    assert "frame-ancestors *" in policy
    assert "script-src 'self'" in policy


def test_api_answers_carry_the_policy_too(cast: Cast) -> None:
    assert "Content-Security-Policy" in Client().get("/api/v1/openapi.json")


def test_no_template_has_an_inline_script() -> None:
    """The policy would block one; keep behaviour in static files."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
    handlers = re.compile(r"\son[a-z]+\s*=", re.I)
    offenders = []
    for template in Path(settings.BASE_DIR, "conveyor").rglob("templates/**/*.html"):
        text = template.read_text()
        if inline.search(text) or handlers.search(text):
            offenders.append(str(template))
    assert offenders == []
