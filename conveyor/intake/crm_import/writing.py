"""Carrying out a plan: the rows planned for creation are written in bulk, in the caller's
transaction.

What is written per created row, matching what the services write for the same facts
(`deal_open`, then `deal_win` / `deal_lose`) and what the dataset importer derives:

* the person (unless the row links to an existing or an earlier row's person) and their company;
* the deal: current stage, `stage_entered_at` = created, `max_position` = the stage's position,
  `lost_stage` = the stage for a lost deal, purchase numbers 1..n per person by win time;
* its history: an `enter` stage change at the creation time into the stage (with `left_at` =
  the close time for a closed deal), then a `won` / `lost` outcome row from that stage;
* an intake record (`Lead`, channel *import*, status *accepted*, the CRM as its source,
  idempotency key `import:<deal id>`); its payload says where it came from (source, file, line)
  and keeps the row's other columns (those no field was read from, e.g. custom fields).

Missing pipelines, stages and loss reasons that created rows use are created first (ORM, a
handful). Rows go through `conveyor.dataset.bulk` (COPY on PostgreSQL, executemany on SQLite):
the ORM's per-object work would cost most of the time of a 100k-row file.
"""

# ruff: noqa: S608 - SQL is composed only of model table/column names; values are parameters.
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.utils import timezone

from conveyor.accounts.models import User
from conveyor.core.db import micros_between
from conveyor.dataset.bulk import Db, IdAllocator, model_defaults
from conveyor.intake.crm_import.planning import (
    CREATE,
    LOST,
    OPEN,
    PERSON_EXISTING,
    WON,
    Plan,
    PlannedRow,
)
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    LossReason,
    Pipeline,
    Process,
    Segment,
    Stage,
    StageChange,
)
from conveyor.pipelines.services import person_purchases_refresh, purchases_renumber

__all__ = ["Written", "write_plan"]


@dataclass
class Written:
    """What a run wrote."""

    deals: int = 0
    people: int = 0
    companies: int = 0
    stage_changes: int = 0
    leads: int = 0
    pipelines: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    loss_reasons: list[str] = field(default_factory=list)


def write_plan(plan: Plan, *, by: User | None = None) -> Written:
    """Write the plan's CREATE rows. Must run inside a transaction (the service's). `by` is who
    runs the import: existing deals renumbered by it are audited as theirs."""
    rows = [row for row in plan.rows if row.action == CREATE]
    written = Written()
    if not rows:
        return written
    stage_ids, reason_ids, segments = _create_missing(plan, rows, written)
    db = Db(connection)
    try:
        _Writer(plan, rows, db, stage_ids, reason_ids, segments, written, by).run()
    finally:
        db.close()
    return written


