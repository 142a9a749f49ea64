"""`/api/v1/crm-imports`: importing another CRM's export, as Settings → Import does.

The API keeps no session, so the client sends the same file twice: `POST /preview` answers
what an import would do (reads only), `POST /crm-imports` imports it, in one transaction,
through the same services as the web page and the command (`crm_import_plan`,
`crm_import_run`). The upload, and the report of rejected rows the service writes, live in a
private temporary folder that is removed before the answer leaves; the rejected rows come back
in the answer instead of as a file.

Only owners and heads of sales may import (403 for everyone else, before the file is looked
at); a head may only import deals owned by those they may assign deals to (other rows are
refused, like any bad row).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal, get_args

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile

from conveyor.accounts.models import User
from conveyor.api.auth import settings_user
from conveyor.api.errors import ApiError, fields_as_sent
from conveyor.api.types import Text
from conveyor.core.fields import max_length
from conveyor.intake.crm_import.planning import PERSON_EXISTING, Issue, Plan
from conveyor.intake.crm_import.profiles import FIELDS, PROFILES, mapping_from_json
from conveyor.intake.crm_import.reading import check_size
from conveyor.intake.crm_import.services import ImportRefused, crm_import_plan, crm_import_run
from conveyor.intake.crm_import.summary import linked_rows, result_summary
from conveyor.pipelines.models import LossReason, Pipeline

router = Router()

# The profiles' keys, spelled out so the schema lists them (checked against PROFILES below).
CrmSource = Literal["pipedrive", "hubspot", "amocrm", "csv"]
assert set(get_args(CrmSource)) == set(PROFILES), "CrmSource must list the profiles"
# Rows listed in an answer (refused issues, linked and rejected rows); the counts say the rest.
SHOW_ROWS = 500
MAPPING_MAX = 10_000
# The service's inputs the request names otherwise: the report of rejected rows is written
# (to the private folder) only because of `skip_bad_rows`.
AS_SENT = {"report": "skip_bad_rows"}


def _importer(request: HttpRequest) -> User:
    return settings_user(request, _("Only owners and heads of sales import from other CRMs."))


# --- Input ---------------------------------------------------------------------------------------


class CrmImportIn(Schema):
    source: CrmSource = Field(..., description="The CRM the export comes from; `csv`: any CSV.")
    mapping: Text = Field(
        "",
        max_length=MAPPING_MAX,
        description=(
            "A JSON object {field: column} laid over the source's own column names, e.g. "
            '`{"amount": "Sum", "company": ""}` ("" leaves a field unmapped). The fields: '
            + ", ".join(f"`{field.key}`" for field in FIELDS)
            + "."
        ),
    )
    pipeline: Text = Field(
        "",
        max_length=max_length(Pipeline, "name"),
        description="The pipeline of the rows that name none.",
    )
    default_loss_reason: Text = Field(
        "",
        max_length=max_length(LossReason, "name"),
        description="The loss reason of lost deals that give none.",
    )
    create_missing: bool = Field(
        False, description="Create the pipelines, stages and loss reasons the file names."
    )


class CrmImportRunIn(CrmImportIn):
    skip_bad_rows: bool = Field(
        False,
        description=(
            "Import the good rows and list the refused ones in `rejected`; otherwise one "
            "refused row refuses the import (422) and nothing is written."
        ),
    )


# --- Output --------------------------------------------------------------------------------------


class CrmImportCounts(Schema):
    rows: int
    create: int
    exists: int = Field(description="Imported before (the same deal id): skipped.")
    refuse: int
    people_new: int
    people_existing: int = Field(description="Linked to a person already in Conveyor.")
    people_duplicate: int = Field(description="Linked to the person of an earlier row.")
    companies_new: int


class CrmImportMissingStage(Schema):
    pipeline: str
    stage: str


class CrmImportMissing(Schema):
    pipelines: list[str]
    stages: list[CrmImportMissingStage]
    loss_reasons: list[str]


class CrmImportIssue(Schema):
    line: int = Field(description="The line of the file where the row starts.")
    column: str
    message: str


class CrmImportLinked(Schema):
    line: int
    name: str
    person_id: int | None = Field(description="The person already in Conveyor it is linked to.")
    person_line: int | None = Field(description="The earlier row whose person it is.")


class CrmImportPreview(Schema):
    file_name: str
    source: str
    encoding: str
    delimiter: str
    header: list[str]
    mapping: dict[str, str] = Field(description="The mapping used: {field: column}.")
    counts: CrmImportCounts
    missing: CrmImportMissing = Field(
        description="Named by the file, not in Conveyor: created with `create_missing`, "
        "else the rows using them are refused."
    )
    warnings: list[str]
    refused: list[CrmImportIssue] = Field(
        description=f"One item per reason a row is refused; the first {SHOW_ROWS}."
    )
    refused_more: int = Field(description="How many reasons `refused` leaves out.")
    linked: list[CrmImportLinked] = Field(
        description=f"Rows whose person is linked, not created; the first {SHOW_ROWS}."
    )


class CrmImportResult(Schema):
    rows: int
    deals: int
    people: int
    people_existing: int
    people_duplicate: int
    companies: int
    exists: int = Field(description="Imported before: skipped.")
    refused: int
    pipelines: list[str] = Field(description="Created by the import.")
    stages: list[str] = Field(description="Created by the import.")
    loss_reasons: list[str] = Field(description="Created by the import.")
    seconds: float
    rejected: list[CrmImportIssue] = Field(
        default_factory=list,
        description=f"With `skip_bad_rows`: why rows were skipped; the first {SHOW_ROWS}.",
    )
    rejected_more: int = Field(0, description="How many reasons `rejected` leaves out.")


# --- Shared --------------------------------------------------------------------------------------


def _issues(plan: Plan) -> Iterator[tuple[int, Issue]]:
    for row in plan.refused:
        for issue in row.issues:
            yield row.line, issue


def _issue_list(plan: Plan) -> tuple[list[dict[str, Any]], int]:
    """The first SHOW_ROWS reasons rows are refused, and how many more there are."""
    issues = [
        {"line": line, "column": issue.column, "message": issue.message}
        for line, issue in islice(_issues(plan), SHOW_ROWS)
    ]
    total = sum(len(row.issues) for row in plan.refused)
    return issues, total - len(issues)


def _issue_text(line: int, issue: Issue) -> str:
    if issue.column:
        return _("Line %(line)s, column %(column)s: %(message)s") % {
            "line": line,
            "column": issue.column,
            "message": issue.message,
        }
    return _("Line %(line)s: %(message)s") % {"line": line, "message": issue.message}


def _service_kwargs(folder: Path, file: UploadedFile, payload: CrmImportIn) -> dict[str, Any]:
    """The upload saved in `folder` (size checked first) and the options, as the services take
    them. The file's own name is only shown, never used as a path."""
    check_size(int(file.size or 0))
    mapping = mapping_from_json(payload.mapping) if payload.mapping.strip() else None
    path = folder / "upload.csv"
    with path.open("wb") as handle:
        for chunk in file.chunks():
            handle.write(chunk)
    return {
        "path": path,
        "source": payload.source,
        "file_name": str(file.name or path.name)[:200],
        "mapping": mapping,
        "create_missing": payload.create_missing,
        "default_pipeline": payload.pipeline,
        "default_loss_reason": payload.default_loss_reason,
    }


