"""`import_dataset`: load a DESIGN §5 folder in one transaction, all or nothing.

How it works, and why:

* Every file is streamed once, in dependency order, with the csv module. Each row is checked
  (types, enums, references, cross-field rules); problems are collected as file:line:column
  errors and the import goes on, so one run reports them all. If there is any, the
  transaction is rolled back and `DatasetInvalid` is raised: nothing is left half-written.
* Ids are kept: each model with `external_id` gets the file's id, and a record whose external
  id already exists is skipped, never updated, so importing a folder twice changes nothing.
* Internal primary keys are reserved up front (`IdAllocator`), so a later file can point at
  an earlier one's rows from a plain dict external id -> pk, without reading anything back.
  Only these dicts (and a few compact arrays per deal) are held in memory; a 10M-row file
  is streamed.
* Small catalogues and people go straight to their tables. Deals, stage changes and touches
  go to TEMP staging tables first (COPY / executemany), and the fields the services keep for
  live changes (current stage, time in stage, highest position, lost stage, purchase number,
  outcome rows, left_at) are computed set-based in SQL by the final INSERT ... SELECT
  statements, so every CHECK constraint holds at every statement.
* Where the time goes at scale: the database's own work on the final tables (12 indexes on
  stage changes and touches; on PostgreSQL one foreign-key trigger per row and key, checked
  per chunk of rows so their queue stays small). Parsing is a few microseconds a row, except
  people, whose phones go through `phonenumbers`.
"""

# ruff: noqa: S608 - SQL is composed only of model table/column names and module constants;
# every value travels as a query parameter.
from __future__ import annotations

import datetime as dt
import math
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, models, transaction

from conveyor.accounts.models import Role, SalesPlan, Team, User
from conveyor.analytics.models import Expense
from conveyor.core.audit import audit_summary
from conveyor.core.db import micros_between_sql, statistics_refresh
from conveyor.core.fields import max_length
from conveyor.core.phones import normalize_phone
from conveyor.dataset.bulk import Db, IdAllocator, model_defaults
from conveyor.dataset.reader import (
    BadValue,
    CsvSource,
    ErrorLog,
    RowError,
    parse_bool,
    parse_choice,
    parse_count,
    parse_date,
    parse_datetime,
    parse_money,
    parse_month,
)
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import (
    ChangeKind,
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Process,
    Segment,
    Stage,
    StageChange,
)
from conveyor.touches.models import Channel, Outcome, Touch, TouchKind

__all__ = ["DatasetInvalid", "FileCount", "ImportResult", "import_dataset"]

ROLES = tuple(Role.values)
PROCESSES = tuple(Process.values)
STATUSES = tuple(DealStatus.values)
TOUCH_KINDS = tuple(TouchKind.values)
CHANNELS = tuple(Channel.values)
OUTCOMES = ("", *Outcome.values)
OPEN, WON, LOST = str(DealStatus.OPEN), str(DealStatus.WON), str(DealStatus.LOST)

# Staging tables (session-private TEMP tables, dropped at the end).
T_DEAL = "conveyor_import_deal"
T_CHANGE = "conveyor_import_change"
T_LAST = "conveyor_import_last"
T_TOUCH = "conveyor_import_touch"
# A touch's place in its deal's history (touches.placement), computed as the touches go in.
PLACED = ("stage_id", "deal_pipeline_id", "deal_opened_at")
# Sorts an outcome row (won/lost) after every stage change at the same instant.
OUTCOME_SEQ = 2**62
# Rows per INSERT ... SELECT into the big tables. PostgreSQL queues one foreign-key check per
# row and key until its statement ends (~12 bytes each), so one 10M-row statement would hold
# half a gigabyte of them; chunks keep that bounded. Deals per chunk of stage changes:
CHUNK_DEALS = 100_000
# and touches.csv lines per chunk of touches:
CHUNK_LINES = 1_000_000

_NEW = 1  # the row creates a record (its external id was not in the database)
_CHANGED = 2  # a new deal with at least one row in stage_changes.csv


@dataclass
class FileCount:
    """Per file: rows read, records inserted, rows skipped because they exist already."""

    read: int = 0
    inserted: int = 0
    skipped: int = 0


