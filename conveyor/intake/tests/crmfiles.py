"""Helpers for the CRM import tests: the sample files, their users and small exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.conf import settings

from conveyor.accounts.models import Role, User
from conveyor.pipelines.models import LossReason, Pipeline
from conveyor.testing.factories import LossReasonFactory, UserFactory, pipeline_with_stages

SAMPLES = Path(settings.BASE_DIR) / "docs" / "samples"

PIPEDRIVE_HEADER = [
    "Deal - ID",
    "Deal - Title",
    "Deal - Value",
    "Deal - Currency",
    "Deal - Status",
    "Deal - Pipeline",
    "Deal - Stage",
    "Deal - Owner",
    "Deal - Lost reason",
    "Deal - Deal created",
    "Deal - Won time",
    "Deal - Lost time",
    "Person - ID",
    "Person - Name",
    "Person - Email",
    "Person - Phone",
    "Organization - Name",
]


def sample_users() -> tuple[User, User]:
    """The owners the sample files name (the demo company's managers)."""
    ivan = UserFactory(email="ivan.petrov@conveyor.example", name="Ivan Petrov", role=Role.MANAGER)
    maria = UserFactory(
        email="maria.dimitrova@conveyor.example", name="Maria Dimitrova", role=Role.MANAGER
    )
    return ivan, maria


def small_business() -> Pipeline:
    """The demo's "Small business / first sale" funnel, which the generic sample imports into."""
    pipeline = pipeline_with_stages(
        [
            "Left a request",
            "Told us their task",
            "Came to the demo",
            "Received the proposal",
            "Received the invoice",
        ],
        name="Small business / first sale",
    )
    for name in ("No budget", "Too expensive"):
        LossReasonFactory(name=name)
    return pipeline


def sales_pipeline() -> Pipeline:
    """A Pipedrive-like pipeline with its default stages and two loss reasons."""
    pipeline = pipeline_with_stages(
        ["Qualified", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started"],
        name="Sales pipeline",
    )
    if not LossReason.objects.filter(name="Too expensive").exists():
        LossReasonFactory(name="Too expensive")
    return pipeline


def deal_row(**cells: str) -> dict[str, str]:
    """A Pipedrive deals-export row: an open deal of Ivan's unless told otherwise."""
    row = {
        "Deal - ID": "1",
        "Deal - Title": "Website",
        "Deal - Value": "1000",
        "Deal - Currency": "EUR",
        "Deal - Status": "Open",
        "Deal - Pipeline": "Sales pipeline",
        "Deal - Stage": "Qualified",
        "Deal - Owner": "Ivan Petrov",
        "Deal - Lost reason": "",
        "Deal - Deal created": "2026-01-05 09:00:00",
        "Deal - Won time": "",
        "Deal - Lost time": "",
        "Person - ID": "",
        "Person - Name": "Anna Keller",
        "Person - Email": "anna@acme.example",
        "Person - Phone": "+49 30 1234567",
        "Organization - Name": "Acme GmbH",
    }
    row.update(cells)
    return row


def pipedrive_file(
    tmp_path: Path, rows: list[dict[str, str]], *, name: str = "deals.csv", encoding: str = "utf-8"
) -> Path:
    buffer = io.StringIO()
    extra = [key for row in rows for key in row if key not in PIPEDRIVE_HEADER]
    fields = [*PIPEDRIVE_HEADER, *dict.fromkeys(extra)]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path
