from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from conftest import Cast
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_move, deal_open, deal_win
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _fingerprint() -> dict[str, Any]:
    """Row counts of every table, and the deals and stage history in full."""
    counts = {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if not model._meta.proxy
    }
    return {
        "counts": counts,
        "deals": list(Deal.objects.order_by("pk").values()),
    }


def _business(cast: Cast, pipeline: Pipeline) -> None:
    for number in range(3):
        person = PersonFactory(owner=cast.manager, phone=f"+35988800010{number}")
        deal = deal_open(
            person=person, pipeline=pipeline, owner=cast.manager, by=None, amount=Decimal(number)
        )
        deal = deal_move(deal_id=deal.pk, stage=pipeline.stages.get(position=2), version=1, by=None)
        if number == 0:
            deal_win(deal_id=deal.pk, version=deal.version, by=None)


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_backup_wipe_restore_gives_back_everything(
    cast: Cast, pipeline: Pipeline, tmp_path: Path
) -> None:
    _business(cast, pipeline)
    before = _fingerprint()
    target = tmp_path / "backup.bin"
    assert "Backup written" in _run("backup", "--output", str(target))
    assert target.stat().st_size > 0 and target.stat().st_mode & 0o777 == 0o600

    Deal.objects.all().delete()
    PersonFactory(phone="+359888999999")
    assert _fingerprint() != before

    _run("restore", str(target), "--yes")
    assert _fingerprint() == before


def test_restore_refuses_a_file_that_is_no_backup(cast: Cast, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    before = _fingerprint()
    with pytest.raises(CommandError, match="not a"):
        _run("restore", str(bogus), "--yes")
    assert _fingerprint() == before


def test_restore_needs_confirmation(cast: Cast, tmp_path: Path) -> None:
    target = tmp_path / "backup.bin"
    _run("backup", "--output", str(target))
    with pytest.raises(CommandError, match="--yes"):
        _run("restore", str(target))


def test_backup_never_overwrites_a_file(cast: Cast, tmp_path: Path) -> None:
    target = tmp_path / "backup.bin"
    target.write_text("keep me")
    with pytest.raises(CommandError, match="exists"):
        _run("backup", "--output", str(target))
    assert target.read_text() == "keep me"
