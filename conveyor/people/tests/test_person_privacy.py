from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import Cast
from conveyor.analytics.queries import funnel
from conveyor.core.errors import PermissionDenied
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import lead_receive
from conveyor.people.models import Company, Person, Suppression
from conveyor.people.privacy import export_csv, person_export, suppression_digest
from conveyor.people.services import person_erase
from conveyor.pipelines.models import Deal, Pipeline, StageChange
from conveyor.pipelines.services import deal_move, deal_open, deal_win
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Task, Touch
from conveyor.touches.services import task_schedule, touch_log

pytestmark = pytest.mark.django_db


def _anna(cast: Cast, pipeline: Pipeline, *, deals: int = 1) -> Person:
    """Anna with a company, a referrer, a referral, deals with history, touches, tasks, leads."""
    referrer = PersonFactory(name="Rita Referrer", owner=cast.manager)
    anna = PersonFactory(
        name="Anna Keller",
        email="anna@acme.example",
        phone="+359888123456",
        owner=cast.manager,
        company=Company.objects.create(name="Acme"),
        referred_by=referrer,
        utm_source="google",
        consent_email=True,
    )
    PersonFactory(name="Bob Brought", owner=cast.manager, referred_by=anna)
    stages = list(pipeline.stages.order_by("position"))
    for n in range(deals):
        deal = deal_open(
            person=anna,
            pipeline=pipeline,
            owner=cast.manager,
            by=None,
            title=f"Anna Keller order {n}",
            amount=Decimal("100.00"),
        )
        deal = deal_move(deal_id=deal.pk, stage=stages[1], version=deal.version, by=None)
        touch_log(by=cast.manager, kind="warming", deal=deal, note="Anna says her budget is 5k")
        task_schedule(
            by=None,
            assignee=cast.manager,
            title="Call Anna Keller back",
            due_at=timezone.now() + dt.timedelta(days=1),
            deal=deal,
        )
    lead_receive(
        channel=LeadChannel.MANUAL,
        name="Anna K.",
        email="anna@acme.example",
        note="please call me",
        utm={"utm_source": "google"},
    )
    Lead.objects.update(person=anna)
    return anna


def test_export_holds_every_linked_record_and_nothing_of_another_person(
    cast: Cast, pipeline: Pipeline
) -> None:
    anna = _anna(cast, pipeline, deals=2)
    other = PersonFactory(name="Other One", owner=cast.manager)
    deal_open(person=other, pipeline=pipeline, owner=cast.manager, by=None, title="Other deal")

    document = person_export(person_id=anna.pk, user=cast.manager)

    assert document["person"]["name"] == "Anna Keller"
    assert document["person"]["company"]["name"] == "Acme"
    assert document["referred_by"]["name"] == "Rita Referrer"
    assert [row["name"] for row in document["referrals"]] == ["Bob Brought"]
    assert {row["id"] for row in document["deals"]} == set(
        Deal.objects.filter(person=anna).values_list("pk", flat=True)
    )
    changes = [change for deal in document["deals"] for change in deal["stage_changes"]]
    assert len(changes) == StageChange.objects.filter(deal__person=anna).count() == 4
    assert len(document["touches"]) == 2 and len(document["tasks"]) == 2
    assert document["leads"][0]["payload"] == {"note": "please call me"}
    # Every relation pointing at a person has its section, so nothing linked is left out.
    accessors = {rel.get_accessor_name() for rel in Person._meta.related_objects}
    assert accessors <= set(document)
    assert "Other" not in json.dumps(document)


def test_export_query_count_does_not_grow_with_the_history(cast: Cast, pipeline: Pipeline) -> None:
    small = _anna(cast, pipeline, deals=1)
    with CaptureQueriesContext(connection) as few:
        person_export(person_id=small.pk, user=cast.manager)
    Lead.objects.all().delete()
    big = _anna(cast, pipeline, deals=5)
    with CaptureQueriesContext(connection) as many:
        person_export(person_id=big.pk, user=cast.manager)
    assert len(many) == len(few)


def test_export_is_refused_to_a_manager_of_another_team(cast: Cast, pipeline: Pipeline) -> None:
    anna = _anna(cast, pipeline)
    with pytest.raises(Person.DoesNotExist):
        person_export(person_id=anna.pk, user=cast.outsider)


