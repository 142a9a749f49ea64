"""Planning an import: every row read, checked and resolved against the database; nothing written.

The plan says, per row of the file, what a real run would do:

* **create** the deal (with its stage history and an intake record), with the person either
  new, an existing person (same normalised phone or e-mail, or the same person id from this
  CRM), or a *duplicate* of the person of an earlier row of the file: people are never created
  twice;
* **exists**: the deal was imported before (same deal id from this CRM), so nothing is written
  and a replayed import changes nothing;
* **refuse**, with the reasons (column and message), e.g. an unreadable amount, an unknown
  owner, a lost deal without a reason.

Pipelines, stages and loss reasons the file names but Conveyor lacks are listed; with
`create_missing` the rows using them are planned for creation (and the run creates them), else
they are refused. Lookups are preloaded in a fixed number of queries, so planning costs the same
few queries for 10 rows or 100,000.
"""

# ruff: noqa: S608 - SQL is composed only of model table/column names; values are parameters.
from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import can_manage_users_of
from conveyor.core.fields import max_length
from conveyor.intake.crm_import.profiles import FIELD_LABELS, FIELDS, PROFILES, MappingError
from conveyor.intake.crm_import.reading import Table
from conveyor.intake.crm_import.values import (
    MONEY_DIGITS,
    BadValue,
    first_of_list,
    norm,
    outcome_of,
    parse_amount,
    parse_email,
    parse_status,
    parse_when,
    phone_e164,
    split_contact,
)
from conveyor.people.models import Company, Person, Suppression
from conveyor.people.privacy import suppression_digest
from conveyor.pipelines.models import Deal, DealStatus, LossReason, Pipeline, Stage

__all__ = ["CREATE", "EXISTS", "REFUSE", "Issue", "Plan", "PlannedRow", "build_plan"]

CREATE, EXISTS, REFUSE = "create", "exists", "refuse"
PERSON_NEW, PERSON_EXISTING, PERSON_DUPLICATE = "new", "existing", "duplicate"
# Where a deal goes when the file names no stage (or only the outcome, as HubSpot and amoCRM
# do for closed deals): open and lost deals to the first stage, won deals to the last.
FIRST, LAST = "\x00first", "\x00last"
OPEN, WON, LOST = str(DealStatus.OPEN), str(DealStatus.WON), str(DealStatus.LOST)


EXTERNAL_ID_MAX = max_length(Deal, "external_id")
TITLE_MAX = max_length(Deal, "title")
NAME_MAX = max_length(Person, "name")
EMAIL_MAX = max_length(Person, "email")
PHONE_MAX = max_length(Person, "phone")
COMPANY_MAX = max_length(Company, "name")
SOURCE_MAX = max_length(Person, "source")
STAGE_NAME_MAX = max_length(Stage, "name")
PIPELINE_NAME_MAX = max_length(Pipeline, "name")
REASON_MAX = max_length(LossReason, "name")


@dataclass(slots=True)
class Issue:
    """Why a row is refused: the column at fault (a header name, or a field) and what is wrong."""

    column: str
    message: str


@dataclass(slots=True)
class PlannedRow:
    """One row of the file and what happens to it. Fields past `cells` are set for CREATE."""

    line: int
    action: str
    cells: list[str]
    issues: list[Issue] = field(default_factory=list)
    existing_deal: int | None = None
    deal_ext: str = ""
    title: str = ""
    amount: Decimal = Decimal(0)
    currency: str = ""
    status: str = OPEN
    pipeline: str = ""  # key into Plan.pipelines
    stage: str = ""  # key into that pipeline's stages, or FIRST / LAST
    owner_id: int | None = None
    reason: str = ""  # key into Plan.reasons
    opened_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    person_action: str = ""
    # PERSON_EXISTING: the person's pk; otherwise an index into Plan.people.
    person: int = 0
    person_line: int = 0  # for a duplicate: the line whose person it is
    # What the row says of the person (kept on the intake record as received).
    name: str = ""
    email: str = ""
    phone: str = ""
    source: str = ""


@dataclass
class StageInfo:
    name: str
    pk: int | None = None  # None: missing, created by the run
    position: int = 0  # 0 until a missing stage is given its position