def _create_missing(
    plan: Plan, rows: list[PlannedRow], written: Written
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[str, int], dict[str, int | None]]:
    """Create what the rows use and Conveyor lacks.

    Returns (pipeline key, stage key) -> (stage pk, position) for every stage the rows use,
    reason key -> pk, and pipeline key -> segment pk.
    """
    with_new = plan.create_missing
    used_stages: set[tuple[str, str]] = set()
    used_reasons: set[str] = set()
    for row in rows:
        pipeline = plan.pipelines[row.pipeline]
        stage = pipeline.resolve(row.stage, with_new=with_new)
        assert stage is not None, "the planner refuses rows without a stage"
        row.stage = stage
        used_stages.add((row.pipeline, stage))
        if row.reason:
            used_reasons.add(row.reason)
    used_pipelines = {pipeline for pipeline, _stage in used_stages}
    stage_ids: dict[tuple[str, str], tuple[int, int]] = {}
    segments: dict[str, int | None] = {}
    for key in [key for key in plan.pipelines if key in used_pipelines]:
        info = plan.pipelines[key]
        if info.pk is None:
            # A new pipeline gets a segment of its own name (each segment has its own funnels);
            # an existing segment of that name is reused.
            segment, _created = Segment.objects.get_or_create(name=info.name[:120])
            created = Pipeline.objects.create(
                name=info.name, segment=segment, process=Process.CONVERSION
            )
            info.pk, info.segment_id = created.pk, segment.pk
            written.pipelines.append(info.name)
        segments[key] = info.segment_id
        top = max((s.position for s in info.stages.values() if s.pk is not None), default=0)
        for stage_key in info.new_stages:
            if (key, stage_key) not in used_stages:
                continue
            stage_info = info.stages[stage_key]
            top += 1
            new_stage = Stage.objects.create(
                pipeline_id=info.pk, position=top, name=stage_info.name
            )
            stage_info.pk, stage_info.position = new_stage.pk, top
            written.stages.append(f"{info.name} / {stage_info.name}")
        for pipeline_key, stage_key in used_stages:
            if pipeline_key == key:
                stage_info = info.stages[stage_key]
                assert stage_info.pk is not None
                stage_ids[(key, stage_key)] = (stage_info.pk, stage_info.position)
    reason_ids: dict[str, int] = {}
    for key in [key for key in plan.reasons if key in used_reasons]:
        reason = plan.reasons[key]
        if reason.pk is None:
            reason.pk = LossReason.objects.create(name=reason.name).pk
            written.loss_reasons.append(reason.name)
        reason_ids[key] = reason.pk
    return stage_ids, reason_ids, segments


def _storage_time(db: Db) -> Callable[[dt.datetime], Any]:
    """An aware datetime as the backend stores it: itself on PostgreSQL; on SQLite the naive
    UTC text Django writes (`str()` of the naive value), without the cost of `astimezone`."""
    if db.pg:
        return lambda value: value

    def naive_utc_text(value: dt.datetime) -> str:
        offset = value.utcoffset()
        naive = value.replace(tzinfo=None)
        return (naive - offset if offset else naive).isoformat(" ")

    return naive_utc_text