# --- Endpoints -----------------------------------------------------------------------------------


@router.post("/preview", response=CrmImportPreview, summary="Preview a CRM import")
def crm_import_preview(
    request: HttpRequest, file: File[UploadedFile], payload: Form[CrmImportIn]
) -> dict[str, Any]:
    """What importing the file would do, row by row; nothing is written. The encoding
    (UTF-8, with or without BOM, or Windows-1251) and the delimiter (`,` or `;`) are detected.
    A file too big (`CONVEYOR_IMPORT_MAX_BYTES`), unreadable or not a CSV table is refused on
    `file`, a mapping that does not fit on `mapping`."""
    user = _importer(request)
    with tempfile.TemporaryDirectory(prefix="conveyor-import-") as folder:
        plan = crm_import_plan(**_service_kwargs(Path(folder), file, payload), by=user)
    refused, refused_more = _issue_list(plan)
    return {
        "file_name": plan.table.name,
        "source": plan.source,
        "encoding": plan.table.encoding_label,
        "delimiter": plan.table.delimiter,
        "header": plan.table.header,
        "mapping": plan.mapping,
        "counts": dataclasses.asdict(plan.counts),
        "missing": {
            "pipelines": [pipeline.name for pipeline in plan.missing_pipelines],
            "stages": [
                {"pipeline": pipeline.name, "stage": stage.name}
                for pipeline, stage in plan.missing_stages
            ],
            "loss_reasons": [reason.name for reason in plan.missing_reasons],
        },
        "warnings": plan.warnings,
        "refused": refused,
        "refused_more": refused_more,
        "linked": [
            {
                "line": row.line,
                "name": row.name,
                "person_id": row.person if row.person_action == PERSON_EXISTING else None,
                "person_line": None if row.person_action == PERSON_EXISTING else row.person_line,
            }
            for row in linked_rows(plan, SHOW_ROWS)
        ],
    }


@router.post("", response={201: CrmImportResult}, summary="Import a CRM export")
def crm_import_create(
    request: HttpRequest, file: File[UploadedFile], payload: Form[CrmImportRunIn]
) -> Status[dict[str, Any]]:
    """Import the file in one transaction: the same file and options as the preview, planned
    again. When any row is refused, nothing is written and the answer is 422 with one entry
    per reason on `file` ("Line N, column C: …"), unless `skip_bad_rows`: then the good rows
    are imported and the others listed in `rejected`. Deals imported before are skipped, so
    sending the same file again writes nothing."""
    user = _importer(request)
    with tempfile.TemporaryDirectory(prefix="conveyor-import-") as folder:
        try:
            with fields_as_sent(AS_SENT):
                result = crm_import_run(
                    **_service_kwargs(Path(folder), file, payload),
                    by=user,
                    skip_bad_rows=payload.skip_bad_rows,
                    report_path=Path(folder) / "rejected.csv",
                )
        except ImportRefused as refused:
            lines = [
                _issue_text(line, issue) for line, issue in islice(_issues(refused.plan), SHOW_ROWS)
            ]
            raise ApiError(422, refused.message, fields={"file": lines}) from None
    rejected, rejected_more = _issue_list(result.plan)
    return Status(
        201, {**result_summary(result), "rejected": rejected, "rejected_more": rejected_more}
    )
