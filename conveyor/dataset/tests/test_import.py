"""`import-dataset`: a §5 folder lands whole with its derived fields, twice changes nothing,
and a bad row is reported by file:line:column with nothing written."""

from __future__ import annotations

import copy
import csv
import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.forms.models import model_to_dict

from conveyor.accounts.models import Role, SalesPlan, Team, User
from conveyor.analytics.models import Expense
from conveyor.dataset import importer
from conveyor.dataset.importer import DatasetInvalid, ImportResult, import_dataset
from conveyor.dataset.reader import COLUMNS
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import Deal, LossReason, Pipeline, Segment, Stage, StageChange
from conveyor.pipelines.tests.support import assert_history_keys, assert_purchase_facts
from conveyor.testing.factories import PersonFactory
from conveyor.touches.models import Touch

Rows = dict[str, list[tuple[str, ...]]]

# A small company: one conversion funnel (3 stages) and one repeat funnel (1 stage).
BASE: Rows = {
    "users.csv": [
        ("u1", "Olga Owner", "olga@example.com", "owner", ""),
        ("u2", "Hristo Head", "Hristo@Example.com", "head", "Team A"),
        ("u3", "Maria Manager", "maria@example.com", "manager", "Team A"),
    ],
    "segments.csv": [("s1", "Small business")],
    "pipelines.csv": [
        ("p1", "SB conversion", "s1", "conversion"),
        ("p2", "SB repeat", "s1", "account_management"),
    ],
    "stages.csv": [
        ("st1", "p1", "1", "Left a request", "Told us the task", "false"),
        ("st2", "p1", "2", "Came to the demo", "Asked for a proposal", "yes"),
        ("st3", "p1", "3", "Received the proposal", "Paid", "0"),
        ("st4", "p2", "1", "Received onboarding", "Asked for more", ""),
    ],
    "loss_reasons.csv": [("r1", "No budget")],
    "people.csv": [
        (
            "pe1",
            "Anna Ivanova",
            " Anna@Example.COM ",
            "+359 (88) 812-3456",
            "Acme",
            "ads",
            "2026-01-05T08:00:00+02:00",
            "u3",
            "",
        ),
        ("pe2", "Boris Petrov", "", "", "Acme", "website", "2026-01-05T09:00:00Z", "", "pe3"),
        ("pe3", "Clara Kolev", "clara@example.com", "", "", "", "2026-01-04T09:00:00Z", "", "pe1"),
    ],
    "deals.csv": [
        # id, person, pipeline, title, amount, currency, owner, opened, status, closed,
        # lost reason, refused by us
        (
            "d1",
            "pe1",
            "p1",
            "Team plan",
            "1000.50",
            "",
            "u3",
            "2026-01-05T09:00:00+02:00",
            "won",
            "2026-01-20T10:00:00+02:00",
            "",
            "",
        ),
        (
            "d2",
            "pe1",
            "p2",
            "More seats",
            "300",
            "usd",
            "u3",
            "2026-02-01T09:00:00Z",
            "won",
            "2026-02-10T09:00:00Z",
            "",
            "no",
        ),
        (
            "d3",
            "pe2",
            "p1",
            "",
            "0",
            "",
            "",
            "2026-01-06T09:00:00Z",
            "lost",
            "2026-01-15T09:00:00Z",
            "r1",
            "true",
        ),
        ("d4", "pe3", "p1", "", "", "", "", "2026-01-07T09:00:00Z", "open", "", "", ""),
        ("d5", "pe3", "p1", "", "50", "", "u2", "2026-01-07T10:00:00Z", "open", "", "", "0"),
    ],
    "stage_changes.csv": [
        ("d1", "", "st1", "2026-01-05T09:00:00+02:00", "u3"),
        ("d1", "st1", "st2", "2026-01-10T09:00:00+02:00", "u3"),
        ("d1", "st2", "st3", "2026-01-15T09:00:00+02:00", ""),
        ("d2", "", "st4", "2026-02-01T09:00:00Z", ""),
        ("d3", "", "st1", "2026-01-06T09:00:00Z", ""),
        ("d3", "st1", "st2", "2026-01-08T09:00:00Z", ""),
        # d5 moves forward to st3 and back to st2; its rows are out of time order on purpose.
        ("d5", "st3", "st2", "2026-01-12T10:00:00Z", "u2"),
        ("d5", "", "st1", "2026-01-07T10:00:00Z", "u2"),
        ("d5", "st1", "st3", "2026-01-09T10:00:00Z", "u2"),
    ],
    "touches.csv": [
        ("t1", "d1", "", "u3", "2026-01-06T10:00:00Z", "warming", "call", ""),
        ("t2", "d1", "pe1", "u3", "2026-01-09T10:00:00Z", "closing", "meeting", "advanced"),
        ("t3", "", "pe2", "", "2026-01-07T10:00:00Z", "warming", "email", ""),
    ],
    "expenses.csv": [("ads", "2026-01-01", "2026-01-31", "500.00")],
    "plans.csv": [("u3", "2026-01", "10000", "3"), ("u3", "2026-02-01", "", "")],
}

