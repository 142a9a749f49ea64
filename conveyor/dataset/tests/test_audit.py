"""A dataset import is audited as one summary entry, not one entry per row."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.core.models import AuditAction, AuditEntry
from conveyor.dataset.importer import import_dataset
from conveyor.dataset.tests.test_import import BASE, write_dataset
from conveyor.pipelines.models import Deal

pytestmark = pytest.mark.django_db


def test_an_import_is_one_summary_entry_with_its_counts(tmp_path: Path) -> None:
    result = import_dataset(write_dataset(tmp_path / "company", BASE))
    [entry] = AuditEntry.objects.all()
    assert (entry.action, entry.record_type, entry.record_id, entry.actor_id) == (
        AuditAction.IMPORT,
        "dataset.import",
        None,
        None,
    )
    assert entry.changes["deals"] == [None, result.files["deals.csv"].inserted]
    assert entry.note == "company"
    assert Deal.objects.count() == result.files["deals.csv"].inserted > 0