@dataclass
class PipelineInfo:
    name: str
    key: str = ""  # norm(name), the pipeline's key in Plan.pipelines
    pk: int | None = None  # None: missing, created by the run
    segment_id: int | None = None
    is_active: bool = True
    stages: dict[str, StageInfo] = field(default_factory=dict)  # norm(name) -> stage
    new_stages: list[str] = field(default_factory=list)  # keys of missing stages, as first met
    rows: int = 0

    def first_key(self, *, with_new: bool) -> str | None:
        """The first stage (existing ones come first; missing ones are appended)."""
        known = [(s.position, key) for key, s in self.stages.items() if s.pk is not None]
        if known:
            return min(known)[1]
        return self.new_stages[0] if with_new and self.new_stages else None

    def last_key(self, *, with_new: bool) -> str | None:
        if with_new and self.new_stages:
            return self.new_stages[-1]
        known = [(s.position, key) for key, s in self.stages.items() if s.pk is not None]
        return max(known)[1] if known else None

    def resolve(self, key: str, *, with_new: bool) -> str | None:
        """A row's stage key with FIRST / LAST resolved."""
        if key == FIRST:
            return self.first_key(with_new=with_new)
        if key == LAST:
            return self.last_key(with_new=with_new)
        return key


@dataclass
class ReasonInfo:
    name: str
    pk: int | None = None  # None: missing, created by the run (for every pipeline)
    pipeline_id: int | None = None
    stage_ids: frozenset[int] = frozenset()
    rows: int = 0


@dataclass
class NewPerson:
    name: str
    email: str
    phone: str
    external_id: str | None
    company: int | None  # > 0 an existing company's pk, < 0 -(index + 1) into Plan.companies
    owner_id: int | None
    created_at: dt.datetime
    source: str
    line: int


@dataclass
class PlanCounts:
    rows: int = 0
    create: int = 0
    exists: int = 0
    refuse: int = 0
    people_new: int = 0
    people_existing: int = 0
    people_duplicate: int = 0
    companies_new: int = 0


@dataclass
class Plan:
    """What a run would do with the file; see the module docstring."""

    source: str
    table: Table
    mapping: dict[str, str]
    create_missing: bool
    default_pipeline: str
    default_loss_reason: str
    rows: list[PlannedRow]
    counts: PlanCounts
    pipelines: dict[str, PipelineInfo]
    reasons: dict[str, ReasonInfo]
    people: list[NewPerson]
    companies: list[str]
    unknown_owners: Counter[str]
    warnings: list[str]

    @property
    def refused(self) -> list[PlannedRow]:
        return [row for row in self.rows if row.action == REFUSE]

    @property
    def missing_pipelines(self) -> list[PipelineInfo]:
        return [p for p in self.pipelines.values() if p.pk is None and p.rows]

    @property
    def missing_stages(self) -> list[tuple[PipelineInfo, StageInfo]]:
        return [
            (pipeline, pipeline.stages[key])
            for pipeline in self.pipelines.values()
            for key in pipeline.new_stages
            if pipeline.stages[key].pk is None
        ]

    @property
    def missing_reasons(self) -> list[ReasonInfo]:
        return [r for r in self.reasons.values() if r.pk is None and r.rows]


def build_plan(
    *,
    table: Table,
    source: str,
    mapping: dict[str, str],
    by: User | None,
    create_missing: bool = False,
    default_pipeline: str = "",
    default_loss_reason: str = "",
) -> Plan:
    """Plan the import of `table` (read-only). Raises MappingError when the mapping is unusable."""
    if not ({"person_name", "person_first_name", "person_last_name"} & mapping.keys()):
        profile = PROFILES[source]
        expected = profile.columns.get("person_name", ("person_name",))
        raise MappingError(
            _(
                "No column holds the person's name, so this does not look like a %(source)s "
                "deals export (expected a column such as %(column)s). Check the source, or map "
                "the columns."
            )
            % {"source": profile.label, "column": repr(expected[0])},
            field="mapping",
        )
    planner = _Planner(
        table=table,
        source=source,
        mapping=mapping,
        by=by,
        create_missing=create_missing,
        default_pipeline=default_pipeline.strip(),
        default_loss_reason=default_loss_reason.strip(),
    )
    return planner.run()