@dataclass
class ImportResult:
    files: dict[str, FileCount]
    seconds: float
    # Records the importer made that are not rows of a file (teams, companies, the first
    # stage change of deals without history, won/lost outcome rows).
    derived: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(count.read for count in self.files.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class DatasetInvalid(Exception):
    """The dataset has errors; nothing was written. `errors` holds the first ones, `total`
    counts all."""

    def __init__(self, errors: list[RowError], total: int | None = None) -> None:
        self.errors = errors
        self.total = len(errors) if total is None else total
        first = f": {errors[0]}" if errors else ""
        super().__init__(f"the dataset has {self.total} error(s){first}")


class Writable(Protocol):
    """Where progress goes: a TextIO, or a management command's OutputWrapper."""

    def write(self, text: str, /) -> Any: ...


def import_dataset(path: Path, *, stdout: Writable | None = None) -> ImportResult:
    """Import the dataset folder `path`; progress lines go to `stdout` when given."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetInvalid([RowError(str(path), None, None, "is not a folder")])
    started = time.perf_counter()
    with transaction.atomic():
        importer = _Importer(path, stdout)
        try:
            importer.run()
        finally:
            importer.db.close()
        # One entry for the run: per-row entries would double an import of millions of rows.
        audit_summary(
            actor=None,
            record_type="dataset.import",
            counts={
                name.removesuffix(".csv"): count.inserted for name, count in importer.counts.items()
            },
            note=path.name,
        )
    statistics_refresh(full=True)  # millions of new rows: plan the reports by them
    return ImportResult(
        files=importer.counts, seconds=time.perf_counter() - started, derived=importer.derived
    )


def _table(model: type[models.Model]) -> str:
    return model._meta.db_table


def purchase_facts_fill(db: Db) -> None:
    """Set every buyer's purchase facts (`people.PURCHASE_FACTS`, what
    `pipelines.services.person_purchases_refresh` keeps) in two set-based statements. Only
    right where facts can only appear or move earlier, as when rows are added (an import, the
    migration that brought the columns): nobody loses a purchase or a referral here."""
    person, deal = _table(Person), _table(Deal)
    db.execute(
        f"""
        UPDATE {person} SET first_won_at = w.first, repeat_won_at = w.second
        FROM (
            SELECT person_id,
                   MAX(CASE WHEN purchase_number = 1 THEN closed_at END) AS first,
                   MAX(CASE WHEN purchase_number = 2 THEN closed_at END) AS second
            FROM {deal} WHERE status = %s AND purchase_number <= 2
            GROUP BY person_id
        ) w
        WHERE {person}.id = w.person_id
        """,
        [WON],
    )
    db.execute(
        f"""
        UPDATE {person} SET referral_won_at = r.earliest
        FROM (
            SELECT referred_by_id, MIN(first_won_at) AS earliest FROM {person}
            WHERE referred_by_id IS NOT NULL AND first_won_at IS NOT NULL
            GROUP BY referred_by_id
        ) r
        WHERE {person}.id = r.referred_by_id
        """
    )


class _Registry:
    """External id -> (slot ->) internal id for one model, and where in the file it was defined.

    `lines[slot]` is 0 for a record only known from the database, so a second row with the
    same id in the file is told apart from a re-import.
    """

    def __init__(self) -> None:
        self.slots: dict[str, int] = {}
        self.ids = array("q")
        self.lines = array("q")
        self.state = bytearray()

    def add(self, ext: str, pk: int, line: int, state: int) -> int:
        slot = len(self.ids)
        self.slots[ext] = slot
        self.ids.append(pk)
        self.lines.append(line)
        self.state.append(state)
        return slot

    def pk(self, ext: str) -> int | None:
        slot = self.slots.get(ext)
        return None if slot is None else self.ids[slot]


class _Deals(_Registry):
    """Deals also keep what stage changes and touches are checked against."""

    def __init__(self) -> None:
        super().__init__()
        self.pipeline = array("q")
        self.person = array("q")
        self.opened = array("d")  # POSIX timestamps; NaN when unknown
        self.closed = array("d")  # +inf for open (or unknown) deals

    def add_deal(self, ext: str, pk: int, line: int, state: int, pipeline: int, person: int) -> int:
        slot = self.add(ext, pk, line, state)
        self.pipeline.append(pipeline)
        self.person.append(person)
        self.opened.append(math.nan)
        self.closed.append(math.inf)
        return slot


class _Importer:
    def __init__(self, folder: Path, stdout: Writable | None) -> None:
        self.folder = folder
        self.stdout = stdout
        self.started = time.perf_counter()
        self.errors = ErrorLog()
        self.db = Db(connection)
        self.counts: dict[str, FileCount] = {}
        self.derived: dict[str, int] = {}
        self.users = _Registry()
        self.segments = _Registry()
        self.pipelines = _Registry()
        self.stages = _Registry()
        self.loss_reasons = _Registry()
        self.people = _Registry()
        self.deals = _Deals()
        # stage pk -> (pipeline pk, position); pipeline pk -> its first stage's pk
        self.stage_info: dict[int, tuple[int, int]] = {}
        self.first_stage: dict[int, int] = {}
        self.pipeline_label: dict[int, str] = {}
        self._writers: list[Any] = []
        self.touch_lines = 0

    # --- driver ----------------------------------------------------------------------------

    def run(self) -> None:
        self._preload()
        self._create_staging()
        self._load_users()
        self._load_segments()
        self._load_pipelines()
        self._load_stages()
        self._load_loss_reasons()
        self._load_people()
        self._load_deals()
        self._load_stage_changes()
        self._load_touches()
        self._load_expenses()
        self._load_plans()
        if self.errors:
            self._check_touch_ids()
            self._fail()
        self._say("deriving deal fields and stage history ...")
        self._finish_deals()
        self._say("inserting touches ...")
        self._finish_touches()
        self._say("people's purchase facts ...")
        purchase_facts_fill(self.db)
        if self.errors:
            self._fail()
        self._say("committing ...")
        for table in (T_DEAL, T_CHANGE, T_LAST, T_TOUCH):
            self.db.drop_temp(table)

    def _fail(self) -> None:
        raise DatasetInvalid(self.errors.errors, self.errors.total)

    def _say(self, message: str) -> None:
        if self.stdout is not None:
            elapsed = time.perf_counter() - self.started
            self.stdout.write(f"[{elapsed:7.1f} s] {message}\n")

    def _source(self, name: str) -> CsvSource:
        self.counts[name] = FileCount()
        return CsvSource(self.folder, name, self.errors)

    def _done(self, name: str, source: CsvSource) -> None:
        self.counts[name].read = source.rows_read
        self._say(f"{name}: {source.rows_read:,} rows read")

    def _define(
        self, registry: _Registry, allocator: IdAllocator, name: str, line: int, ext: str
    ) -> tuple[int, bool] | None:
        """Register a row's id: (slot, is new), or None when the id repeats in the file."""
        if not ext:
            self.errors.add(name, line, "id", "the id is empty")
            return None
        if len(ext) > 64:
            self.errors.add(name, line, "id", f"{ext[:20]!r}... is longer than 64 characters")
            return None
        slot = registry.slots.get(ext)
        if slot is None:
            return registry.add(ext, allocator.take(), line, _NEW), True
        if registry.lines[slot]:
            self.errors.add(
                name, line, "id", f"duplicate id {ext!r} (first on line {registry.lines[slot]})"
            )
            return None
        registry.lines[slot] = line
        return slot, False

    def _ref(
        self, registry: _Registry, name: str, line: int, column: str, raw: str, what: str
    ) -> tuple[bool, int | None]:
        """Resolve an optional reference: (ok, pk or None when empty)."""
        ext = raw.strip()
        if not ext:
            return True, None
        slot = registry.slots.get(ext)
        if slot is None:
            self.errors.add(name, line, column, f"unknown {what} {ext!r}")
            return False, None
        return True, registry.ids[slot]

    def _text(
        self, name: str, line: int, column: str, raw: str, limit: int, *, required: bool = False
    ) -> str | None:
        value = raw.strip()
        if required and not value:
            self.errors.add(name, line, column, "a value is required")
            return None
        if len(value) > limit:
            self.errors.add(name, line, column, f"is longer than {limit} characters")
            return None
        return value

    def _writer(
        self, model: type[models.Model], columns: list[str]
    ) -> Callable[[tuple[Any, ...]], None]:
        """An `add(row)` for a final table; columns the dataset lacks get the model defaults."""
        extra, values = model_defaults(model, columns, connection)
        writer = self.db.writer(model._meta.db_table, [*columns, *extra], values)
        self._writers.append(writer)
        return writer.add

    def _flush(self) -> None:
        for writer in self._writers:
            writer.flush()
        self._writers = []

    # --- what is already there -------------------------------------------------------------

    def _preload(self) -> None:
        """External ids already in the database, and the names that must stay unique."""
        db = self.db
        for registry, model in (
            (self.users, User),
            (self.segments, Segment),
            (self.pipelines, Pipeline),
            (self.loss_reasons, LossReason),
            (self.people, Person),
        ):
            table = model._meta.db_table
            for ext, pk in db.stream(
                f"SELECT external_id, id FROM {table} WHERE external_id IS NOT NULL"
            ):
                registry.add(ext, pk, 0, 0)
        for ext, pk, pipeline, position in db.stream(
            f"SELECT external_id, id, pipeline_id, position FROM {_table(Stage)}"
            " WHERE external_id IS NOT NULL"
        ):
            self.stages.add(ext, pk, 0, 0)
            self.stage_info[pk] = (pipeline, position)
        for ext, pk, pipeline, person in db.stream(
            f"SELECT external_id, id, pipeline_id, person_id FROM {_table(Deal)}"
            " WHERE external_id IS NOT NULL"
        ):
            self.deals.add_deal(ext, pk, 0, 0, pipeline, person)
        self.user_emails = {
            row[0].lower() for row in db.fetchall(f"SELECT email FROM {_table(User)}")
        }
        self.teams = {name: pk for pk, name in db.fetchall(f"SELECT id, name FROM {_table(Team)}")}
        self.segment_names = {row[0] for row in db.fetchall(f"SELECT name FROM {_table(Segment)}")}
        self.pipeline_names: set[str] = set()
        for pk, name, ext in db.fetchall(f"SELECT id, name, external_id FROM {_table(Pipeline)}"):
            self.pipeline_names.add(name)
            self.pipeline_label[pk] = ext or name
        # Open positions per pipeline (new stages must not collide) and each first stage.
        self.positions: dict[tuple[int, int], int] = {}
        first: dict[int, tuple[int, int]] = {}
        for pk, pipeline, position in db.fetchall(
            f"SELECT id, pipeline_id, position FROM {_table(Stage)} WHERE is_archived = %s", [False]
        ):
            self.positions[(pipeline, position)] = 0
            self.stage_info.setdefault(pk, (pipeline, position))
            if pipeline not in first or position < first[pipeline][0]:
                first[pipeline] = (position, pk)
        self.first_position = first
        self.companies: dict[str, int] = {}
        for pk, name in db.stream(f"SELECT id, name FROM {_table(Company)} ORDER BY id DESC"):
            self.companies[name] = pk  # the oldest company of a name wins
        self.plans = {
            (user, self._month_key(month))
            for user, month in db.fetchall(
                f"SELECT user_id, month FROM {_table(SalesPlan)} WHERE user_id IS NOT NULL"
            )
        }
        self.expenses = {
            (channel, str(start), str(end))
            for channel, start, end in db.fetchall(
                f"SELECT channel, period_start, period_end FROM {_table(Expense)}"
            )
        }

    @staticmethod
    def _month_key(value: Any) -> str:
        return str(value)[:7]

    def _create_staging(self) -> None:
        db = self.db
        if db.pg:
            # Sorting 10M stage changes for the window functions wants more than the default.
            db.execute("SET LOCAL work_mem = '128MB'")
        db.create_temp(
            T_DEAL,
            [
                ("id", "id"),
                ("ext", "text"),
                ("person_id", "int"),
                ("pipeline_id", "int"),
                ("owner_id", "int"),
                ("title", "text"),
                ("amount", "money"),
                ("currency", "text"),
                ("status", "text"),
                ("opened_at", "ts"),
                ("closed_at", "ts"),
                ("lost_reason_id", "int"),
                ("refused_by_us", "bool"),
            ],
            pk="id",
        )
        db.create_temp(
            T_CHANGE,
            [
                ("deal_id", "int"),
                ("seq", "int"),
                ("kind", "text"),
                ("from_stage_id", "int"),
                ("to_stage_id", "int"),
                ("at", "ts"),
                ("user_id", "int"),
            ],
        )
        db.create_temp(
            T_LAST,
            [("deal_id", "id"), ("stage_id", "int"), ("entered_at", "ts"), ("max_position", "int")],
            pk="deal_id",
        )
        db.create_temp(
            T_TOUCH,
            [
                ("line", "int"),
                ("ext", "text"),
                ("deal_id", "int"),
                ("person_id", "int"),
                ("user_id", "int"),
                ("at", "ts"),
                ("kind", "text"),
                ("channel", "text"),
                ("outcome", "text"),
            ],
            pk="line",
        )

    # --- catalogues ------------------------------------------------------------------------

    def _load_users(self) -> None:
        name = "users.csv"
        src = self._source(name)
        count = self.counts[name]
        err = self.errors.add
        ids = IdAllocator(self.db, User)
        ix = src.index
        name_max, email_max, team_max = (
            max_length(User, "name"),
            max_length(User, "email"),
            max_length(Team, "name"),
        )
        emails: dict[str, int] = {}
        new_users: list[tuple[int, str, str, str, str]] = []
        for line, row in src:
            defined = self._define(self.users, ids, name, line, row[ix["id"]].strip())
            full_name = self._text(name, line, "name", row[ix["name"]], name_max)
            email = self._text(name, line, "email", row[ix["email"]], email_max, required=True)
            team = self._text(name, line, "team", row[ix["team"]], team_max)
            try:
                role = parse_choice(row[ix["role"]], ROLES)
            except BadValue as exc:
                err(name, line, "role", exc.message)
                role = ""
            if email is not None:
                email = email.lower()
                if "@" not in email:
                    err(name, line, "email", f"{email!r} is not an e-mail address")
                    email = None
                elif email in emails:
                    err(name, line, "email", f"{email!r} repeats (first on line {emails[email]})")
                    email = None
                else:
                    emails[email] = line
            if defined is None:
                continue
            slot, is_new = defined
            if not is_new:
                count.skipped += 1
                continue
            if email is not None and email in self.user_emails:
                err(name, line, "email", f"{email!r} belongs to another user already")
                continue
            if full_name is None or email is None or team is None or not role:
                continue
            new_users.append((self.users.ids[slot], full_name, email, role, team))
        self._done(name, src)
        if not new_users:
            return
        # Teams by name, created once; a new team's head is its first user with the head role.
        team_ids = IdAllocator(self.db, Team)
        add_team = self._writer(Team, ["id", "name", "head_id"])
        created = 0
        for user in new_users:
            team = user[4]
            if team and team not in self.teams:
                self.teams[team] = team_ids.take()
                head = next((u[0] for u in new_users if u[4] == team and u[3] == Role.HEAD), None)
                add_team((self.teams[team], team, head))
                created += 1
        self.derived["teams"] = created
        add_user = self._writer(
            User, ["id", "name", "email", "role", "team_id", "password", "external_id"]
        )
        exts = {self.users.ids[slot]: ext for ext, slot in self.users.slots.items()}
        for pk, full_name, email, role, team in new_users:
            add_user(
                (pk, full_name, email, role, self.teams.get(team), make_password(None), exts[pk])
            )
        count.inserted = len(new_users)
        self._flush()

    def _first_use(
        self, name: str, line: int, title: str | None, seen: dict[str, int]
    ) -> str | None:
        """`title`, or None (with an error) when an earlier line of the file used it."""
        if title is None:
            return None
        if title in seen:
            self.errors.add(name, line, "name", f"{title!r} repeats (first on line {seen[title]})")
            return None
        seen[title] = line
        return title

    def _load_segments(self) -> None:
        name = "segments.csv"
        src = self._source(name)
        count = self.counts[name]
        ids = IdAllocator(self.db, Segment)
        add = self._writer(Segment, ["id", "name", "external_id"])
        ix = src.index
        limit = max_length(Segment, "name")
        seen: dict[str, int] = {}
        for line, row in src:
            ext = row[ix["id"]].strip()
            defined = self._define(self.segments, ids, name, line, ext)
            title = self._text(name, line, "name", row[ix["name"]], limit, required=True)
            title = self._first_use(name, line, title, seen)
            if defined is None:
                continue
            slot, is_new = defined
            if not is_new:
                count.skipped += 1
                continue
            if title is not None and title in self.segment_names:
                self.errors.add(name, line, "name", f"a segment {title!r} exists already")
                continue
            if title is not None:
                add((self.segments.ids[slot], title, ext))
                count.inserted += 1
        self._flush()
        self._done(name, src)

    def _load_pipelines(self) -> None:
        name = "pipelines.csv"
        src = self._source(name)
        count = self.counts[name]
        ids = IdAllocator(self.db, Pipeline)
        add = self._writer(Pipeline, ["id", "name", "segment_id", "process", "external_id"])
        ix = src.index
        limit = max_length(Pipeline, "name")
        seen: dict[str, int] = {}
        for line, row in src:
            ext = row[ix["id"]].strip()
            defined = self._define(self.pipelines, ids, name, line, ext)
            title = self._text(name, line, "name", row[ix["name"]], limit, required=True)
            title = self._first_use(name, line, title, seen)
            ok, segment = self._ref(
                self.segments, name, line, "segment_id", row[ix["segment_id"]], "segment"
            )
            try:
                process = parse_choice(row[ix["process"]], PROCESSES)
            except BadValue as exc:
                self.errors.add(name, line, "process", exc.message)
                ok = False
            if defined is None:
                continue
            slot, is_new = defined
            pk = self.pipelines.ids[slot]
            if not is_new:
                count.skipped += 1
                continue
            if title is not None:
                self.pipeline_label[pk] = ext
                if title in self.pipeline_names:
                    self.errors.add(name, line, "name", f"a pipeline {title!r} exists already")
                    continue
            if ok and title is not None:
                add((pk, title, segment, process, ext))
                count.inserted += 1
        self._flush()
        self._done(name, src)

    def _load_stages(self) -> None:
        name = "stages.csv"
        src = self._source(name)
        count = self.counts[name]
        ids = IdAllocator(self.db, Stage)
        add = self._writer(
            Stage,
            [
                "id",
                "pipeline_id",
                "position",
                "name",
                "exit_criterion",
                "is_key_meeting",
                "external_id",
            ],
        )
        ix = src.index
        name_max, exit_max = max_length(Stage, "name"), max_length(Stage, "exit_criterion")
        for line, row in src:
            ext = row[ix["id"]].strip()
            defined = self._define(self.stages, ids, name, line, ext)
            ok, pipeline = self._ref(
                self.pipelines, name, line, "pipeline_id", row[ix["pipeline_id"]], "pipeline"
            )
            if ok and pipeline is None:
                self.errors.add(name, line, "pipeline_id", "a value is required")
                ok = False
            title = self._text(name, line, "name", row[ix["name"]], name_max, required=True)
            exit_criterion = self._text(
                name, line, "exit_criterion", row[ix["exit_criterion"]], exit_max
            )
            try:
                position = parse_count(row[ix["position"]], minimum=1)
                if position > 32767:
                    raise BadValue(f"{position} is too large")
            except BadValue as exc:
                self.errors.add(name, line, "position", exc.message)
                position = 0
            try:
                key_meeting = parse_bool(row[ix["is_key_meeting"]])
            except BadValue as exc:
                self.errors.add(name, line, "is_key_meeting", exc.message)
                ok = False
            if defined is None:
                continue
            slot, is_new = defined
            pk = self.stages.ids[slot]
            if not is_new:
                count.skipped += 1
                continue
            if pipeline is None or not position:
                continue
            self.stage_info[pk] = (pipeline, position)
            taken = self.positions.get((pipeline, position))
            if taken is not None:
                where = f"line {taken}" if taken else "the database"
                self.errors.add(
                    name,
                    line,
                    "position",
                    f"position {position} is taken in pipeline "
                    f"{self.pipeline_label.get(pipeline, pipeline)!r} ({where})",
                )
                continue
            self.positions[(pipeline, position)] = line
            if pipeline not in self.first_position or position < self.first_position[pipeline][0]:
                self.first_position[pipeline] = (position, pk)
            if ok and title is not None and exit_criterion is not None:
                add((pk, pipeline, position, title, exit_criterion, key_meeting, ext))
                count.inserted += 1
        self.first_stage = {pipeline: pk for pipeline, (_, pk) in self.first_position.items()}
        self._flush()
        self._done(name, src)

    def _load_loss_reasons(self) -> None:
        name = "loss_reasons.csv"
        src = self._source(name)
        count = self.counts[name]
        ids = IdAllocator(self.db, LossReason)
        # pipeline NULL: the dataset's reasons form the global catalogue.
        add = self._writer(LossReason, ["id", "name", "external_id"])
        ix = src.index
        limit = max_length(LossReason, "name")
        for line, row in src:
            ext = row[ix["id"]].strip()
            defined = self._define(self.loss_reasons, ids, name, line, ext)
            title = self._text(name, line, "name", row[ix["name"]], limit, required=True)
            if defined is None:
                continue
            slot, is_new = defined
            if not is_new:
                count.skipped += 1
            elif title is not None:
                add((self.loss_reasons.ids[slot], title, ext))
                count.inserted += 1
        self._flush()
        self._done(name, src)

    # --- people ----------------------------------------------------------------------------

    def _load_people(self) -> None:
        name = "people.csv"
        src = self._source(name)
        count = self.counts[name]
        err = self.errors.add
        ids = IdAllocator(self.db, Person)
        company_ids = IdAllocator(self.db, Company)
        add = self._writer(
            Person,
            [
                "id",
                "name",
                "email",
                "phone",
                "company_id",
                "source",
                "owner_id",
                "referred_by_id",
                "created_at",
                "external_id",
            ],
        )
        add_company = self._writer(Company, ["id", "name"])
        companies_created = 0
        ix = src.index
        i_id, i_name, i_email, i_phone = ix["id"], ix["name"], ix["email"], ix["phone"]
        i_company, i_source, i_created = ix["company"], ix["source"], ix["created_at"]
        i_owner, i_referrer = ix["owner_id"], ix["referred_by_id"]
        name_max, email_max, phone_max = (
            max_length(Person, "name"),
            max_length(Person, "email"),
            max_length(Person, "phone"),
        )
        company_max, source_max = max_length(Company, "name"), max_length(Person, "source")
        people = self.people
        text = self._text
        db_datetime = self.db.datetime
        # Referrers that appear later in the file: linked once every person is in.
        pending: list[tuple[int, str, int]] = []
        for line, row in src:
            ext = row[i_id].strip()
            defined = self._define(people, ids, name, line, ext)
            ok = True
            full_name = text(name, line, "name", row[i_name], name_max, required=True)
            email = text(name, line, "email", row[i_email], email_max)
            if email:
                email = email.lower()
                if "@" not in email:
                    err(name, line, "email", f"{email!r} is not an e-mail address")
                    ok = False
            phone = row[i_phone].strip()
            if phone:
                phone = normalize_phone(phone)
                if len(phone) > phone_max:
                    err(name, line, "phone", f"is longer than {phone_max} characters")
                    ok = False
            company = text(name, line, "company", row[i_company], company_max)
            source = text(name, line, "source", row[i_source], source_max)
            created_text = row[i_created].strip()
            try:
                created_at = parse_datetime(created_text)
            except BadValue as exc:
                err(name, line, "created_at", exc.message)
                ok = False
            ref_ok, owner = self._ref(self.users, name, line, "owner_id", row[i_owner], "user")
            referrer_ext = row[i_referrer].strip()
            referrer: int | None = None
            if referrer_ext and referrer_ext == ext:
                err(name, line, "referred_by_id", "a person cannot refer themselves")
                ok = False
            elif referrer_ext:
                referrer = people.pk(referrer_ext)
            if defined is None:
                continue
            slot, is_new = defined
            if referrer_ext and referrer_ext != ext and referrer is None:
                # 0: a row imported before, whose referrer only has to exist.
                pending.append((people.ids[slot] if is_new else 0, referrer_ext, line))
            if not is_new:
                count.skipped += 1
                continue
            pk = people.ids[slot]
            if not (ok and ref_ok) or full_name is None or email is None or source is None:
                continue
            if company is None:
                continue
            company_id: int | None = None
            if company:
                company_id = self.companies.get(company)
                if company_id is None:
                    company_id = self.companies[company] = company_ids.take()
                    add_company((company_id, company))
                    companies_created += 1
            add(
                (
                    pk,
                    full_name,
                    email,
                    phone,
                    company_id,
                    source,
                    owner,
                    referrer,
                    db_datetime(created_at, created_text),
                    ext,
                )
            )
            count.inserted += 1
        self._flush()
        links: list[tuple[int, int]] = []
        for pk, referrer_ext, line in pending:
            referrer = people.pk(referrer_ext)
            if referrer is None:
                err(name, line, "referred_by_id", f"unknown person {referrer_ext!r}")
            elif pk:
                links.append((referrer, pk))
        if links and not self.errors:
            self.db.cursor.executemany(
                f"UPDATE {_table(Person)} SET referred_by_id = %s WHERE id = %s", links
            )
        self.derived["companies"] = companies_created
        self._done(name, src)

    # --- deals and their history -----------------------------------------------------------

    def _load_deals(self) -> None:
        name = "deals.csv"
        src = self._source(name)
        count = self.counts[name]
        err = self.errors.add
        ids = IdAllocator(self.db, Deal)
        stage = self.db.writer(
            T_DEAL,
            [
                "id",
                "ext",
                "person_id",
                "pipeline_id",
                "owner_id",
                "title",
                "amount",
                "currency",
                "status",
                "opened_at",
                "closed_at",
                "lost_reason_id",
                "refused_by_us",
            ],
        )
        ix = src.index
        i_id, i_person, i_pipeline, i_title = (
            ix["id"],
            ix["person_id"],
            ix["pipeline_id"],
            ix["title"],
        )
        i_amount, i_currency, i_owner = ix["amount"], ix["currency"], ix["owner_id"]
        i_opened, i_status, i_closed = ix["opened_at"], ix["status"], ix["closed_at"]
        i_reason, i_refused = ix["lost_reason_id"], ix["refused_by_us"]
        title_max = max_length(Deal, "title")
        default_currency = str(settings.CONVEYOR_CURRENCY)
        zero = Decimal(0)
        deals, people, pipelines = self.deals, self.people, self.pipelines
        db_datetime = self.db.datetime
        for line, row in src:
            ext = row[i_id].strip()
            ok = True
            person_ext = row[i_person].strip()
            person = people.pk(person_ext) if person_ext else None
            if person is None:
                err(
                    name,
                    line,
                    "person_id",
                    f"unknown person {person_ext!r}" if person_ext else "a value is required",
                )
                ok = False
            pipeline_ext = row[i_pipeline].strip()
            pipeline = pipelines.pk(pipeline_ext) if pipeline_ext else None
            if pipeline is None:
                err(
                    name,
                    line,
                    "pipeline_id",
                    f"unknown pipeline {pipeline_ext!r}" if pipeline_ext else "a value is required",
                )
                ok = False
            elif pipeline not in self.first_stage:
                err(name, line, "pipeline_id", f"pipeline {pipeline_ext!r} has no stages")
                ok = False
            title = row[i_title].strip()
            if len(title) > title_max:
                err(name, line, "title", f"is longer than {title_max} characters")
                ok = False
            try:
                amount = parse_money(row[i_amount], default=zero)
            except BadValue as exc:
                err(name, line, "amount", exc.message)
                ok = False
            currency = row[i_currency].strip().upper() or default_currency
            if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
                err(name, line, "currency", f"{currency!r} is not an ISO 4217 code such as EUR")
                ok = False
            owner_ok, owner = self._ref(self.users, name, line, "owner_id", row[i_owner], "user")
            ok = ok and owner_ok
            opened_at = closed_at = None
            opened_text = row[i_opened].strip()
            try:
                opened_at = parse_datetime(opened_text)
            except BadValue as exc:
                err(name, line, "opened_at", exc.message)
                ok = False
            status = ""
            try:
                status = parse_choice(row[i_status], STATUSES)
            except BadValue as exc:
                err(name, line, "status", exc.message)
                ok = False
            closed_raw = row[i_closed].strip()
            if status == DealStatus.OPEN and closed_raw:
                err(name, line, "closed_at", "an open deal has no closed_at")
                ok = False
            elif status and status != DealStatus.OPEN:
                try:
                    closed_at = parse_datetime(closed_raw)
                except BadValue as exc:
                    message = f"a {status} deal needs closed_at" if not closed_raw else exc.message
                    err(name, line, "closed_at", message)
                    ok = False
                if closed_at and opened_at and closed_at < opened_at:
                    err(name, line, "closed_at", "is before opened_at")
                    ok = False
            reason_ok, reason = self._ref(
                self.loss_reasons, name, line, "lost_reason_id", row[i_reason], "loss reason"
            )
            ok = ok and reason_ok
            if reason_ok and status == DealStatus.LOST and reason is None:
                err(name, line, "lost_reason_id", "a lost deal needs a loss reason")
                ok = False
            elif reason is not None and status and status != DealStatus.LOST:
                err(name, line, "lost_reason_id", "only a lost deal has a loss reason")
                ok = False
            try:
                refused = parse_bool(row[i_refused])
            except BadValue as exc:
                err(name, line, "refused_by_us", exc.message)
                ok = False
            # Registered after the checks so a bad row still resolves for stage changes and
            # touches (one error, not a cascade of "unknown deal").
            slot = deals.slots.get(ext) if ext else None
            if slot is not None and not deals.lines[slot]:
                deals.lines[slot] = line
                count.skipped += 1
                continue
            if slot is not None or not ext or len(ext) > 64:
                self._define(deals, ids, name, line, ext)  # reports the duplicate / bad id
                continue
            slot = deals.add_deal(ext, ids.take(), line, _NEW, pipeline or 0, person or 0)
            if not ok:
                continue
            assert opened_at is not None
            deals.opened[slot] = opened_at.timestamp()
            if closed_at is not None:
                deals.closed[slot] = closed_at.timestamp()
            stage.add(
                (
                    deals.ids[slot],
                    ext,
                    person,
                    pipeline,
                    owner,
                    title,
                    amount,
                    currency,
                    status,
                    db_datetime(opened_at, opened_text),
                    None if closed_at is None else db_datetime(closed_at, closed_raw),
                    reason,
                    refused,
                )
            )
            count.inserted += 1
        stage.flush()
        self._done(name, src)

    def _load_stage_changes(self) -> None:
        name = "stage_changes.csv"
        src = self._source(name)
        count = self.counts[name]
        err = self.errors.add
        stage = self.db.writer(
            T_CHANGE, ["deal_id", "seq", "kind", "from_stage_id", "to_stage_id", "at", "user_id"]
        )
        add = stage.add
        ix = src.index
        i_deal, i_from, i_to = ix["deal_id"], ix["from_stage_id"], ix["to_stage_id"]
        i_at, i_user = ix["changed_at"], ix["user_id"]
        deals = self.deals
        deal_slots, deal_ids, deal_pipeline, closed = (
            deals.slots,
            deals.ids,
            deals.pipeline,
            deals.closed,
        )
        state = deals.state
        stage_slots, stage_ids = self.stages.slots, self.stages.ids
        user_pk = self.users.pk
        stage_info = self.stage_info
        db_datetime = self.db.datetime
        fromisoformat = dt.datetime.fromisoformat
        enter, move = str(ChangeKind.ENTER), str(ChangeKind.MOVE)
        inf = math.inf
        for line, row in src:
            # The common case (every reference known, an aware time) runs straight through;
            # anything else falls to _stage_change_errors, which says precisely what is wrong.
            deal_ext = row[i_deal].strip()
            from_ext = row[i_from].strip()
            to_ext = row[i_to].strip()
            text = row[i_at].strip()
            user_ext = row[i_user].strip()
            slot = deal_slots.get(deal_ext)
            to_slot = stage_slots.get(to_ext)
            from_slot = stage_slots.get(from_ext) if from_ext else -1
            user = user_pk(user_ext) if user_ext else None
            try:
                at = fromisoformat(text)
            except ValueError:
                at = None
            if (
                slot is None
                or to_slot is None
                or from_slot is None
                or at is None
                or at.tzinfo is None
                or (user is None and user_ext)
            ):
                self._stage_change_errors(line, row, ix)
                continue
            pipeline = deal_pipeline[slot]
            to_stage = stage_ids[to_slot]
            from_stage = stage_ids[from_slot] if from_slot >= 0 else None
            if pipeline and (
                stage_info.get(to_stage, (pipeline,))[0] != pipeline
                or (
                    from_stage is not None
                    and stage_info.get(from_stage, (pipeline,))[0] != pipeline
                )
            ):
                self._stage_change_errors(line, row, ix)
                continue
            flags = state[slot]
            if not flags & _NEW:
                count.skipped += 1  # the deal was imported before, with its history
                continue
            if closed[slot] != inf and at.timestamp() > closed[slot]:
                err(name, line, "changed_at", "is after the deal's closed_at")
                continue
            state[slot] = flags | _CHANGED
            add(
                (
                    deal_ids[slot],
                    line,
                    enter if from_stage is None else move,
                    from_stage,
                    to_stage,
                    db_datetime(at, text),
                    user,
                )
            )
            count.inserted += 1
        # A deal without history starts at its pipeline's first stage when it was opened.
        synthesized = 0
        first_stage = self.first_stage
        for slot, flags in enumerate(state):
            if flags & _NEW and not flags & _CHANGED and not math.isnan(deals.opened[slot]):
                opened = dt.datetime.fromtimestamp(deals.opened[slot], dt.UTC)
                add(
                    (
                        deal_ids[slot],
                        0,
                        enter,
                        None,
                        first_stage[deal_pipeline[slot]],
                        db_datetime(opened),
                        None,
                    )
                )
                synthesized += 1
        stage.flush()
        self.derived["first stage changes"] = synthesized
        self._done(name, src)

    def _stage_change_errors(self, line: int, row: list[str], ix: dict[str, int]) -> None:
        """Report every problem of a stage change row the fast path refused."""
        name = "stage_changes.csv"
        before = self.errors.total
        err = self.errors.add
        deal_ext = row[ix["deal_id"]].strip()
        slot = self.deals.slots.get(deal_ext) if deal_ext else None
        if slot is None:
            message = f"unknown deal {deal_ext!r}" if deal_ext else "a value is required"
            err(name, line, "deal_id", message)
        pipeline = 0 if slot is None else self.deals.pipeline[slot]
        labels = self.pipeline_label
        for column in ("from_stage_id", "to_stage_id"):
            stage_ext = row[ix[column]].strip()
            if not stage_ext:
                if column == "to_stage_id":
                    err(name, line, column, "a value is required")
                continue
            stage = self.stages.pk(stage_ext)
            if stage is None:
                err(name, line, column, f"unknown stage {stage_ext!r}")
                continue
            owner = self.stage_info.get(stage, (0, 0))[0]
            if pipeline and owner and owner != pipeline:
                err(
                    name,
                    line,
                    column,
                    f"stage {stage_ext!r} belongs to pipeline {labels.get(owner)!r},"
                    f" not to the deal's pipeline {labels.get(pipeline)!r}",
                )
        try:
            parse_datetime(row[ix["changed_at"]])
        except BadValue as exc:
            err(name, line, "changed_at", exc.message)
        self._ref(self.users, name, line, "user_id", row[ix["user_id"]], "user")
        if self.errors.total == before:  # the two paths disagree: never drop a row silently
            err(name, line, None, "the row is invalid")

    def _load_touches(self) -> None:
        name = "touches.csv"
        src = self._source(name)
        stage = self.db.writer(
            T_TOUCH,
            ["line", "ext", "deal_id", "person_id", "user_id", "at", "kind", "channel", "outcome"],
        )
        add = stage.add
        ix = src.index
        i_id, i_deal, i_person, i_user = ix["id"], ix["deal_id"], ix["person_id"], ix["user_id"]
        i_at, i_kind, i_channel, i_outcome = ix["at"], ix["kind"], ix["channel"], ix["outcome"]
        deal_slots, deal_ids, deal_person = self.deals.slots, self.deals.ids, self.deals.person
        person_pk, user_pk = self.people.pk, self.users.pk
        db_datetime = self.db.datetime
        fromisoformat = dt.datetime.fromisoformat
        closing = str(TouchKind.CLOSING)
        kinds, channels, outcomes = frozenset(TOUCH_KINDS), frozenset(CHANNELS), frozenset(OUTCOMES)
        for line, row in src:
            # Fast path for a valid row; _touch_errors explains a refused one.
            ext = row[i_id].strip()
            deal_ext = row[i_deal].strip()
            person_ext = row[i_person].strip()
            user_ext = row[i_user].strip()
            text = row[i_at].strip()
            kind = row[i_kind].strip()
            channel = row[i_channel].strip()
            outcome = row[i_outcome].strip()
            deal = person = None
            ok = 0 < len(ext) <= 64
            if deal_ext:
                slot = deal_slots.get(deal_ext)
                if slot is None:
                    ok = False
                else:
                    deal = deal_ids[slot]
                    person = deal_person[slot] or None
            if person_ext:
                own = person_pk(person_ext)
                if own is None or (person is not None and own != person):
                    ok = False
                person = own
            elif not deal_ext:
                ok = False
            user = user_pk(user_ext) if user_ext else None
            try:
                at = fromisoformat(text)
            except ValueError:
                at = None
            if (
                not ok
                or (user is None and user_ext)
                or at is None
                or at.tzinfo is None
                or kind not in kinds
                or channel not in channels
                or outcome not in outcomes
                or (outcome and kind != closing)
            ):
                self._touch_errors(line, row, ix)
                continue
            add((line, ext, deal, person, user, db_datetime(at, text), kind, channel, outcome))
        stage.flush()
        self.touch_lines = src.last_line
        self._done(name, src)

    def _touch_errors(self, line: int, row: list[str], ix: dict[str, int]) -> None:
        """Report every problem of a touch row the fast path refused."""
        name = "touches.csv"
        before = self.errors.total
        err = self.errors.add
        ext = row[ix["id"]].strip()
        if not ext or len(ext) > 64:
            err(name, line, "id", "the id is empty" if not ext else "is longer than 64 characters")
        person: int | None = None
        deal_ext = row[ix["deal_id"]].strip()
        if deal_ext:
            slot = self.deals.slots.get(deal_ext)
            if slot is None:
                err(name, line, "deal_id", f"unknown deal {deal_ext!r}")
            else:
                person = self.deals.person[slot] or None
        person_ext = row[ix["person_id"]].strip()
        if person_ext:
            own = self.people.pk(person_ext)
            if own is None:
                err(name, line, "person_id", f"unknown person {person_ext!r}")
            elif person is not None and own != person:
                message = f"{person_ext!r} is not the person of deal {deal_ext!r}"
                err(name, line, "person_id", message)
        elif not deal_ext:
            err(name, line, "person_id", "a touch needs a deal_id or a person_id")
        self._ref(self.users, name, line, "user_id", row[ix["user_id"]], "user")
        try:
            parse_datetime(row[ix["at"]])
        except BadValue as exc:
            err(name, line, "at", exc.message)
        kind = ""
        try:
            kind = parse_choice(row[ix["kind"]], TOUCH_KINDS)
        except BadValue as exc:
            err(name, line, "kind", exc.message)
        try:
            parse_choice(row[ix["channel"]], CHANNELS)
        except BadValue as exc:
            err(name, line, "channel", exc.message)
        outcome = row[ix["outcome"]].strip()
        if outcome not in OUTCOMES:
            err(name, line, "outcome", f"{outcome!r} is not one of {', '.join(OUTCOMES[1:])}")
        elif outcome and kind and kind != TouchKind.CLOSING:
            err(name, line, "outcome", "only a closing touch has an outcome")
        if self.errors.total == before:  # the two paths disagree: never drop a row silently
            err(name, line, None, "the row is invalid")

    # --- money -----------------------------------------------------------------------------

    def _load_expenses(self) -> None:
        name = "expenses.csv"
        src = self._source(name)
        count = self.counts[name]
        err = self.errors.add
        add = self._writer(Expense, ["channel", "period_start", "period_end", "amount"])
        ix = src.index
        limit = max_length(Expense, "channel")
        seen: dict[tuple[str, str, str], int] = {}
        for line, row in src:
            ok = True
            channel = self._text(name, line, "channel", row[ix["channel"]], limit, required=True)
            start = end = None
            try:
                start = parse_date(row[ix["period_start"]])
            except BadValue as exc:
                err(name, line, "period_start", exc.message)
            try:
                end = parse_date(row[ix["period_end"]])
            except BadValue as exc:
                err(name, line, "period_end", exc.message)
            try:
                amount = parse_money(row[ix["amount"]])
            except BadValue as exc:
                err(name, line, "amount", exc.message)
                ok = False
            if start and end and end < start:
                err(name, line, "period_end", "is before period_start")
                ok = False
            if not ok or channel is None or start is None or end is None:
                continue
            key = (channel, str(start), str(end))
            if key in seen:
                err(name, line, "channel", f"the same channel and period as line {seen[key]}")
                continue
            seen[key] = line
            if key in self.expenses:
                count.skipped += 1
                continue
            add((channel, self.db.date(start), self.db.date(end), amount))
            count.inserted += 1
        self._flush()
        self._done(name, src)

    def _load_plans(self) -> None:
        name = "plans.csv"
        src = self._source(name)
        count = self.counts[name]
        err = self.errors.add
        add = self._writer(SalesPlan, ["user_id", "month", "revenue", "deals"])
        ix = src.index
        seen: dict[tuple[int, str], int] = {}
        zero = Decimal(0)
        for line, row in src:
            ok, user = self._ref(self.users, name, line, "user_id", row[ix["user_id"]], "user")
            if ok and user is None:
                err(name, line, "user_id", "a value is required")
                ok = False
            month = None
            try:
                month = parse_month(row[ix["month"]])
            except BadValue as exc:
                err(name, line, "month", exc.message)
            try:
                revenue = parse_money(row[ix["revenue"]], default=zero)
            except BadValue as exc:
                err(name, line, "revenue", exc.message)
                ok = False
            try:
                deals = parse_count(row[ix["deals"]], default=0)
            except BadValue as exc:
                err(name, line, "deals", exc.message)
                ok = False
            if not ok or user is None or month is None:
                continue
            key = (user, self._month_key(month))
            if key in seen:
                err(name, line, "month", f"the same user and month as line {seen[key]}")
                continue
            seen[key] = line
            if key in self.plans:
                count.skipped += 1
                continue
            add((user, self.db.date(month), revenue, deals))
            count.inserted += 1
        self._flush()
        self._done(name, src)

    # --- set-based finish ------------------------------------------------------------------

    def _finish_deals(self) -> None:
        """Deals with their derived fields, then their full history with outcomes and left_at."""
        db = self.db
        if db.pg:
            # Check each statement's foreign keys at its end (bounded by the chunks below)
            # rather than millions at once at commit.
            db.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in (T_DEAL, T_CHANGE):
                db.execute(f"ANALYZE {table}")
        stage_table = Stage._meta.db_table
        # The last change (by time, then file order) gives the current stage; the highest
        # position over every change gives max_position (moving back never lowers it).
        db.execute(
            f"""
            INSERT INTO {T_LAST} (deal_id, stage_id, entered_at, max_position)
            SELECT deal_id, to_stage_id, at, max_position FROM (
                SELECT c.deal_id, c.to_stage_id, c.at,
                       ROW_NUMBER() OVER w AS rn,
                       MAX(s.position) OVER (
                           w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                       ) AS max_position
                FROM {T_CHANGE} c JOIN {stage_table} s ON s.id = c.to_stage_id
                WINDOW w AS (PARTITION BY c.deal_id ORDER BY c.at DESC, c.seq DESC)
            ) ranked
            WHERE rn = 1
            """
        )
        if db.pg:
            db.execute(f"ANALYZE {T_LAST}")
        deal_table = Deal._meta.db_table
        # People who bought before this import: their purchase numbers are redone below.
        renumber = db.scalar(
            f"""
            SELECT COUNT(*) FROM {T_DEAL} d
            WHERE d.status = %s AND EXISTS (
                SELECT 1 FROM {deal_table} e WHERE e.person_id = d.person_id AND e.status = %s
            )
            """,
            [WON, WON],
        )
        given = [
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
            "refused_by_us",
            "purchase_number",
            "max_position",
            "touches_to_win",
            "version",
        ]
        extra, values = model_defaults(Deal, given, connection)
        constants = "".join(", %s" for _ in extra)
        new_deals = int(db.scalar(f"SELECT COUNT(*) FROM {T_DEAL}"))
        with db.indexes_rebuilt_afterwards(deal_table, incoming=new_deals):
            self._insert_deals(deal_table, given, extra, constants, values, renumber)
        change_table = StageChange._meta.db_table
        new_changes = int(db.scalar(f"SELECT COUNT(*) FROM {T_CHANGE}"))
        with db.indexes_rebuilt_afterwards(change_table, incoming=new_changes):
            self._insert_history()

    def _insert_deals(
        self,
        deal_table: str,
        given: list[str],
        extra: list[str],
        constants: str,
        values: list[Any],
        renumber: int,
    ) -> None:
        db = self.db
        # One statement computes lost_stage and purchase_number with the row, so the CHECK
        # constraints (lost => stage, won <=> number) hold as each row lands. Not chunked:
        # the numbering runs over each person's deals, wherever they are in the file.
        db.execute(
            f"""
            INSERT INTO {deal_table} ({", ".join([*given, *extra])})
            SELECT d.id, d.ext, d.person_id, d.pipeline_id, l.stage_id, d.owner_id, d.title,
                   d.amount, d.currency, d.status, d.opened_at, d.closed_at, l.entered_at,
                   d.lost_reason_id,
                   CASE WHEN d.status = %s THEN l.stage_id END,
                   d.refused_by_us,
                   CASE WHEN d.status = %s THEN ROW_NUMBER() OVER (
                       PARTITION BY d.person_id, d.status ORDER BY d.closed_at, d.id
                   ) END,
                   l.max_position, CASE WHEN d.status = %s THEN 0 END, 1{constants}
            FROM {T_DEAL} d JOIN {T_LAST} l ON l.deal_id = d.id
            ORDER BY d.id
            """,
            [LOST, WON, WON, *values],
        )
        if renumber:
            db.execute(
                f"""
                UPDATE {deal_table} SET purchase_number = r.n
                FROM (
                    SELECT id, ROW_NUMBER() OVER (
                        PARTITION BY person_id ORDER BY closed_at, id
                    ) AS n
                    FROM {deal_table}
                    WHERE status = %s AND person_id IN (
                        SELECT person_id FROM {T_DEAL} WHERE status = %s
                    )
                ) r
                WHERE {deal_table}.id = r.id AND {deal_table}.purchase_number <> r.n
                """,
                [WON, WON],
            )

    def _insert_history(self) -> None:
        """The dataset's changes plus a won/lost row per closed deal, with left_at."""
        db = self.db
        ranges = self._deal_ranges()
        if len(ranges) > 1:
            db.execute(f"CREATE INDEX {T_CHANGE}_deal ON {T_CHANGE} (deal_id)")
            if db.pg:
                db.execute(f"ANALYZE {T_CHANGE}")
        # History: the dataset's changes plus a won/lost row per closed deal, each stamped
        # with left_at = the next row's time (LEAD over the deal's rows in order). A chunk
        # holds whole deals, so the window sees each deal's full history.
        written = 0
        stay = micros_between_sql(connection.vendor, "h.at", "h.left_at")
        for low, high in ranges:
            written += db.execute(
                f"""
                INSERT INTO {StageChange._meta.db_table}
                    (deal_id, kind, from_stage_id, to_stage_id, at, left_at, user_id,
                     stay_us, deal_pipeline_id, deal_opened_at)
                SELECT h.deal_id, h.kind, h.from_stage_id, h.to_stage_id, h.at, h.left_at,
                       h.user_id, {stay}, d.pipeline_id, d.opened_at
                FROM (
                    SELECT deal_id, seq, kind, from_stage_id, to_stage_id, at, user_id,
                           CASE WHEN to_stage_id IS NOT NULL
                                THEN LEAD(at) OVER (PARTITION BY deal_id ORDER BY at, seq)
                           END AS left_at
                    FROM (
                        SELECT deal_id, seq, kind, from_stage_id, to_stage_id, at, user_id
                        FROM {T_CHANGE}
                        WHERE deal_id BETWEEN %s AND %s
                        UNION ALL
                        SELECT d.id, %s, d.status, l.stage_id, NULL, d.closed_at, NULL
                        FROM {T_DEAL} d JOIN {T_LAST} l ON l.deal_id = d.id
                        WHERE d.status <> %s AND d.id BETWEEN %s AND %s
                    ) changes
                ) h
                JOIN {T_DEAL} d ON d.id = h.deal_id
                ORDER BY h.deal_id, h.at, h.seq
                """,
                [low, high, OUTCOME_SEQ, OPEN, low, high],
            )
        from_file = self.counts["stage_changes.csv"].inserted + self.derived["first stage changes"]
        self.derived["outcome stage changes"] = written - from_file

    def _deal_ranges(self) -> list[tuple[int, int]]:
        """(first, last) pk of each run of CHUNK_DEALS new deals."""
        deals = self.deals
        ids = sorted(pk for pk, flags in zip(deals.ids, deals.state, strict=True) if flags & _NEW)
        return [
            (ids[start], ids[min(start + CHUNK_DEALS, len(ids)) - 1])
            for start in range(0, len(ids), CHUNK_DEALS)
        ]

    def _finish_touches(self) -> None:
        db = self.db
        touch_table = Touch._meta.db_table
        count = self.counts["touches.csv"]
        if db.scalar(f"SELECT 1 FROM {touch_table} WHERE external_id IS NOT NULL LIMIT 1"):
            count.skipped = db.execute(
                f"DELETE FROM {T_TOUCH} WHERE ext IN ("
                f"SELECT external_id FROM {touch_table} WHERE external_id IS NOT NULL)"
            )
        given = ["deal_id", "person_id", "user_id", "at", "kind", "channel", "outcome"]
        extra, values = model_defaults(Touch, [*given, *PLACED, "external_id"], connection)
        constants = "".join(", %s" for _ in extra)
        incoming = int(db.scalar(f"SELECT COUNT(*) FROM {T_TOUCH}"))
        with db.indexes_rebuilt_afterwards(touch_table, incoming=incoming):
            self._insert_touches(touch_table, given, extra, constants, values, count)
        # The won deals that got touches count them again up to their win (touches.placement).
        deal_table = Deal._meta.db_table
        db.execute(
            f"""
            UPDATE {deal_table} SET touches_to_win = (
                SELECT COUNT(*) FROM {touch_table} t
                WHERE t.deal_id = {deal_table}.id AND t.at <= {deal_table}.closed_at
            )
            WHERE status = %s AND id IN (SELECT deal_id FROM {T_TOUCH})
            """,
            [WON],
        )
        if db.pg:
            db.execute("SET CONSTRAINTS ALL DEFERRED")  # as Django declares them

    def _insert_touches(
        self,
        touch_table: str,
        given: list[str],
        extra: list[str],
        constants: str,
        values: list[Any],
        count: FileCount,
    ) -> None:
        db = self.db
        deal_table = Deal._meta.db_table
        # Where each touch falls in its deal's history, as touches.placement.stage_at says.
        stage_at = f"""
            SELECT c.to_stage_id FROM {StageChange._meta.db_table} c
            WHERE c.deal_id = t.deal_id AND c.at <= t.at ORDER BY c.at DESC, c.id DESC LIMIT 1
        """
        try:
            # Ids repeated inside the file hit the unique index; only then is the (slow)
            # search for them worth running.
            with transaction.atomic():
                for low in range(0, self.touch_lines, CHUNK_LINES):
                    count.inserted += db.execute(
                        f"""
                        INSERT INTO {touch_table}
                            ({", ".join([*given, "external_id", *PLACED, *extra])})
                        SELECT {", ".join(f"t.{name}" for name in given)}, t.ext,
                               ({stage_at}), d.pipeline_id, d.opened_at{constants}
                        FROM {T_TOUCH} t LEFT JOIN {deal_table} d ON d.id = t.deal_id
                        WHERE t.line > %s AND t.line <= %s
                        """,
                        [*values, low, low + CHUNK_LINES],
                    )
        except IntegrityError:
            if not self._check_touch_ids():
                raise

    def _check_touch_ids(self) -> bool:
        """Report touch ids repeated in the file; True when there was one."""
        rows = self.db.fetchall(
            f"""
            SELECT ext, MIN(line), MAX(line) FROM {T_TOUCH}
            GROUP BY ext HAVING COUNT(*) > 1 ORDER BY MIN(line)
            """
        )
        for ext, first, last in rows:
            self.errors.add(
                "touches.csv", last, "id", f"duplicate id {ext!r} (first on line {first})"
            )
        return bool(rows)