class _Writer:
    def __init__(
        self,
        plan: Plan,
        rows: list[PlannedRow],
        db: Db,
        stage_ids: dict[tuple[str, str], tuple[int, int]],
        reason_ids: dict[str, int],
        segments: dict[str, int | None],
        written: Written,
        by: User | None,
    ) -> None:
        self.plan = plan
        self.by = by
        self.rows = rows
        self.db = db
        self.stage_ids = stage_ids
        self.reason_ids = reason_ids
        self.segments = segments
        self.written = written
        self._writers: list[Any] = []

    def _writer(
        self, model: type[models.Model], columns: list[str]
    ) -> Callable[[tuple[Any, ...]], None]:
        """An `add(row)` for `model`'s table; columns not given get the model's defaults."""
        extra, values = model_defaults(model, columns, connection)
        writer = self.db.writer(model._meta.db_table, [*columns, *extra], values)
        self._writers.append(writer)
        return writer.add

    def run(self) -> None:
        plan, rows, db = self.plan, self.rows, self.db
        written = self.written
        when = _storage_time(db)
        now = timezone.now()
        # Each row's times as stored, converted once for the deal, its history and its lead.
        self.opened = [when(row.opened_at or now) for row in rows]
        self.closed = [None if row.closed_at is None else when(row.closed_at) for row in rows]
        # The length of each closed deal's one stay (kept on its history row for the reports).
        self.stays = [
            None if row.closed_at is None else micros_between(row.opened_at or now, row.closed_at)
            for row in rows
        ]

        # Primary keys up front, so deals can point at people and companies without reading
        # anything back.
        company_pks: list[int] = []
        if plan.companies:
            ids = IdAllocator(db, Company)
            company_pks = [ids.take() for _name in plan.companies]
        people_pks: list[int] = []
        if plan.people:
            ids = IdAllocator(db, Person)
            people_pks = [ids.take() for _person in plan.people]
        deal_ids = IdAllocator(db, Deal)
        deal_pks = [deal_ids.take() for _row in rows]
        person_of = [
            row.person if row.person_action == PERSON_EXISTING else people_pks[row.person]
            for row in rows
        ]
        purchase = self._purchase_numbers(rows, deal_pks, person_of)
        earlier_buyers = self._earlier_buyers(rows, person_of)

        tables = [
            (Company, len(company_pks)),
            (Person, len(people_pks)),
            (Deal, len(rows)),
            (StageChange, 2 * len(rows)),
            (Lead, len(rows)),
        ]
        if db.pg:
            # Check what is pending now (the rows this transaction wrote before, e.g. new
            # stages): PostgreSQL refuses to drop a foreign key of a table with pending checks.
            db.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with ExitStack() as stack:
            for model, incoming in tables:
                stack.enter_context(
                    db.indexes_rebuilt_afterwards(model._meta.db_table, incoming=incoming)
                )
            if company_pks:
                add_company = self._writer(Company, ["id", "name", "created_at"])
                for pk, name in zip(company_pks, plan.companies, strict=True):
                    add_company((pk, name, when(now)))
                written.companies = len(company_pks)
                # Each table is complete before the next one points at it: on PostgreSQL the
                # foreign keys are checked per statement here (see SET CONSTRAINTS above).
                self._flush()
            if people_pks:
                add_person = self._writer(
                    Person,
                    [
                        "id",
                        "name",
                        "email",
                        "phone",
                        "company_id",
                        "source",
                        "owner_id",
                        "created_at",
                        "external_id",
                    ],
                )
                for pk, person in zip(people_pks, plan.people, strict=True):
                    company = person.company
                    if company is not None and company < 0:
                        company = company_pks[-company - 1]
                    add_person(
                        (
                            pk,
                            person.name,
                            person.email,
                            person.phone,
                            company,
                            person.source,
                            person.owner_id,
                            when(person.created_at),
                            person.external_id,
                        )
                    )
                written.people = len(people_pks)
            self._flush()
            self._write_deals(rows, deal_pks, person_of, purchase)
            self._flush()
            self._write_history(rows, deal_pks)
            self._flush()
            self._write_leads(rows, deal_pks, person_of)
            self._flush()
        if db.pg:
            db.execute("SET CONSTRAINTS ALL DEFERRED")  # as Django declares them
        for buyer in sorted(earlier_buyers):
            purchases_renumber(buyer, by=self.by)
        person_purchases_refresh(
            person_ids={
                person for row, person in zip(rows, person_of, strict=True) if row.status == WON
            }
        )

    def _flush(self) -> None:
        for writer in self._writers:
            writer.flush()
        self._writers = []

    @staticmethod
    def _purchase_numbers(
        rows: list[PlannedRow], deal_pks: list[int], person_of: list[int]
    ) -> dict[int, int]:
        """Deal pk -> purchase number: 1..n over each person's won deals of this import, by
        win time then id (people who bought before are renumbered after the insert)."""
        won: dict[int, list[tuple[Any, int]]] = {}
        for row, pk, person in zip(rows, deal_pks, person_of, strict=True):
            if row.status == WON:
                won.setdefault(person, []).append((row.closed_at, pk))
        numbers: dict[int, int] = {}
        for deals in won.values():
            deals.sort()
            for number, (_closed, pk) in enumerate(deals, start=1):
                numbers[pk] = number
        return numbers

    def _earlier_buyers(self, rows: list[PlannedRow], person_of: list[int]) -> set[int]:
        """Existing people who get a won deal here and already had one: to renumber."""
        candidates = sorted(
            {
                person
                for row, person in zip(rows, person_of, strict=True)
                if row.status == WON and row.person_action == PERSON_EXISTING
            }
        )
        found: set[int] = set()
        table = Deal._meta.db_table
        for start in range(0, len(candidates), 500):
            chunk = candidates[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            found.update(
                person
                for (person,) in self.db.fetchall(
                    f"SELECT DISTINCT person_id FROM {table} "
                    f"WHERE status = %s AND person_id IN ({marks})",
                    [WON, *chunk],
                )
            )
        return found

    def _write_deals(
        self,
        rows: list[PlannedRow],
        deal_pks: list[int],
        person_of: list[int],
        purchase: dict[int, int],
    ) -> None:
        add = self._writer(
            Deal,
            [
                "id",
                "external_id",
                "person_id",
                "pipeline_id",
                "stage_id",
                "owner_id",
                "title",
                "amount",
                "currency",
                "status",
                "opened_at",
                "closed_at",
                "stage_entered_at",
                "lost_reason_id",
                "lost_stage_id",
                "purchase_number",
                "max_position",
                "touches_to_win",
            ],
        )
        pipelines = self.plan.pipelines
        stage_ids, reason_ids = self.stage_ids, self.reason_ids
        for row, pk, person, opened, closed in zip(
            rows, deal_pks, person_of, self.opened, self.closed, strict=True
        ):
            stage, position = stage_ids[(row.pipeline, row.stage)]
            add(
                (
                    pk,
                    row.deal_ext,
                    person,
                    pipelines[row.pipeline].pk,
                    stage,
                    row.owner_id,
                    row.title,
                    row.amount,
                    row.currency,
                    row.status,
                    opened,
                    closed,
                    opened,
                    reason_ids[row.reason] if row.status == LOST else None,
                    stage if row.status == LOST else None,
                    purchase.get(pk),
                    position,
                    0 if row.status == WON else None,  # no touches come with the import
                )
            )
        self.written.deals = len(rows)

    def _write_history(self, rows: list[PlannedRow], deal_pks: list[int]) -> None:
        add = self._writer(
            StageChange,
            [
                "deal_id",
                "kind",
                "from_stage_id",
                "to_stage_id",
                "at",
                "left_at",
                "stay_us",
                "deal_pipeline_id",
                "deal_opened_at",
            ],
        )
        enter = str(ChangeKind.ENTER)
        stage_ids = self.stage_ids
        pipelines = self.plan.pipelines
        count = 0
        for row, pk, opened, closed, stay in zip(
            rows, deal_pks, self.opened, self.closed, self.stays, strict=True
        ):
            stage = stage_ids[(row.pipeline, row.stage)][0]
            pipeline = pipelines[row.pipeline].pk
            add((pk, enter, None, stage, opened, closed, stay, pipeline, opened))
            count += 1
            if row.status != OPEN:
                add((pk, row.status, stage, None, closed, None, None, pipeline, opened))
                count += 1
        self.written.stage_changes = count

    def _write_leads(
        self, rows: list[PlannedRow], deal_pks: list[int], person_of: list[int]
    ) -> None:
        add = self._writer(
            Lead,
            [
                "channel",
                "status",
                "received_at",
                "payload",
                "name",
                "email",
                "phone",
                "source",
                "segment_id",
                "person_id",
                "deal_id",
                "idempotency_key",
            ],
        )
        plan = self.plan
        file_name = plan.table.name
        channel, status = str(LeadChannel.IMPORT), str(LeadStatus.ACCEPTED)
        segments = self.segments
        # The columns no field was read from (custom fields, notes, ...) would be lost
        # otherwise: each lead keeps its row's non-empty ones.
        mapped = set(plan.mapping.values())
        others = [(i, name) for i, name in enumerate(plan.table.header) if name not in mapped]
        # One encoder for all rows: json.dumps with options builds a new one per call.
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        for row, pk, person, opened in zip(rows, deal_pks, person_of, self.opened, strict=True):
            cells = row.cells
            payload: dict[str, Any] = {
                "import": {"source": plan.source, "file": file_name, "line": row.line}
            }
            if others:
                payload["other_columns"] = {name: cells[i] for i, name in others if cells[i]}
            add(
                (
                    channel,
                    status,
                    opened,
                    dumps(payload),
                    row.name,
                    row.email,
                    row.phone,
                    row.source,
                    segments[row.pipeline],
                    person,
                    pk,
                    f"import:{row.deal_ext}",
                )
            )
        self.written.leads = len(rows)
