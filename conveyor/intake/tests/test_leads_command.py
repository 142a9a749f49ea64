from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from conftest import Cast
from conveyor.intake.models import LeadChannel
from conveyor.intake.services import lead_accept, lead_receive, lead_reject_spam
from conveyor.pipelines.models import Pipeline

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("leads", "list", *args, stdout=out)
    return out.getvalue()


def test_leads_list_json_and_csv(cast: Cast, pipeline: Pipeline) -> None:
    accepted = lead_receive(
        channel=LeadChannel.WEB_FORM, name="A", phone="+359888000001", segment=pipeline.segment
    )
    deal = lead_accept(lead_id=accepted.pk, by=cast.head)
    spam = lead_receive(channel=LeadChannel.API, name="B", email="b@x.org")
    lead_reject_spam(lead_id=spam.pk, by=None)
    waiting = lead_receive(channel=LeadChannel.MANUAL, name="C", email="c@x.org")

    rows = json.loads(_run("--format", "json"))
    assert [r["id"] for r in rows] == [accepted.pk, spam.pk, waiting.pk]
    first = rows[0]
    assert set(first) == {"id", "status", "channel", "received_at", "person_id", "deal_id"}
    assert (first["status"], first["channel"], first["deal_id"]) == (
        "accepted",
        "web_form",
        deal.pk,
    )
    assert first["person_id"] == deal.person_id

    only_inbox = json.loads(_run("--status", "inbox"))
    assert [r["id"] for r in only_inbox] == [waiting.pk]

    table = list(csv.reader(io.StringIO(_run("--status", "rejected_spam", "--format", "csv"))))
    assert table[0] == ["id", "status", "channel", "received_at", "person_id", "deal_id"]
    assert table[1][:3] == [str(spam.pk), "rejected_spam", "api"]
    assert table[1][4:] == ["", ""]