class _Planner:
    def __init__(
        self,
        *,
        table: Table,
        source: str,
        mapping: dict[str, str],
        by: User | None,
        create_missing: bool,
        default_pipeline: str,
        default_loss_reason: str,
    ) -> None:
        self.table = table
        self.source = source
        self.profile = PROFILES[source]
        self.mapping = mapping
        self.by = by
        self.create_missing = create_missing
        self.default_pipeline = default_pipeline
        self.default_loss_reason = default_loss_reason
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self.now = timezone.now()
        position = {cell: i for i, cell in reversed(list(enumerate(table.header)))}
        self.ix = {key: position[column] for key, column in mapping.items()}
        # Unmapped fields read the empty cell `run` appends to every row, at `width`.
        self.width = len(table.header)
        self.positions = tuple(self.ix.get(field.key, self.width) for field in FIELDS)
        self.currencies: dict[tuple[str, str], tuple[str, tuple[Issue, ...]]] = {}
        self.statuses: dict[tuple[str, str], tuple[str, str, str, tuple[Issue, ...]]] = {}
        self.pipeline_of: dict[str, tuple[PipelineInfo | None, tuple[Issue, ...]]] = {}
        self.stage_of: dict[tuple[str, str, str], tuple[str, tuple[Issue, ...]]] = {}
        # owner cell -> (user pk, issues, whether no user has that name or e-mail)
        self.owner_of: dict[str, tuple[int | None, tuple[Issue, ...], bool]] = {}
        self.reason_of: dict[tuple[str, str, str], tuple[str, tuple[Issue, ...]]] = {}
        self.warnings: list[str] = []
        self.people: list[NewPerson] = []
        self.companies: list[str] = []
        self.company_refs: dict[str, int] = {}
        self.person_refs: dict[str, int] = {}  # "e:"/"p:"/"x:" + key -> pk or -(index + 1)
        self.deal_lines: dict[str, int] = {}
        self.unknown_owners: Counter[str] = Counter()
        self.phone_cache: dict[str, str] = {}
        self.counts = PlanCounts()

    # --- preloading ----------------------------------------------------------------------

    def _preload(self) -> None:
        prefix = f"{self.source}:"
        self.existing_deals: dict[str, int] = {
            ext: pk
            for ext, pk in Deal.objects.filter(external_id__startswith=prefix).values_list(
                "external_id", "pk"
            )
            if ext is not None
        }
        self.pipelines: dict[str, PipelineInfo] = {}
        for pipeline in Pipeline.objects.order_by("pk"):
            self.pipelines.setdefault(
                norm(pipeline.name),
                PipelineInfo(
                    name=pipeline.name,
                    key=norm(pipeline.name),
                    pk=pipeline.pk,
                    segment_id=pipeline.segment_id,
                    is_active=pipeline.is_active,
                ),
            )
        by_pk = {info.pk: info for info in self.pipelines.values()}
        for stage in Stage.objects.filter(is_archived=False).order_by("pipeline_id", "position"):
            owner = by_pk.get(stage.pipeline_id)
            if owner is not None:
                owner.stages.setdefault(
                    norm(stage.name), StageInfo(stage.name, stage.pk, stage.position)
                )
        # Loss reasons: (name key, pipeline pk or None) -> reason; the catalogue is small.
        self.reason_catalogue: dict[tuple[str, int | None], ReasonInfo] = {}
        limits: dict[int, set[int]] = {}
        through = LossReason.stages.through
        for reason_id, stage_id in through.objects.values_list("lossreason_id", "stage_id"):
            limits.setdefault(reason_id, set()).add(stage_id)
        for reason in LossReason.objects.filter(is_active=True).order_by("pk"):
            self.reason_catalogue.setdefault(
                (norm(reason.name), reason.pipeline_id),
                ReasonInfo(
                    reason.name,
                    reason.pk,
                    reason.pipeline_id,
                    frozenset(limits.get(reason.pk, ())),
                ),
            )
        self.reasons: dict[str, ReasonInfo] = {}
        # Users by e-mail and by name; a name two users share cannot pick either.
        self.users_by_email: dict[str, User] = {}
        self.users_by_name: dict[str, list[User]] = {}
        for user in User.objects.select_related("team").order_by("pk"):
            self.users_by_email[user.email.lower()] = user
            if user.name.strip():
                self.users_by_name.setdefault(norm(user.name), []).append(user)
        # Contacts of erased people (kind, SHA-256): their rows are refused.
        self.suppressed: set[tuple[str, str]] = set(
            Suppression.objects.values_list("kind", "digest")
        )
        for name, pk in Company.objects.order_by("-pk").values_list("name", "pk"):
            self.company_refs[norm(name)] = pk  # the oldest company of a name wins
        with connection.cursor() as cursor:
            table = Person._meta.db_table
            cursor.execute(f"SELECT id, phone, email, external_id FROM {table} ORDER BY id DESC")
            refs = self.person_refs
            for pk, phone, email, ext in cursor.fetchall():
                if phone:
                    refs["p:" + phone] = pk
                if email:
                    refs["e:" + email] = pk
                if ext:
                    refs["x:" + ext] = pk

    # --- the pass over the rows ------------------------------------------------------------

    def run(self) -> Plan:
        self._preload()
        mapping = self.mapping
        if "created_at" not in mapping:
            self.warnings.append(
                _("No column holds the creation date: the deals are dated at the import.")
            )
        if "deal_id" not in mapping:
            self.warnings.append(
                _(
                    "No column holds the deal id: a deal imported before is recognised by its "
                    "title, person, company, pipeline and creation date."
                )
            )
        if (
            self.default_pipeline
            and norm(self.default_pipeline) not in self.pipelines
            and not self.create_missing
        ):
            raise MappingError(
                _("There is no pipeline named %(name)s.") % {"name": repr(self.default_pipeline)},
                field="pipeline",
            )
        rows: list[PlannedRow] = []
        width = self.width
        counts = self.counts
        for line, cells in self.table.rows():
            counts.rows += 1
            if len(cells) == width:
                cells.append("")
                row = self._row(line, cells)
            elif any(cell.strip() for cell in cells[width:]):
                message = _("the row has %(cells)s cells, the header %(width)s") % {
                    "cells": len(cells),
                    "width": width,
                }
                row = PlannedRow(line=line, action=REFUSE, cells=cells)
                row.issues.append(Issue("", message))
            else:
                row = self._row(line, cells)
            if row.action == CREATE:
                counts.create += 1
            elif row.action == EXISTS:
                counts.exists += 1
            else:
                counts.refuse += 1
            rows.append(row)
        counts.companies_new = len(self.companies)
        self._order_new_stages()
        if counts.rows == 0:
            self.warnings.append(_("The file has a header but no rows."))
        return Plan(
            source=self.source,
            table=self.table,
            mapping=dict(mapping),
            create_missing=self.create_missing,
            default_pipeline=self.default_pipeline,
            default_loss_reason=self.default_loss_reason,
            rows=rows,
            counts=counts,
            pipelines=self.pipelines,
            reasons=self.reasons,
            people=self.people,
            companies=self.companies,
            unknown_owners=self.unknown_owners,
            warnings=self.warnings,
        )

    def _order_new_stages(self) -> None:
        """Put missing stages the CRM has by default in its order; others keep their place
        (the order the file first names them)."""
        rank = {norm(name): i for i, name in enumerate(self.profile.stage_order)}
        for pipeline in self.pipelines.values():
            known = [key for key in pipeline.new_stages if key in rank]
            ordered = iter(sorted(known, key=rank.__getitem__))
            pipeline.new_stages = [
                next(ordered) if key in rank else key for key in pipeline.new_stages
            ]

    # --- one row ---------------------------------------------------------------------------
    #
    # Written for speed (a 100k-row file is planned in a few seconds): every cell is read by a
    # position prepared once (unmapped fields point at an empty cell appended to each row),
    # and what depends only on a few repeating values (status and stage, pipeline, owner,
    # currency, loss reason) is worked out once per distinct value and remembered.

    def _row(self, line: int, cells: list[str]) -> PlannedRow:
        (
            i_id,
            i_title,
            i_amount,
            i_currency,
            i_status,
            i_pipeline,
            i_stage,
            i_owner,
            i_reason,
            i_created,
            _i_won,
            _i_lost,
            _i_closed,
            i_person_id,
            i_name,
            i_first,
            i_last,
            i_email,
            i_email2,
            i_phone,
            i_phone2,
            i_company,
            i_source,
        ) = self.positions
        issues: list[Issue] = []
        column = self._column

        # The deal's id in the other CRM: known means imported before, and nothing else matters.
        raw_id = cells[i_id].strip()
        if raw_id:
            ext = f"{self.source}:{raw_id}"
            if len(ext) > EXTERNAL_ID_MAX:
                issues.append(Issue(column("deal_id"), _("the id is too long")))
        else:
            ext = self._content_id(cells)
        existing = self.existing_deals.get(ext)
        if existing is not None:
            return PlannedRow(line, EXISTS, cells, issues, existing, ext)
        first = self.deal_lines.get(ext)
        if first is not None:
            issues.append(
                Issue(column("deal_id"), _("the same deal as line %(line)s") % {"line": first})
            )

        title = cells[i_title].strip()
        if len(title) > TITLE_MAX:
            issues.append(
                Issue(column("title"), _("longer than %(max)s characters") % {"max": TITLE_MAX})
            )
        raw_amount = cells[i_amount].strip()
        # Plain whole amounts skip the parser; only ASCII digits (isdigit() also takes "²") and
        # short enough to stay under the parser's limit, which then refuses the rest.
        if raw_amount.isascii() and raw_amount.isdigit() and len(raw_amount) <= MONEY_DIGITS:
            amount, currency = Decimal(raw_amount), ""
        else:
            try:
                amount, currency = parse_amount(raw_amount)
            except BadValue as exc:
                issues.append(Issue(column("amount"), exc.message))
                amount, currency = Decimal(0), ""
        currency_key = (cells[i_currency].strip(), currency)
        known_currency = self.currencies.get(currency_key)
        if known_currency is None:
            known_currency = self.currencies[currency_key] = self._currency(*currency_key)
        currency, found = known_currency
        issues.extend(found)

        # Status and stage: the status column, or the outcome HubSpot and amoCRM write where
        # the stage goes.
        status_key = (cells[i_status].strip(), cells[i_stage].strip())
        known_status = self.statuses.get(status_key)
        if known_status is None:
            known_status = self.statuses[status_key] = self._status(*status_key)
        status, stage_raw, stage_key, found = known_status
        issues.extend(found)

        pipeline_raw = cells[i_pipeline].strip() or self.default_pipeline
        known_pipeline = self.pipeline_of.get(pipeline_raw)
        if known_pipeline is None:
            known_pipeline = self.pipeline_of[pipeline_raw] = self._pipeline(pipeline_raw)
        pipeline, found = known_pipeline
        issues.extend(found)
        pipeline_key = stage = ""
        if pipeline is not None:
            pipeline_key = pipeline.key
            place = (pipeline_key, stage_raw, status)
            known_stage = self.stage_of.get(place)
            if known_stage is None:
                known_stage = self.stage_of[place] = self._stage(
                    pipeline, stage_raw, stage_key, status
                )
            stage, found = known_stage
            issues.extend(found)

        owner_raw = cells[i_owner].strip()
        owner_id = None
        if owner_raw:
            known_owner = self.owner_of.get(owner_raw)
            if known_owner is None:
                known_owner = self.owner_of[owner_raw] = self._owner(owner_raw)
            owner_id, found, unknown = known_owner
            if found:
                issues.extend(found)
                if unknown:
                    self.unknown_owners[owner_raw] += 1

        # Dates, in the account's time zone unless the cell carries an offset.
        zone = self.zone
        opened_at: dt.datetime | None = self.now
        if i_created != self.width:
            created = cells[i_created].strip()
            if not created:
                opened_at = None
                issues.append(Issue(column("created_at"), _("a date is required")))
            else:
                try:
                    opened_at = dt.datetime.fromisoformat(created)
                    if opened_at.tzinfo is None:
                        opened_at = opened_at.replace(tzinfo=zone)
                except ValueError:
                    opened_at = self._when(created, "created_at", issues)
        closed_at = None
        if status != OPEN:
            closed_at = self._closed(cells, status, opened_at, issues)

        reason = ""
        if status == LOST:
            reason_raw = cells[i_reason].strip() or self.default_loss_reason
            use = (reason_raw, pipeline_key, stage)
            known_reason = self.reason_of.get(use)
            if known_reason is None:
                known_reason = self.reason_of[use] = self._reason(reason_raw, pipeline, stage)
            reason, found = known_reason
            issues.extend(found)

        # The person, and their company.
        name = cells[i_name].strip()
        email_from_name = ""
        if name and self.profile.contact_with_email:
            name, email_from_name = split_contact(first_of_list(name))
        if not name:
            name = " ".join(p for p in (cells[i_first].strip(), cells[i_last].strip()) if p)
        if not name:
            issues.append(Issue(column("person_name"), _("the deal has no person's name")))
        elif len(name) > NAME_MAX:
            issues.append(
                Issue(
                    column("person_name"), _("longer than %(max)s characters") % {"max": NAME_MAX}
                )
            )
        emails: list[str] = []
        for index, key in ((i_email, "person_email"), (i_email2, "person_email2")):
            raw = cells[index]
            if not raw:
                continue
            plain = raw.isascii() and not any(mark in raw for mark in (",", ";", "\n", ":"))
            if "@" in raw and plain:
                email = raw.strip().lower()
                valid = " " not in email
            else:
                try:
                    email = parse_email(raw)
                except BadValue as exc:
                    issues.append(Issue(column(key), exc.message))
                    continue
                valid = True
            if not valid:
                issues.append(
                    Issue(
                        column(key),
                        _("%(value)s is not an e-mail address") % {"value": repr(raw.strip())},
                    )
                )
            elif len(email) > EMAIL_MAX:
                issues.append(
                    Issue(column(key), _("longer than %(max)s characters") % {"max": EMAIL_MAX})
                )
            elif email:
                emails.append(email)
        if email_from_name:
            emails.append(email_from_name.lower())
        phones: list[str] = []
        cache = self.phone_cache
        for index, key in ((i_phone, "person_phone"), (i_phone2, "person_phone2")):
            raw = cells[index]
            if not raw:
                continue
            phone = cache.get(raw)
            if phone is None:
                phone = phone_e164(first_of_list(raw), cache)
                cache[raw] = phone
            if len(phone) > PHONE_MAX:
                issues.append(
                    Issue(column(key), _("longer than %(max)s characters") % {"max": PHONE_MAX})
                )
            elif phone:
                phones.append(phone)
        suppressed = self.suppressed
        if suppressed:
            for kind, values in (("email", emails), ("phone", phones)):
                if any((kind, suppression_digest(value)) in suppressed for value in values):
                    issues.append(
                        Issue(
                            column(f"person_{kind}"),
                            _("this person was erased at their request and is not imported again"),
                        )
                    )
        person_raw_id = cells[i_person_id].strip()
        person_ext = f"{self.source}:person:{person_raw_id}" if person_raw_id else None
        if person_ext is not None and len(person_ext) > EXTERNAL_ID_MAX:
            issues.append(Issue(column("person_id"), _("the id is too long")))
            person_ext = None
        if name and not emails and not phones and person_ext is None:
            issues.append(
                Issue(
                    column("person_phone"),
                    _(
                        "the person has neither a phone nor an e-mail, so they cannot be told "
                        "apart from other people of the same name"
                    ),
                )
            )
        company = cells[i_company].strip()
        if len(company) > COMPANY_MAX:
            issues.append(
                Issue(column("company"), _("longer than %(max)s characters") % {"max": COMPANY_MAX})
            )
        source = cells[i_source].strip() or self.source
        if len(source) > SOURCE_MAX:
            issues.append(
                Issue(column("source"), _("longer than %(max)s characters") % {"max": SOURCE_MAX})
            )

        row = PlannedRow(
            line,
            REFUSE if issues else CREATE,
            cells,
            issues,
            None,
            ext,
            title,
            amount,
            currency,
            status,
            pipeline_key,
            stage,
            owner_id,
            reason,
            opened_at,
            closed_at,
            "",
            0,
            0,
            name,
            emails[0] if emails else "",
            phones[0] if phones else "",
            source,
        )
        if not issues:
            # Only now, for a row that will be imported, do the person, the company and the
            # deal id become known to later rows.
            self.deal_lines[ext] = line
            self._link_person(row, emails, phones, person_ext, company)
        return row

    # --- what a few repeating values resolve to (remembered per value) ------------------------

    def _column(self, key: str) -> str:
        return self.mapping.get(key) or str(FIELD_LABELS[key])

    def _content_id(self, cells: list[str]) -> str:
        """A deal id from the row's lasting contents, for files that carry no deal id."""
        parts = [
            norm(cells[self.ix.get(key, self.width)])
            for key in (
                "title",
                "person_name",
                "person_first_name",
                "person_last_name",
                "person_email",
                "person_phone",
                "company",
                "pipeline",
                "created_at",
            )
        ]
        digest = hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()
        return f"{self.source}:h{digest[:40]}"

    def _currency(self, given: str, from_amount: str) -> tuple[str, tuple[Issue, ...]]:
        currency = (given or from_amount or settings.CONVEYOR_CURRENCY).upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            message = _("%(value)s is not a currency code such as EUR") % {"value": repr(currency)}
            return currency, (Issue(self._column("currency"), message),)
        return currency, ()

    def _status(self, status_raw: str, stage_raw: str) -> tuple[str, str, str, tuple[Issue, ...]]:
        """(status, stage cell unless it names an outcome, its key, issues)."""
        found: list[Issue] = []
        stage_key = norm(stage_raw)
        from_stage = outcome_of(stage_key)
        try:
            status = parse_status(status_raw)
        except BadValue as exc:
            found.append(Issue(self._column("status"), exc.message))
            status = from_stage or OPEN
        if from_stage:
            if status and status != from_stage:
                found.append(
                    Issue(
                        self._column("stage"),
                        _("the stage says %(stage)s but the status says %(status)s")
                        % {"stage": repr(stage_raw), "status": status},
                    )
                )
            status, stage_raw, stage_key = from_stage, "", ""
        return status or OPEN, stage_raw, stage_key, tuple(found)

    def _when(self, raw: str, key: str, issues: list[Issue]) -> dt.datetime | None:
        try:
            return parse_when(raw, self.zone)
        except BadValue as exc:
            issues.append(Issue(self._column(key), exc.message))
            return None

    def _closed(
        self, cells: list[str], status: str, opened_at: dt.datetime | None, issues: list[Issue]
    ) -> dt.datetime | None:
        specific = "won_at" if status == WON else "lost_at"
        key = specific if specific in self.ix else "closed_at"
        closed_at = None
        raw = cells[self.ix.get(specific, self.width)].strip()
        if raw:
            closed_at = self._when(raw, specific, issues)
        elif raw := cells[self.ix.get("closed_at", self.width)].strip():
            closed_at = self._when(raw, "closed_at", issues)
        else:
            issues.append(
                Issue(
                    self._column(key),
                    _("a %(status)s deal needs the date it was closed") % {"status": status},
                )
            )
        if closed_at is not None and opened_at is not None and closed_at < opened_at:
            issues.append(Issue(self._column(key), _("the deal was closed before it was created")))
        return closed_at

    def _pipeline(self, name: str) -> tuple[PipelineInfo | None, tuple[Issue, ...]]:
        column = self._column("pipeline")
        if not name:
            message = _("no pipeline: map the pipeline column or choose a default pipeline")
            return None, (Issue(column, message),)
        key = norm(name)
        pipeline = self.pipelines.get(key)
        if pipeline is None:
            if len(name) > PIPELINE_NAME_MAX:
                message = _("longer than %(max)s characters") % {"max": PIPELINE_NAME_MAX}
                return None, (Issue(column, message),)
            pipeline = self.pipelines[key] = PipelineInfo(name=" ".join(name.split()), key=key)
        pipeline.rows += 1
        if pipeline.pk is None and not self.create_missing:
            message = _(
                "there is no pipeline %(name)s (allow creating what is missing to add it)"
            ) % {"name": repr(pipeline.name)}
            return None, (Issue(column, message),)
        if not pipeline.is_active:
            message = _("the pipeline %(name)s is closed for new deals") % {
                "name": repr(pipeline.name)
            }
            return None, (Issue(column, message),)
        return pipeline, ()

    def _stage(
        self, pipeline: PipelineInfo, raw: str, key: str, status: str
    ) -> tuple[str, tuple[Issue, ...]]:
        column = self._column("stage")
        if not key:
            # No stage, or only the outcome: won deals at the last stage, others at the first.
            if pipeline.first_key(with_new=self.create_missing) is None:
                message = _("the pipeline %(pipeline)s has no stages to put the deal in") % {
                    "pipeline": repr(pipeline.name)
                }
                return "", (Issue(column, message),)
            return (LAST if status == WON else FIRST), ()
        stage = pipeline.stages.get(key)
        if stage is None:
            if len(raw) > STAGE_NAME_MAX:
                message = _("longer than %(max)s characters") % {"max": STAGE_NAME_MAX}
                return "", (Issue(column, message),)
            stage = pipeline.stages[key] = StageInfo(" ".join(raw.split()))
            pipeline.new_stages.append(key)
        if stage.pk is None and not self.create_missing:
            message = _(
                "the pipeline %(pipeline)s has no stage %(stage)s (allow creating what is "
                "missing to add it)"
            ) % {"pipeline": repr(pipeline.name), "stage": repr(stage.name)}
            return key, (Issue(column, message),)
        return key, ()

    def _owner(self, raw: str) -> tuple[int | None, tuple[Issue, ...], bool]:
        column = self._column("owner")
        name, email = split_contact(raw)
        if "@" in name and not email:
            name, email = "", name
        user: User | None = None
        if email:
            user = self.users_by_email.get(email.lower())
        if user is None and name:
            named = self.users_by_name.get(norm(name), [])
            if len(named) > 1:
                message = _("%(value)s is the name of several users: write the e-mail instead") % {
                    "value": repr(raw)
                }
                return None, (Issue(column, message),), False
            user = named[0] if named else None
        if user is None:
            message = _(
                "no user %(value)s (owners are matched by e-mail or full name): add the user first"
            ) % {"value": repr(raw)}
            return None, (Issue(column, message),), True
        if self.by is not None and not can_manage_users_of(self.by, user):
            message = _("you may not assign deals to %(user)s") % {"user": user.get_full_name()}
            return None, (Issue(column, message),), False
        return int(user.pk), (), False

    def _reason(
        self, raw: str, pipeline: PipelineInfo | None, stage_key: str
    ) -> tuple[str, tuple[Issue, ...]]:
        column = self._column("loss_reason")
        if not raw:
            message = _("a lost deal needs a loss reason: map the column or give a default reason")
            return "", (Issue(column, message),)
        if len(raw) > REASON_MAX:
            return "", (Issue(column, _("longer than %(max)s characters") % {"max": REASON_MAX}),)
        key = norm(raw)
        pipeline_pk = pipeline.pk if pipeline is not None else None
        found = (
            self.reason_catalogue.get((key, pipeline_pk)) if pipeline_pk is not None else None
        ) or self.reason_catalogue.get((key, None))
        reason_key = key if found is None else f"{key}\x00{found.pk}"
        info = self.reasons.get(reason_key)
        if info is None:
            info = self.reasons[reason_key] = found or ReasonInfo(" ".join(raw.split()))
        info.rows += 1
        if info.pk is None and not self.create_missing:
            message = _(
                "%(value)s is not in the loss reasons catalogue (allow creating what is "
                "missing to add it)"
            ) % {"value": repr(raw)}
            return "", (Issue(column, message),)
        if info.stage_ids and pipeline is not None and stage_key:
            resolved = pipeline.resolve(stage_key, with_new=self.create_missing)
            stage = pipeline.stages.get(resolved or "")
            if stage is None or stage.pk not in info.stage_ids:
                message = _("the loss reason %(value)s does not apply at this stage") % {
                    "value": repr(info.name)
                }
                return reason_key, (Issue(column, message),)
        return reason_key, ()

    def _link_person(
        self,
        row: PlannedRow,
        emails: list[str],
        phones: list[str],
        person_ext: str | None,
        company: str,
    ) -> None:
        """Point the row at an existing person, an earlier row's new person, or a new one."""
        refs = self.person_refs
        keys = ["e:" + email for email in emails]
        keys += ["p:" + phone for phone in phones]
        if person_ext:
            keys.append("x:" + person_ext)
        found = [ref for ref in map(refs.get, keys) if ref is not None]
        counts = self.counts
        when = row.opened_at or self.now
        if found:
            existing = [ref for ref in found if ref > 0]
            if existing:
                row.person_action = PERSON_EXISTING
                row.person = min(existing)
                counts.people_existing += 1
                return
            index = -max(found) - 1  # the earliest new person of those matched
            person = self.people[index]
            row.person_action = PERSON_DUPLICATE
            row.person = index
            row.person_line = person.line
            if when < person.created_at:
                person.created_at = when
            counts.people_duplicate += 1
        else:
            index = len(self.people)
            company_ref = None
            if company:
                company_key = norm(company)
                company_ref = self.company_refs.get(company_key)
                if company_ref is None:
                    self.companies.append(" ".join(company.split()))
                    company_ref = self.company_refs[company_key] = -len(self.companies)
            self.people.append(
                NewPerson(
                    row.name,
                    emails[0] if emails else "",
                    phones[0] if phones else "",
                    person_ext,
                    company_ref,
                    row.owner_id,
                    when,
                    row.source,
                    row.line,
                )
            )
            row.person_action = PERSON_NEW
            row.person = index
            counts.people_new += 1
        ref = -(index + 1)
        for key in keys:
            if key not in refs:
                refs[key] = ref