ALL_MODELS: list[type[models.Model]] = [
    User,
    Team,
    Segment,
    Pipeline,
    Stage,
    LossReason,
    Company,
    Person,
    Deal,
    StageChange,
    Touch,
    Expense,
    SalesPlan,
]


def write_dataset(folder: Path, rows: Rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in rows.items():
        with (folder / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS[name])
            writer.writerows(data)
    return folder


def changed(name: str, index: int, column: str, value: str, rows: Rows | None = None) -> Rows:
    """A copy of `rows` (default BASE) with one cell replaced."""
    data = copy.deepcopy(rows or BASE)
    row = list(data[name][index])
    row[COLUMNS[name].index(column)] = value
    data[name][index] = tuple(row)
    return data


def table_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in ALL_MODELS}


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def history(
    deal: Deal,
) -> list[tuple[str, str | None, str | None, dt.datetime, dt.datetime | None]]:
    return [
        (
            change.kind,
            change.from_stage.external_id if change.from_stage else None,
            change.to_stage.external_id if change.to_stage else None,
            change.at,
            change.left_at,
        )
        for change in StageChange.objects.filter(deal=deal)
        .select_related("from_stage", "to_stage")
        .order_by("at", "id")
    ]


@pytest.fixture(params=["one-statement", "chunked"])
def chunking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big imports write history and touches in chunks; tiny chunks must give the same rows."""
    if request.param == "chunked":
        monkeypatch.setattr(importer, "CHUNK_DEALS", 2)
        monkeypatch.setattr(importer, "CHUNK_LINES", 2)


@pytest.mark.django_db
@pytest.mark.usefixtures("chunking")
def test_good_dataset_imports_with_exact_counts(tmp_path: Path) -> None:
    result = import_dataset(write_dataset(tmp_path, BASE))

    assert isinstance(result, ImportResult)
    assert {name: count.inserted for name, count in result.files.items()} == {
        "users.csv": 3,
        "segments.csv": 1,
        "pipelines.csv": 2,
        "stages.csv": 4,
        "loss_reasons.csv": 1,
        "people.csv": 3,
        "deals.csv": 5,
        "stage_changes.csv": 9,
        "touches.csv": 3,
        "expenses.csv": 1,
        "plans.csv": 2,
    }
    assert result.rows == 34
    assert result.derived == {
        "teams": 1,
        "companies": 1,
        "first stage changes": 1,
        "outcome stage changes": 3,
    }
    assert table_counts() == {
        "User": 3,
        "Team": 1,
        "Segment": 1,
        "Pipeline": 2,
        "Stage": 4,
        "LossReason": 1,
        "Company": 1,
        "Person": 3,
        "Deal": 5,
        "StageChange": 13,
        "Touch": 3,
        "Expense": 1,
        "SalesPlan": 2,
    }


@pytest.mark.django_db
def test_catalogue_users_and_people_are_normalised(tmp_path: Path) -> None:
    import_dataset(write_dataset(tmp_path, BASE))

    head = User.objects.get(external_id="u2")
    assert head.email == "hristo@example.com"
    assert head.role == Role.HEAD
    assert head.team is not None and head.team.name == "Team A"
    assert head.team.head == head
    assert not head.has_usable_password()
    assert head.is_active
    assert User.objects.get(external_id="u1").team is None

    anna = Person.objects.get(external_id="pe1")
    assert anna.email == "anna@example.com"
    assert anna.phone == "+359888123456"
    assert anna.company is not None and anna.company.name == "Acme"
    assert anna.created_at == utc("2026-01-05T06:00:00+00:00")
    assert anna.owner == User.objects.get(external_id="u3")
    boris = Person.objects.get(external_id="pe2")
    assert boris.company == anna.company
    assert boris.referred_by is not None and boris.referred_by.external_id == "pe3"
    assert Person.objects.get(external_id="pe3").referred_by == anna

    st2 = Stage.objects.get(external_id="st2")
    assert (st2.position, st2.is_key_meeting, st2.probability) == (2, True, Decimal(0))
    assert st2.pipeline.external_id == "p1"
    assert Pipeline.objects.get(external_id="p2").process == "account_management"
    assert LossReason.objects.get(external_id="r1").pipeline is None
    plan = SalesPlan.objects.get(month=dt.date(2026, 2, 1))
    assert (plan.revenue, plan.deals) == (Decimal(0), 0)
    assert Expense.objects.get().amount == Decimal("500.00")


@pytest.mark.django_db
@pytest.mark.usefixtures("chunking")
def test_deal_fields_are_derived_from_the_history(tmp_path: Path) -> None:
    import_dataset(write_dataset(tmp_path, BASE))
    deals = {deal.external_id: deal for deal in Deal.objects.select_related("stage")}

    d1 = deals["d1"]
    assert d1.stage.external_id == "st3"
    assert d1.stage_entered_at == utc("2026-01-15T09:00:00+02:00")
    assert (d1.max_position, d1.purchase_number, d1.version) == (3, 1, 1)
    assert (d1.amount, d1.currency) == (Decimal("1000.50"), "EUR")
    assert d1.lost_stage is None

    # A second won deal of the same person is their second purchase.
    assert (deals["d2"].purchase_number, deals["d2"].currency) == (2, "USD")

    d3 = deals["d3"]
    assert d3.status == "lost"
    assert d3.lost_stage is not None and d3.lost_stage.external_id == "st2"
    assert d3.lost_reason is not None and d3.lost_reason.external_id == "r1"
    assert d3.refused_by_us
    assert d3.purchase_number is None

    # No history: the deal starts at the first stage when it was opened.
    d4 = deals["d4"]
    assert d4.stage.external_id == "st1"
    assert d4.stage_entered_at == d4.opened_at == utc("2026-01-07T09:00:00+00:00")
    assert d4.max_position == 1
    assert history(d4) == [("enter", None, "st1", d4.opened_at, None)]

    # Moved forward to position 3, then back to 2: current stage 2, highest reached 3.
    d5 = deals["d5"]
    assert d5.stage.external_id == "st2"
    assert d5.stage_entered_at == utc("2026-01-12T10:00:00+00:00")
    assert d5.max_position == 3


@pytest.mark.django_db
@pytest.mark.usefixtures("chunking")
def test_history_gets_outcome_rows_and_left_at(tmp_path: Path) -> None:
    import_dataset(write_dataset(tmp_path, BASE))
    deals = {deal.external_id: deal for deal in Deal.objects.all()}

    t = utc
    assert history(deals["d1"]) == [
        ("enter", None, "st1", t("2026-01-05T09:00:00+02:00"), t("2026-01-10T09:00:00+02:00")),
        ("move", "st1", "st2", t("2026-01-10T09:00:00+02:00"), t("2026-01-15T09:00:00+02:00")),
        ("move", "st2", "st3", t("2026-01-15T09:00:00+02:00"), t("2026-01-20T10:00:00+02:00")),
        ("won", "st3", None, t("2026-01-20T10:00:00+02:00"), None),
    ]
    assert history(deals["d3"]) == [
        ("enter", None, "st1", t("2026-01-06T09:00:00Z"), t("2026-01-08T09:00:00Z")),
        ("move", "st1", "st2", t("2026-01-08T09:00:00Z"), t("2026-01-15T09:00:00Z")),
        ("lost", "st2", None, t("2026-01-15T09:00:00Z"), None),
    ]
    # Ordered by time although the file had them out of order; the open deal's last row
    # is still running.
    assert history(deals["d5"]) == [
        ("enter", None, "st1", t("2026-01-07T10:00:00Z"), t("2026-01-09T10:00:00Z")),
        ("move", "st1", "st3", t("2026-01-09T10:00:00Z"), t("2026-01-12T10:00:00Z")),
        ("move", "st3", "st2", t("2026-01-12T10:00:00Z"), None),
    ]
    assert StageChange.objects.filter(deal=deals["d1"], kind="enter").get().user is not None
    # The cohort keys and stay lengths the time-in-stage reports read, set-based as well.
    for deal in deals.values():
        assert_history_keys(deal)
    assert_purchase_facts()


@pytest.mark.django_db
@pytest.mark.usefixtures("chunking")
def test_touches_take_the_person_of_their_deal(tmp_path: Path) -> None:
    import_dataset(write_dataset(tmp_path, BASE))

    t1 = Touch.objects.get(external_id="t1")
    assert t1.deal is not None and t1.deal.external_id == "d1"
    assert t1.person.external_id == "pe1"
    assert (t1.kind, t1.channel, t1.outcome, t1.direction) == ("warming", "call", "", "out")
    assert Touch.objects.get(external_id="t2").outcome == "advanced"
    t3 = Touch.objects.get(external_id="t3")
    assert t3.deal is None and t3.user is None and t3.person.external_id == "pe2"


@pytest.mark.django_db
def test_reimport_changes_nothing(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, BASE)
    import_dataset(folder)
    before = table_counts()
    deal_before = model_to_dict(Deal.objects.get(external_id="d1"))
    history_before = history(Deal.objects.get(external_id="d5"))

    again = import_dataset(folder)

    assert table_counts() == before
    assert model_to_dict(Deal.objects.get(external_id="d1")) == deal_before
    assert history(Deal.objects.get(external_id="d5")) == history_before
    assert all(count.inserted == 0 for count in again.files.values())
    assert {name: count.skipped for name, count in again.files.items()} == {
        name: len(rows) for name, rows in BASE.items()
    }


@pytest.mark.django_db
def test_a_later_import_adds_only_new_records_and_continues_purchase_numbers(
    tmp_path: Path,
) -> None:
    import_dataset(write_dataset(tmp_path / "first", BASE))
    later = copy.deepcopy(BASE)
    # An earlier win of the same person arrives later: the numbers follow the win times.
    later["deals.csv"] = [
        *BASE["deals.csv"],
        (
            "d6",
            "pe1",
            "p1",
            "Starter",
            "10",
            "",
            "",
            "2026-01-01T09:00:00Z",
            "won",
            "2026-01-02T09:00:00Z",
            "",
            "",
        ),
    ]
    later["stage_changes.csv"] = [
        *BASE["stage_changes.csv"],
        ("d6", "", "st2", "2026-01-01T09:00:00Z", ""),
    ]

    result = import_dataset(write_dataset(tmp_path / "later", later))

    assert result.files["deals.csv"].inserted == 1
    assert result.files["stage_changes.csv"].inserted == 1
    assert Deal.objects.count() == 6
    numbers = dict(Deal.objects.filter(status="won").values_list("external_id", "purchase_number"))
    assert numbers == {"d6": 1, "d1": 2, "d2": 3}
    assert [row[0] for row in history(Deal.objects.get(external_id="d6"))] == ["enter", "won"]


@pytest.mark.django_db
def test_references_may_point_at_records_imported_before(tmp_path: Path) -> None:
    import_dataset(write_dataset(tmp_path / "first", BASE))
    later: Rows = {
        "pipelines.csv": [],
        "stages.csv": [],
        "people.csv": [
            ("pe9", "Ivan New", "", "", "Acme", "", "2026-03-01T09:00:00Z", "u3", "pe1"),
        ],
        "deals.csv": [
            ("d9", "pe9", "p1", "", "5", "", "u3", "2026-03-01T09:00:00Z", "open", "", "", "")
        ],
        "stage_changes.csv": [("d9", "", "st2", "2026-03-01T09:00:00Z", "u3")],
    }

    import_dataset(write_dataset(tmp_path / "later", later))

    person = Person.objects.get(external_id="pe9")
    assert person.referred_by is not None and person.referred_by.external_id == "pe1"
    assert Company.objects.count() == 1
    assert Deal.objects.get(external_id="d9").stage.external_id == "st2"


BAD_ROWS = [
    pytest.param(
        changed("deals.csv", 0, "amount", "abc"),
        "deals.csv:2: column amount: 'abc' is not a number",
        id="bad-amount",
    ),
    pytest.param(
        changed("stage_changes.csv", 1, "to_stage_id", "nope"),
        "stage_changes.csv:3: column to_stage_id: unknown stage 'nope'",
        id="unknown-stage",
    ),
    pytest.param(
        changed("touches.csv", 2, "at", "2026-01-07T10:00:00"),
        "touches.csv:4: column at: '2026-01-07T10:00:00' has no UTC offset",
        id="naive-datetime",
    ),
    pytest.param(
        changed("deals.csv", 2, "lost_reason_id", ""),
        "deals.csv:4: column lost_reason_id: a lost deal needs a loss reason",
        id="missing-lost-reason",
    ),
    pytest.param(
        changed("stage_changes.csv", 2, "to_stage_id", "st4"),
        "stage_changes.csv:4: column to_stage_id: stage 'st4' belongs to pipeline 'p2', "
        "not to the deal's pipeline 'p1'",
        id="stage-of-another-pipeline",
    ),
    pytest.param(
        changed("deals.csv", 3, "closed_at", "2026-01-08T09:00:00Z"),
        "deals.csv:5: column closed_at: an open deal has no closed_at",
        id="open-deal-with-closed-at",
    ),
    pytest.param(
        changed("deals.csv", 0, "closed_at", "2026-01-01T09:00:00Z"),
        "deals.csv:2: column closed_at: is before opened_at",
        id="closed-before-opened",
    ),
    pytest.param(
        changed("users.csv", 2, "role", "boss"),
        "users.csv:4: column role: 'boss' is not one of owner, head, manager",
        id="bad-role",
    ),
    pytest.param(
        changed("touches.csv", 0, "outcome", "advanced"),
        "touches.csv:2: column outcome: only a closing touch has an outcome",
        id="outcome-on-warming-touch",
    ),
    pytest.param(
        changed("stages.csv", 1, "position", "1"),
        "stages.csv:3: column position: position 1 is taken in pipeline 'p1' (line 2)",
        id="stage-position-taken",
    ),
    pytest.param(
        changed("pipelines.csv", 1, "name", "SB conversion"),
        "pipelines.csv:3: column name: 'SB conversion' repeats (first on line 2)",
        id="pipeline-name-repeats",
    ),
    pytest.param(
        changed("people.csv", 1, "id", "pe1"),
        "people.csv:3: column id: duplicate id 'pe1' (first on line 2)",
        id="duplicate-id",
    ),
    pytest.param(
        changed("touches.csv", 2, "id", "t1"),
        "touches.csv:4: column id: duplicate id 't1' (first on line 2)",
        id="duplicate-touch-id",
    ),
    pytest.param(
        changed("stage_changes.csv", 2, "changed_at", "2026-02-15T09:00:00+02:00"),
        "stage_changes.csv:4: column changed_at: is after the deal's closed_at",
        id="change-after-close",
    ),
    pytest.param(
        changed("plans.csv", 0, "month", "2026-13"),
        "plans.csv:2: column month: '2026-13' is not a month (YYYY-MM or YYYY-MM-01)",
        id="bad-month",
    ),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("rows", "message"), BAD_ROWS)
def test_a_bad_row_is_reported_and_nothing_is_written(
    tmp_path: Path, rows: Rows, message: str
) -> None:
    stderr = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command(
            "import-dataset", str(write_dataset(tmp_path, rows)), stdout=StringIO(), stderr=stderr
        )
    assert [line for line in stderr.getvalue().splitlines() if line.startswith(message)]
    assert set(table_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_every_error_is_reported_in_one_run(tmp_path: Path) -> None:
    rows = changed("deals.csv", 0, "amount", "-5")
    rows = changed("touches.csv", 1, "kind", "", rows)
    rows = changed("expenses.csv", 0, "period_end", "2025-12-31", rows)

    with pytest.raises(DatasetInvalid) as raised:
        import_dataset(write_dataset(tmp_path, rows))

    assert [str(error) for error in raised.value.errors] == [
        "deals.csv:2: column amount: '-5' is negative",
        "touches.csv:3: column kind: a value is required: one of warming, closing",
        "expenses.csv:2: column period_end: is before period_start",
    ]
    assert set(table_counts().values()) == {0}


@pytest.mark.django_db(transaction=True)
def test_long_error_lists_are_cut_with_a_count(tmp_path: Path) -> None:
    rows = copy.deepcopy(BASE)
    rows["touches.csv"] = [
        (f"x{i}", "d1", "", "", "not a time", "warming", "call", "") for i in range(150)
    ]
    stderr = StringIO()

    with pytest.raises(CommandError, match="150 error"):
        call_command("import-dataset", str(write_dataset(tmp_path, rows)), stderr=stderr)

    lines = stderr.getvalue().splitlines()
    assert len(lines) == 101
    assert lines[-1] == "... and 50 more"


@pytest.mark.django_db(transaction=True)
def test_header_and_missing_files_are_reported(tmp_path: Path) -> None:
    rows = {name: data for name, data in BASE.items() if name != "stages.csv"}
    folder = write_dataset(tmp_path, rows)
    (folder / "loss_reasons.csv").write_text("id,title\nr1,No budget\n", encoding="utf-8")

    with pytest.raises(DatasetInvalid) as raised:
        import_dataset(folder)

    messages = [str(error) for error in raised.value.errors]
    assert "stages.csv: the file is missing" in messages
    assert "loss_reasons.csv:1: column name: missing from the header" in messages
    assert Person.objects.count() == 0


@pytest.mark.django_db
def test_optional_files_may_be_absent(tmp_path: Path) -> None:
    rows = {
        "pipelines.csv": [("p1", "Only funnel", "", "conversion")],
        "stages.csv": [("st1", "p1", "1", "Left a request", "", "")],
        "people.csv": [("pe1", "Anna", "", "", "", "", "2026-01-05T08:00:00Z", "", "")],
        "deals.csv": [
            ("d1", "pe1", "p1", "", "", "", "", "2026-01-05T09:00:00Z", "open", "", "", "")
        ],
    }

    result = import_dataset(write_dataset(tmp_path, rows))

    assert result.files["touches.csv"].read == 0
    assert Deal.objects.get().stage.external_id == "st1"


@pytest.mark.django_db
def test_existing_records_without_external_ids_are_left_alone(tmp_path: Path) -> None:
    PersonFactory(name="Walk-in", email="walkin@example.com")

    import_dataset(write_dataset(tmp_path, BASE))

    assert Person.objects.count() == 4
    assert Person.objects.filter(external_id__isnull=True).count() == 1


@pytest.mark.django_db
def test_command_prints_counts_and_is_quiet_at_verbosity_0(tmp_path: Path) -> None:
    folder = write_dataset(tmp_path, BASE)
    out = StringIO()
    call_command("import-dataset", str(folder), stdout=out)
    text = out.getvalue()
    assert "deals.csv" in text and "rows/s" in text

    quiet = StringIO()
    call_command("import-dataset", str(folder), stdout=quiet, verbosity=0)
    assert quiet.getvalue() == ""


def _table_constraints() -> dict[str, set[tuple[str, bool, bool]]]:
    """(name, unique, foreign key) of every index and constraint on the big tables."""
    from django.db import connection

    tables = [
        Person._meta.db_table,
        Deal._meta.db_table,
        StageChange._meta.db_table,
        Touch._meta.db_table,
    ]
    with connection.cursor() as cursor:
        return {
            table: {
                (name, bool(info["unique"]), bool(info["foreign_key"]))
                for name, info in connection.introspection.get_constraints(cursor, table).items()
            }
            for table in tables
        }


@pytest.mark.django_db
def test_indexes_and_foreign_keys_are_rebuilt_after_a_bulk_load(tmp_path: Path) -> None:
    before = _table_constraints()
    import_dataset(write_dataset(tmp_path, BASE))
    assert Touch.objects.exists()  # the load went through the drop-and-rebuild path
    assert _table_constraints() == before
