"""`crm_import_run`: all or nothing (or the good rows and a report), never twice, with the same
history the services would write."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Count
from pytest_django import Settings

from conveyor.core.errors import ServiceError
from conveyor.intake.crm_import.services import ImportRefused, crm_import_run
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.tests.crmfiles import (
    SAMPLES,
    deal_row,
    pipedrive_file,
    sales_pipeline,
    sample_users,
    small_business,
)
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Stage,
    StageChange,
)
from conveyor.pipelines.services import deal_lose, deal_open, deal_win
from conveyor.pipelines.tests.support import assert_history_keys, assert_purchase_facts
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _snapshot() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Deal, Person, Company, Lead, StageChange, Pipeline, Stage, LossReason)
    }


def _check_history(deal: Deal) -> None:
    """The invariants the services keep (pipelines/services.py)."""
    changes = list(deal.stage_changes.order_by("at", "pk"))
    enter = changes[0]
    assert (enter.kind, enter.from_stage_id, enter.to_stage_id) == (
        ChangeKind.ENTER,
        None,
        deal.stage_id,
    )
    assert enter.at == deal.opened_at == deal.stage_entered_at
    assert deal.max_position == deal.stage.position
    if deal.status == DealStatus.OPEN:
        assert len(changes) == 1 and enter.left_at is None
    else:
        outcome = changes[1]
        assert len(changes) == 2
        assert (outcome.kind, outcome.from_stage_id, outcome.to_stage_id) == (
            deal.status,
            deal.stage_id,
            None,
        )
        assert enter.left_at == outcome.at == deal.closed_at
    if deal.status == DealStatus.LOST:
        assert deal.lost_reason_id is not None and deal.lost_stage_id == deal.stage_id


@pytest.mark.parametrize(
    ("sample", "source", "options", "deals", "people", "lost"),
    [
        (
            "pipedrive-deals.csv",
            "pipedrive",
            {"create_missing": True},
            12,
            9,
            ("Blue Lake CRM rollout", "Too expensive"),
        ),
        (
            "hubspot-deals.csv",
            "hubspot",
            {"create_missing": True},
            10,
            8,
            ("Initech rollout", "Chose a competitor"),
        ),
        (
            "amocrm-deals.csv",
            "amocrm",
            {"create_missing": True},
            10,
            8,
            ("Внедрение CRM", "Дорого"),
        ),
        ("generic.csv", "csv", {}, 10, 8, ("Booking system", "No budget")),
    ],
)
def test_each_sample_imports(
    sample: str,
    source: str,
    options: dict[str, object],
    deals: int,
    people: int,
    lost: tuple[str, str],
) -> None:
    sample_users()
    small_business()
    mapping = None
    if source == "csv":
        from conveyor.intake.crm_import.profiles import mapping_from_json

        mapping = mapping_from_json((SAMPLES / "generic-mapping.json").read_text())
    result = crm_import_run(
        path=SAMPLES / sample,
        source=source,
        by=None,
        mapping=mapping,
        **options,  # type: ignore[arg-type]
    )
    assert result.plan.counts.refuse == 0
    assert Deal.objects.count() == result.written.deals == deals
    assert Person.objects.count() == people  # the duplicate people are linked, not repeated
    title, reason = lost
    lost_deal = Deal.objects.get(title=title)
    assert (lost_deal.status, lost_deal.lost_reason.name) == (DealStatus.LOST, reason)  # type: ignore[union-attr]
    for deal in Deal.objects.select_related("stage"):
        _check_history(deal)
    # The Pipedrive sample has one deal without an owner: it is imported unassigned.
    unassigned = Deal.objects.filter(owner__isnull=True).values_list("title", flat=True)
    assert list(unassigned) == (["Litware pilot"] if source == "pipedrive" else [])
    # One intake record per deal, accepted, with the CRM as its source.
    leads = Lead.objects.all()
    assert leads.count() == deals
    assert {(lead.channel, lead.status, lead.source) for lead in leads} == {
        (LeadChannel.IMPORT, LeadStatus.ACCEPTED, source)
    }
    assert {lead.deal_id for lead in leads} == set(Deal.objects.values_list("pk", flat=True))


def test_generic_sample_lands_in_the_right_funnel_with_the_right_owner() -> None:
    ivan, maria = sample_users()
    pipeline = small_business()
    from conveyor.intake.crm_import.profiles import mapping_from_json

    crm_import_run(
        path=SAMPLES / "generic.csv",
        source="csv",
        by=None,
        mapping=mapping_from_json((SAMPLES / "generic-mapping.json").read_text()),
    )
    deal = Deal.objects.get(title="Online shop")
    assert (deal.pipeline, deal.stage.name, deal.owner) == (pipeline, "Received the invoice", ivan)
    assert (deal.status, deal.amount, deal.purchase_number) == (DealStatus.WON, Decimal("4500"), 1)
    assert Deal.objects.get(title="Loyalty cards").owner == maria
    olga = Person.objects.get(email="olga@bakery.example")
    assert olga.deals.count() == 2 and olga.phone == "+359881234567"
    assert olga.company.name == "Sweet Corner"  # type: ignore[union-attr]
    assert olga.source == "csv" and olga.owner == ivan


def test_refused_row_writes_nothing(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Stage": "New stage"}),
            deal_row(**{"Deal - ID": "2", "Person - Name": "Bob", "Person - Email": "b@x.example"}),
            deal_row(**{"Deal - ID": "3", "Deal - Value": "-10"}),
        ],
    )
    before = _snapshot()
    with pytest.raises(ImportRefused) as refused:
        crm_import_run(path=path, source="pipedrive", by=None, create_missing=True)
    assert "1 row of 3 cannot be imported" in refused.value.message
    assert [(row.line, row.issues[0].message) for row in refused.value.plan.refused] == [
        (4, "'-10' is negative")
    ]
    # Not even the stage the first row would have created.
    assert _snapshot() == before


def test_skip_bad_rows_writes_report(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1"}),
            deal_row(
                **{
                    "Deal - ID": "2",
                    "Deal - Title": '=HYPERLINK("http://x")',
                    "Deal - Owner": "Ghost",
                }
            ),
            deal_row(**{"Deal - ID": "3", "Person - Name": "Bob", "Person - Email": "b@x.example"}),
            deal_row(**{"Deal - ID": "4", "Deal - Status": "won"}),
        ],
    )
    report = tmp_path / "rejected.csv"
    result = crm_import_run(
        path=path, source="pipedrive", by=None, skip_bad_rows=True, report_path=report
    )
    assert result.report == report
    assert sorted(Deal.objects.values_list("external_id", flat=True)) == [
        "pipedrive:1",
        "pipedrive:3",
    ]
    with report.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["line", "columns", "reasons", "Deal - ID"]
    assert {len(row) for row in rows} == {3 + 17}  # the file's 17 columns, nothing more
    assert [row[:3] for row in rows[1:]] == [
        [
            "3",
            "Deal - Owner",
            "no user 'Ghost' (owners are matched by e-mail or full name): add the user first",
        ],
        ["5", "Deal - Won time", "a won deal needs the date it was closed"],
    ]
    assert rows[1][3:5] == ["2", '\'=HYPERLINK("http://x")']  # formula-safe, value kept


def test_skip_bad_rows_report_defaults_to_next_to_the_file(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(tmp_path, [deal_row(**{"Deal - Owner": "Ghost"})])
    result = crm_import_run(path=path, source="pipedrive", by=None, skip_bad_rows=True)
    assert result.report is not None and result.report.parent == tmp_path
    assert result.report.name.startswith("deals-rejected-")
    assert not Deal.objects.exists()


def test_unwritable_report_stops_the_import(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2", "Deal - Owner": "Ghost"})],
    )
    before = _snapshot()
    with pytest.raises(ServiceError, match="Cannot write the report"):
        crm_import_run(
            path=path,
            source="pipedrive",
            by=None,
            skip_bad_rows=True,
            report_path=tmp_path / "missing-folder" / "r.csv",
        )
    assert _snapshot() == before


def test_reimport_creates_nothing_twice() -> None:
    sample_users()
    result = crm_import_run(
        path=SAMPLES / "pipedrive-deals.csv", source="pipedrive", by=None, create_missing=True
    )
    assert result.written.deals == 12
    after_first = _snapshot()
    again = crm_import_run(
        path=SAMPLES / "pipedrive-deals.csv", source="pipedrive", by=None, create_missing=True
    )
    assert (again.plan.counts.exists, again.written.deals) == (12, 0)
    assert _snapshot() == after_first


def test_reimport_of_a_file_without_deal_ids_creates_nothing_twice(tmp_path: Path) -> None:
    sample_users()
    small_business()
    from conveyor.intake.crm_import.profiles import mapping_from_json

    mapping = mapping_from_json((SAMPLES / "generic-mapping.json").read_text())
    crm_import_run(path=SAMPLES / "generic.csv", source="csv", by=None, mapping=mapping)
    after_first = _snapshot()
    again = crm_import_run(path=SAMPLES / "generic.csv", source="csv", by=None, mapping=mapping)
    assert again.plan.counts.exists == 10
    assert _snapshot() == after_first


def test_fixed_rows_of_a_partial_import_go_in_on_the_second_run(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    rows = [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2", "Deal - Value": "?"})]
    path = pipedrive_file(tmp_path, rows)
    crm_import_run(path=path, source="pipedrive", by=None, skip_bad_rows=True)
    rows[1]["Deal - Value"] = "250"
    path = pipedrive_file(tmp_path, rows)
    result = crm_import_run(path=path, source="pipedrive", by=None)
    assert (result.plan.counts.exists, result.written.deals) == (1, 1)
    assert Deal.objects.count() == 2 and Person.objects.count() == 1
    assert Lead.objects.count() == 2


def test_missing_stage_offered_then_created(tmp_path: Path) -> None:
    sample_users()
    pipeline = sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Stage": "Contract Signed"}),
            deal_row(**{"Deal - ID": "2", "Deal - Pipeline": "Partners", "Deal - Stage": "Met"}),
        ],
    )
    with pytest.raises(ImportRefused):
        crm_import_run(path=path, source="pipedrive", by=None)
    result = crm_import_run(path=path, source="pipedrive", by=None, create_missing=True)
    assert result.written.pipelines == ["Partners"]
    assert result.written.stages == ["Sales pipeline / Contract Signed", "Partners / Met"]
    signed = Stage.objects.get(pipeline=pipeline, name="Contract Signed")
    assert signed.position == 6  # appended after the pipeline's five stages
    partners = Pipeline.objects.get(name="Partners")
    assert partners.segment is not None and partners.segment.name == "Partners"
    assert Deal.objects.get(external_id="pipedrive:2").stage.name == "Met"
    assert Lead.objects.get(deal__external_id="pipedrive:2").segment == partners.segment


def test_imported_history_matches_what_the_services_write(tmp_path: Path) -> None:
    ivan, _maria = sample_users()
    pipeline = sales_pipeline()
    reason = LossReason.objects.get(name="Too expensive")
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(
                **{
                    "Deal - ID": "1",
                    "Deal - Stage": "Proposal Made",
                    "Deal - Status": "Lost",
                    "Deal - Lost reason": "too expensive",
                    "Deal - Deal created": "2026-01-05T09:00:00+00:00",
                    "Deal - Lost time": "2026-02-01T10:00:00+00:00",
                }
            )
        ],
    )
    crm_import_run(path=path, source="pipedrive", by=None)
    imported = Deal.objects.get(external_id="pipedrive:1")

    opened = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    by_services = deal_open(
        person=PersonFactory(),
        pipeline=pipeline,
        owner=ivan,
        by=None,
        stage=Stage.objects.get(pipeline=pipeline, name="Proposal Made"),
        at=opened,
    )
    by_services = deal_lose(
        deal_id=by_services.pk,
        version=by_services.version,
        by=None,
        reason=reason,
        at=dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC),
    )
    fields = (
        "stage",
        "status",
        "opened_at",
        "closed_at",
        "stage_entered_at",
        "lost_reason",
        "lost_stage",
        "purchase_number",
        "max_position",
        "owner",
        "refused_by_us",
    )
    assert [getattr(imported, f) for f in fields] == [getattr(by_services, f) for f in fields]
    history = ("kind", "from_stage_id", "to_stage_id", "at", "left_at", "user_id", "stay_us")
    assert list(imported.stage_changes.order_by("at", "pk").values_list(*history)) == list(
        by_services.stage_changes.order_by("at", "pk").values_list(*history)
    )
    assert_history_keys(imported)
    assert_purchase_facts()


def test_purchase_numbers_count_earlier_purchases(tmp_path: Path) -> None:
    ivan, _maria = sample_users()
    pipeline = sales_pipeline()
    buyer = PersonFactory(email="anna@acme.example", phone="")
    earlier = deal_open(
        person=buyer,
        pipeline=pipeline,
        owner=ivan,
        by=None,
        at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    earlier = deal_win(
        deal_id=earlier.pk,
        version=earlier.version,
        by=None,
        at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    )
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(
                **{
                    "Deal - ID": "1",
                    "Deal - Status": "won",
                    "Deal - Won time": "2026-02-01 10:00",
                }
            ),
            deal_row(
                **{
                    "Deal - ID": "2",
                    "Person - Email": "new@x.example",
                    "Person - Phone": "",
                    "Deal - Status": "won",
                    "Deal - Won time": "2026-02-03 10:00",
                }
            ),
        ],
    )
    crm_import_run(path=path, source="pipedrive", by=None)
    imported = Deal.objects.get(external_id="pipedrive:1")
    earlier.refresh_from_db()
    assert imported.person == buyer  # linked by e-mail, not created again
    assert (imported.purchase_number, earlier.purchase_number) == (1, 2)
    assert Deal.objects.get(external_id="pipedrive:2").purchase_number == 1


def test_a_lead_shows_up_once_with_its_source(tmp_path: Path) -> None:
    ivan, _maria = sample_users()
    pipeline = sales_pipeline()
    path = pipedrive_file(tmp_path, [deal_row(**{"Deal - ID": "42"})])
    crm_import_run(path=path, source="pipedrive", by=None)
    crm_import_run(path=path, source="pipedrive", by=None)
    lead = Lead.objects.get()
    deal = Deal.objects.get()
    assert (lead.channel, lead.status, lead.source) == (
        LeadChannel.IMPORT,
        LeadStatus.ACCEPTED,
        "pipedrive",
    )
    assert (lead.deal, lead.person, lead.segment) == (deal, deal.person, pipeline.segment)
    assert (deal.pipeline, deal.owner) == (pipeline, ivan)
    assert lead.payload["import"] == {"source": "pipedrive", "file": "deals.csv", "line": 2}
    # Columns no field was read from are kept on the intake record (non-empty ones).
    assert "other_columns" not in lead.payload  # every column of this file was read
    custom = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "43", "Deal - Notes": "call after 5", "Deal - Label": ""}),
        ],
        name="custom.csv",
    )
    crm_import_run(path=custom, source="pipedrive", by=None)
    assert Lead.objects.get(deal__external_id="pipedrive:43").payload["other_columns"] == {
        "Deal - Notes": "call after 5"
    }
    assert lead.idempotency_key == "import:pipedrive:42"
    assert lead.received_at == deal.opened_at


def test_times_are_in_the_account_zone(tmp_path: Path, settings: Settings) -> None:
    settings.TIME_ZONE = "Europe/Sofia"
    sample_users()
    sales_pipeline()
    path = pipedrive_file(tmp_path, [deal_row(**{"Deal - Deal created": "2026-01-05 09:00:00"})])
    crm_import_run(path=path, source="pipedrive", by=None)
    assert Deal.objects.get().opened_at == dt.datetime(2026, 1, 5, 7, tzinfo=dt.UTC)


def test_no_person_is_left_without_a_deal(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Value": "bad"}),
            deal_row(**{"Deal - ID": "2"}),
        ],
    )
    crm_import_run(
        path=path, source="pipedrive", by=None, skip_bad_rows=True, report_path=tmp_path / "r.csv"
    )
    # The refused first row did not create its person; the second row's deal has it.
    assert Person.objects.annotate(n=Count("deals")).filter(n=0).count() == 0
    assert Person.objects.count() == 1


def test_import_into_a_populated_database(tmp_path: Path) -> None:
    """Tables holding more rows than the file brings keep their indexes and foreign keys
    during the import (the bulk path only rebuilds them for big loads)."""
    ivan, _maria = sample_users()
    pipeline = sales_pipeline()
    for i in range(4):
        person = PersonFactory(email=f"old{i}@x.example")
        deal_open(person=person, pipeline=pipeline, owner=ivan, by=None)
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Organization - Name": "Brand New Ltd"}),
            deal_row(
                **{"Deal - ID": "2", "Person - Email": "old0@x.example", "Person - Phone": ""}
            ),
        ],
    )
    result = crm_import_run(path=path, source="pipedrive", by=None)
    assert (result.written.deals, result.written.people, result.written.companies) == (2, 1, 1)
    assert Deal.objects.count() == 6 and Lead.objects.count() == 2
    assert Deal.objects.get(external_id="pipedrive:2").person.email == "old0@x.example"
    assert Person.objects.get(email="anna@acme.example").company.name == "Brand New Ltd"  # type: ignore[union-attr]
