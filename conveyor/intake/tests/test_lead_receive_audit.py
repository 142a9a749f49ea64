"""Receiving a lead is audited: one creation entry per lead, whatever the channel, naming who
sent it in (the API token's user, the user typing it in) or nobody (a public web form, a
mailbox), with the channel among its values and the personal ones not kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.models import TokenScope
from conveyor.accounts.services import token_create
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.intake.mail import lead_from_message
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import form_create, form_submit, form_token, lead_receive
from conveyor.intake.tests.mailutil import build_message
from conveyor.pipelines.models import Pipeline
from conveyor.testing.audit import log_of

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _database_counters(settings: Settings) -> None:
    """Count in the test database (rolled back after each test), even if Redis is set."""
    settings.REDIS_URL = ""


def test_a_web_form_lead_is_recorded_as_made_by_the_system_on_its_channel(
    cast: Cast, pipeline: Pipeline
) -> None:
    form = form_create(name="Contact", by=cast.head, pipeline=pipeline)
    result = form_submit(
        key=form.key,
        data={
            "name": "Ivan Petrov",
            "phone": "+359 888 123 456",
            "message": "Call me",
            "_ts": form_token(form, now=NOW - dt.timedelta(seconds=30)),
        },
        ip="203.0.113.7",
        referrer="https://site.example/",
        user_agent="pytest",
        idempotency_key="",
        now=NOW,
    )
    assert result.ok and result.lead is not None
    [entry] = log_of(result.lead)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, None)
    assert entry.changes["channel"] == [None, LeadChannel.WEB_FORM]
    assert entry.changes["form"] == [None, form.pk]
    # Personal data: the entry says it was given, never what it was.
    assert entry.changes["name"] is None
    assert entry.changes["phone"] is None
    assert entry.changes["payload"] is None
    assert "Ivan" not in json.dumps(entry.changes) and "888" not in json.dumps(entry.changes)


def test_an_api_lead_is_recorded_as_made_by_the_tokens_user(cast: Cast) -> None:
    token = token_create(user=cast.manager, name="Website", scopes=(TokenScope.INTAKE,))
    response = Client().post(
        "/api/v1/leads",
        data=json.dumps({"name": "Ana", "email": "ana@example.org"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token.raw}"},
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    [entry] = log_of(lead)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.manager.pk)
    assert entry.changes["channel"] == [None, LeadChannel.API]
    assert token.token.prefix in entry.note and "Website" in entry.note


def test_an_api_lead_sent_again_with_the_same_key_is_recorded_once(cast: Cast) -> None:
    token = token_create(user=cast.manager, name="Website", scopes=(TokenScope.INTAKE,))
    client = Client()
    for _attempt in range(2):
        response = client.post(
            "/api/v1/leads",
            data=json.dumps({"name": "Ana", "email": "ana@example.org"}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token.raw}", "Idempotency-Key": "once"},
        )
        assert response.status_code in (200, 201)
    assert AuditEntry.objects.filter(record_type="intake.lead").count() == 1


def test_a_mailed_lead_is_recorded_as_made_by_the_system(
    settings: Settings, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    lead = lead_from_message(
        build_message(), max_attachment_bytes=1_000_000, max_total_bytes=5_000_000
    )
    [entry] = log_of(lead)
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, None)
    assert entry.changes["channel"] == [None, LeadChannel.EMAIL]
    assert entry.changes["email"] is None
    assert "ana@example.org" not in json.dumps(entry.changes)


def test_a_lead_typed_in_is_recorded_as_made_by_the_user(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.manager)
    response = client.post(
        reverse("web:lead-new"), {"name": "Call Carl", "phone": "+359888555666", "channel": "call"}
    )
    assert response.status_code == 302
    [entry] = log_of(Lead.objects.get())
    assert (entry.action, entry.actor_id) == (AuditAction.CREATE, cast.manager.pk)
    assert entry.changes["channel"] == [None, LeadChannel.CALL]


def test_receiving_a_lead_costs_one_insert_into_the_log() -> None:
    with CaptureQueriesContext(connection) as queries:
        lead_receive(channel=LeadChannel.MANUAL, name="Ivan", phone="+359888123456")
    table = AuditEntry._meta.db_table
    audit_queries = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert len(audit_queries) == 1 and audit_queries[0].lstrip().upper().startswith("INSERT")