def test_csv_export_is_a_zip_of_formula_safe_tables(cast: Cast, pipeline: Pipeline) -> None:
    anna = _anna(cast, pipeline)
    Touch.objects.update(note="=HYPERLINK(1)")
    archive = zipfile.ZipFile(io.BytesIO(export_csv(person_export(person_id=anna.pk, user=None))))
    names = set(archive.namelist())
    assert {"person.csv", "deals.csv", "stage_changes.csv", "touches.csv", "leads.csv"} <= names
    touches = archive.read("touches.csv").decode()
    assert "'=HYPERLINK(1)" in touches
    assert "stage_changes" not in archive.read("deals.csv").decode().splitlines()[0]


def test_erase_anonymises_the_person_and_their_history(cast: Cast, pipeline: Pipeline) -> None:
    anna = _anna(cast, pipeline)
    person_erase(person_id=anna.pk, by=cast.head, reason="GDPR request")

    anna.refresh_from_db()
    assert anna.name == f"Erased person #{anna.pk}"
    assert (anna.email, anna.phone, anna.utm_source, anna.source) == ("", "", "", "")
    assert anna.company is None and not anna.consent_email
    assert Deal.objects.get(person=anna).title == ""
    assert Touch.objects.get(person=anna).note == ""
    assert "Anna" not in Task.objects.get(deal__person=anna).title
    lead = Lead.objects.get(person=anna)
    assert (lead.name, lead.email, lead.phone, lead.payload, lead.utm) == ("", "", "", {}, {})
    digests = set(Suppression.objects.values_list("kind", "digest"))
    assert digests == {
        ("email", suppression_digest("anna@acme.example")),
        ("phone", suppression_digest("+359888123456")),
    }
    assert "anna" not in json.dumps(person_export(person_id=anna.pk, user=None)).lower()


def test_erase_keeps_the_numbers_the_reports_count(cast: Cast, pipeline: Pipeline) -> None:
    anna = _anna(cast, pipeline, deals=2)
    deal = Deal.objects.filter(person=anna).first()
    assert deal is not None
    deal_win(deal_id=deal.pk, version=deal.version, by=None)
    today = timezone.localdate()
    window = {"date_from": today - dt.timedelta(days=1), "date_to": today + dt.timedelta(days=1)}
    before = funnel(pipeline=pipeline, **window)
    counts = (Deal.objects.count(), Touch.objects.count(), StageChange.objects.count())

    person_erase(person_id=anna.pk, by=cast.owner)

    assert funnel(pipeline=pipeline, **window) == before
    assert (Deal.objects.count(), Touch.objects.count(), StageChange.objects.count()) == counts
    assert Deal.objects.filter(person=anna, amount=Decimal("100.00")).count() == 2


@pytest.mark.parametrize("who", ["manager", "other_head"])
def test_a_refused_erase_changes_nothing(cast: Cast, pipeline: Pipeline, who: str) -> None:
    anna = _anna(cast, pipeline)
    with pytest.raises(PermissionDenied):
        person_erase(person_id=anna.pk, by=getattr(cast, who))
    anna.refresh_from_db()
    assert anna.name == "Anna Keller" and anna.email == "anna@acme.example"
    assert Touch.objects.get().note and Lead.objects.get().name == "Anna K."
    assert not Suppression.objects.exists()


def test_export_command_writes_json_and_csv(cast: Cast, pipeline: Pipeline, tmp_path: Path) -> None:
    anna = _anna(cast, pipeline)
    out = io.StringIO()
    call_command("person", "export", str(anna.pk), "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["person"]["id"] == anna.pk
    target = tmp_path / "anna.zip"
    call_command(
        "person",
        "export",
        str(anna.pk),
        "--format",
        "csv",
        "--output",
        str(target),
        stderr=io.StringIO(),
    )
    assert "person.csv" in zipfile.ZipFile(target).namelist()


def test_erase_command_needs_yes_and_then_erases(cast: Cast, pipeline: Pipeline) -> None:
    anna = _anna(cast, pipeline)
    with pytest.raises(CommandError, match="--yes"):
        call_command("person", "erase", str(anna.pk))
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"
    out = io.StringIO()
    call_command("person", "erase", str(anna.pk), "--yes", "--reason", "asked", stdout=out)
    assert "Erased person" in out.getvalue()
    assert Person.objects.get(pk=anna.pk).email == ""
    assert set(Suppression.objects.values_list("reason", flat=True)) == {"asked"}


def test_erase_command_refuses_a_manager(cast: Cast, pipeline: Pipeline) -> None:
    anna = _anna(cast, pipeline)
    with pytest.raises(CommandError, match="Not erased"):
        call_command("person", "erase", str(anna.pk), "--yes", "--by", cast.manager.email)
    assert Person.objects.get(pk=anna.pk).name == "Anna Keller"
