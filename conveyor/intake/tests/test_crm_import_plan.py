"""`crm_import_plan`: the dry run says per row what would be created, linked or refused, and
writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import Cast
from conveyor.core.errors import PermissionDenied
from conveyor.intake.crm_import.planning import (
    CREATE,
    EXISTS,
    PERSON_DUPLICATE,
    PERSON_EXISTING,
    PERSON_NEW,
    REFUSE,
)
from conveyor.intake.crm_import.profiles import MappingError
from conveyor.intake.crm_import.services import crm_import_plan
from conveyor.intake.models import Lead
from conveyor.intake.tests.crmfiles import (
    SAMPLES,
    deal_row,
    pipedrive_file,
    sales_pipeline,
    sample_users,
)
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import Deal, LossReason, Pipeline, Stage
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _plan(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return crm_import_plan(path=path, source="pipedrive", by=None, **kwargs)  # type: ignore[arg-type]


def test_dry_run_writes_nothing() -> None:
    sample_users()
    sales_pipeline()
    before = (Deal.objects.count(), Person.objects.count(), Pipeline.objects.count())
    plan = _plan(SAMPLES / "pipedrive-deals.csv", create_missing=True)
    assert plan.counts.create == 12
    assert (Deal.objects.count(), Person.objects.count(), Pipeline.objects.count()) == before
    assert not Lead.objects.exists() and not Company.objects.exists()


def test_duplicate_person_linked_not_created(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Person - Email": "anna@acme.example"}),
            # The same person by phone, written another way, with an e-mail in capitals.
            deal_row(
                **{
                    "Deal - ID": "2",
                    "Person - Email": "",
                    "Person - Phone": "+49 (30) 123-4567",
                }
            ),
            deal_row(
                **{"Deal - ID": "3", "Person - Email": "ANNA@acme.example", "Person - Phone": ""}
            ),
            deal_row(
                **{
                    "Deal - ID": "4",
                    "Person - Name": "Bob",
                    "Person - Email": "bob@x.example",
                    "Person - Phone": "",
                }
            ),
        ],
    )
    plan = _plan(path)
    actions = [(row.action, row.person_action, row.person_line) for row in plan.rows]
    assert actions == [
        (CREATE, PERSON_NEW, 0),
        (CREATE, PERSON_DUPLICATE, 2),
        (CREATE, PERSON_DUPLICATE, 2),
        (CREATE, PERSON_NEW, 0),
    ]
    assert (plan.counts.people_new, plan.counts.people_duplicate) == (2, 2)
    assert [person.name for person in plan.people] == ["Anna Keller", "Bob"]
    assert plan.counts.companies_new == 1


def test_existing_person_is_linked_by_normalised_phone(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    known = PersonFactory(name="Anna K.", email="", phone="+49301234567")
    path = pipedrive_file(tmp_path, [deal_row(**{"Person - Email": ""})])
    row = _plan(path).rows[0]
    assert (row.action, row.person_action, row.person) == (CREATE, PERSON_EXISTING, known.pk)


def test_refused_rows_name_line_column_and_reason(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1"}),
            deal_row(**{"Deal - ID": "2", "Deal - Value": "lots"}),
            deal_row(**{"Deal - ID": "3", "Deal - Owner": "Nobody Known"}),
            deal_row(
                **{"Deal - ID": "4", "Deal - Status": "Lost", "Deal - Lost time": "2026-02-01"}
            ),
            deal_row(**{"Deal - ID": "5", "Deal - Deal created": "31.02.2026"}),
            deal_row(**{"Deal - ID": "6", "Person - Email": "", "Person - Phone": ""}),
            deal_row(**{"Deal - ID": "1"}),
        ],
    )
    plan = _plan(path)
    refused = {row.line: [(i.column, i.message) for i in row.issues] for row in plan.refused}
    assert refused == {
        3: [("Deal - Value", "'lots' is not an amount")],
        4: [
            (
                "Deal - Owner",
                "no user 'Nobody Known' (owners are matched by e-mail or full name): add the "
                "user first",
            )
        ],
        5: [
            (
                "Deal - Lost reason",
                "a lost deal needs a loss reason: map the column or give a default reason",
            )
        ],
        6: [("Deal - Deal created", "'31.02.2026' is not a valid date")],
        7: [
            (
                "Person - Phone",
                "the person has neither a phone nor an e-mail, so they cannot be told apart "
                "from other people of the same name",
            )
        ],
        8: [("Deal - ID", "the same deal as line 2")],
    }
    assert plan.counts.create == 1
    assert plan.unknown_owners == {"Nobody Known": 1}


def test_owner_matched_by_email_or_name_and_empty_owner_is_unassigned(tmp_path: Path) -> None:
    ivan, maria = sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Owner": "MARIA.dimitrova@conveyor.example"}),
            deal_row(**{"Deal - ID": "2", "Deal - Owner": "ivan  petrov"}),
            deal_row(**{"Deal - ID": "3", "Deal - Owner": ""}),
        ],
    )
    assert [row.owner_id for row in _plan(path).rows] == [maria.pk, ivan.pk, None]


def test_head_may_not_import_deals_of_another_team(tmp_path: Path, cast: Cast) -> None:
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Owner": cast.manager.email}),
            deal_row(**{"Deal - ID": "2", "Deal - Owner": cast.outsider.email}),
        ],
    )
    plan = crm_import_plan(path=path, source="pipedrive", by=cast.head)
    assert [row.action for row in plan.rows] == [CREATE, REFUSE]
    assert plan.rows[1].issues[0].message == "you may not assign deals to Oleg Outsider"


def test_manager_may_not_plan_an_import(tmp_path: Path, cast: Cast) -> None:
    path = pipedrive_file(tmp_path, [deal_row()])
    with pytest.raises(PermissionDenied):
        crm_import_plan(path=path, source="pipedrive", by=cast.manager)


def test_missing_stage_offered_then_planned_for_creation(tmp_path: Path) -> None:
    sample_users()
    pipeline = sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Stage": "Contract Signed"}),
            deal_row(**{"Deal - ID": "2", "Deal - Pipeline": "Partners", "Deal - Stage": "Met"}),
            deal_row(
                **{
                    "Deal - ID": "3",
                    "Deal - Status": "Lost",
                    "Deal - Lost time": "2026-02-01 10:00",
                    "Deal - Lost reason": "Went silent",
                }
            ),
        ],
    )
    offered = _plan(path)
    assert offered.counts.refuse == 3
    assert [p.name for p in offered.missing_pipelines] == ["Partners"]
    assert [(p.name, s.name) for p, s in offered.missing_stages] == [
        ("Sales pipeline", "Contract Signed")
    ]
    assert [r.name for r in offered.missing_reasons] == ["Went silent"]
    assert "allow creating what is missing" in offered.rows[0].issues[0].message

    planned = _plan(path, create_missing=True)
    assert planned.counts.create == 3
    assert [(p.name, s.name) for p, s in planned.missing_stages] == [
        ("Sales pipeline", "Contract Signed"),
        ("Partners", "Met"),
    ]
    # Nothing was created by planning.
    assert not Pipeline.objects.filter(name="Partners").exists()
    assert Stage.objects.filter(pipeline=pipeline).count() == 5
    assert not LossReason.objects.filter(name="Went silent").exists()


def test_missing_default_stages_follow_the_crm_order(tmp_path: Path) -> None:
    sample_users()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": str(i), "Deal - Pipeline": "New", "Deal - Stage": stage})
            for i, stage in enumerate(
                ["Proposal Made", "Our own step", "Qualified", "Contact Made"], start=1
            )
        ],
    )
    plan = _plan(path, create_missing=True)
    assert [s.name for _p, s in plan.missing_stages] == [
        "Qualified",
        "Our own step",
        "Contact Made",
        "Proposal Made",
    ]


def test_reimported_deals_are_planned_as_existing(tmp_path: Path) -> None:
    sample_users()
    pipeline = sales_pipeline()
    person = PersonFactory()
    deal = Deal.objects.create(
        person=person, pipeline=pipeline, stage=pipeline.stages.first(), external_id="pipedrive:7"
    )
    path = pipedrive_file(tmp_path, [deal_row(**{"Deal - ID": "7", "Deal - Value": "junk"})])
    row = _plan(path).rows[0]
    # Imported before: skipped whatever the row says now, never refused or created twice.
    assert (row.action, row.existing_deal) == (EXISTS, deal.pk)


def test_wrong_source_for_the_file_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match="does not look like a Pipedrive deals export"):
        crm_import_plan(path=SAMPLES / "amocrm-deals.csv", source="pipedrive", by=None)


def test_mapping_to_a_missing_column_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match="no column 'Sum' \\(mapped to amount\\)"):
        _plan(SAMPLES / "pipedrive-deals.csv", mapping={"amount": "Sum"})


def test_planning_takes_the_same_queries_for_few_and_many_rows(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    few = pipedrive_file(tmp_path, [deal_row(**{"Deal - ID": "1"})], name="few.csv")
    many = pipedrive_file(
        tmp_path,
        [
            deal_row(
                **{
                    "Deal - ID": str(i),
                    "Person - Email": f"p{i}@x.example",
                    "Person - Phone": "",
                }
            )
            for i in range(200)
        ],
        name="many.csv",
    )
    with CaptureQueriesContext(connection) as small:
        _plan(few)
    with CaptureQueriesContext(connection) as big:
        plan = _plan(many)
    assert plan.counts.create == 200
    assert len(big) == len(small) <= 10


def test_a_row_longer_than_the_header_is_refused(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path, [deal_row(**{"Deal - ID": "1"}), deal_row(**{"Deal - ID": "2"})]
    )
    lines = path.read_text().splitlines()
    lines[1] += ",surplus"
    lines[2] += ",,"  # empty extra cells are harmless
    path.write_text("\n".join(lines) + "\n")
    plan = _plan(path)
    assert [row.action for row in plan.rows] == [REFUSE, CREATE]
    assert plan.rows[0].issues[0].message == "the row has 18 cells, the header 17"


def test_amounts_the_parser_refuses_are_refused_not_crashed_on(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Deal - Value": "999999999999"}),
            deal_row(**{"Deal - ID": "2", "Deal - Value": "1000000000000"}),
            deal_row(**{"Deal - ID": "3", "Deal - Value": "\u00b2"}),
        ],
    )
    plan = _plan(path)
    assert [row.line for row in plan.refused] == [3, 4]
    assert all(issue.column == "Deal - Value" for row in plan.refused for issue in row.issues)


def test_email_cells_go_through_the_parser_unless_plain(tmp_path: Path) -> None:
    sample_users()
    sales_pipeline()
    path = pipedrive_file(
        tmp_path,
        [
            deal_row(**{"Deal - ID": "1", "Person - Email": "MAILTO:Anna@Acme.example"}),
            deal_row(
                **{
                    "Deal - ID": "2",
                    "Person - Name": "Boris",
                    "Person - Phone": "",
                    "Person - Email": "boris@acme.example\nold@acme.example",
                }
            ),
        ],
    )
    plan = _plan(path)
    assert [row.email for row in plan.rows] == ["anna@acme.example", "boris@acme.example"]
