"""Many clients at once, on PostgreSQL (real row locks and concurrent transactions; SQLite
serialises writers, so there the race cannot happen and the tests would prove nothing)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection
from pytest_django import Settings

from conftest import Cast
from conveyor.accounts.services import token_create
from conveyor.api.tests.conftest import Api
from conveyor.intake.models import Lead
from conveyor.pipelines.models import ChangeKind, Pipeline, Segment, StageChange
from conveyor.pipelines.services import deal_open
from conveyor.testing.factories import PersonFactory

ON_POSTGRESQL = connection.vendor == "postgresql"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not ON_POSTGRESQL, reason="needs PostgreSQL (concurrent writers); run with DATABASE_URL"
    ),
    pytest.mark.django_db(transaction=True),
]


def _all_at_once(count: int, call: Callable[[int], int]) -> Counter[int]:
    """Run `call(i)` in `count` threads released together; the status codes they got."""
    start = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def run(number: int) -> None:
        try:
            start.wait(timeout=30)
            status = call(number)
        except Exception as error:  # counted below as a failure with its type
            status = -1
            print(f"thread {number}: {error!r}")
        finally:
            connection.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return Counter(statuses)


def test_fifty_parallel_moves_of_one_version_give_one_success(
    cast: Cast, pipeline: Pipeline, settings: Settings
) -> None:
    settings.CONVEYOR_API_RATE_PER_MINUTE = 10_000  # 50 calls of one token in a second
    deal = deal_open(
        person=PersonFactory(owner=cast.manager),
        pipeline=pipeline,
        owner=cast.manager,
        by=None,
        amount=Decimal(10),
    )
    target = pipeline.stages.get(position=2)
    raw = token_create(user=cast.manager, name="load").raw

    def move(_number: int) -> int:
        response = Api(raw).post(
            f"/api/v1/deals/{deal.pk}/move", {"stage_id": target.pk, "version": 1}
        )
        return int(response.status_code)

    statuses = _all_at_once(50, move)
    assert statuses == Counter({200: 1, 409: 49})
    deal.refresh_from_db()
    assert deal.version == 2 and deal.stage_id == target.pk
    kinds = list(
        StageChange.objects.filter(deal=deal).order_by("at", "pk").values_list("kind", flat=True)
    )
    assert kinds == [ChangeKind.ENTER, ChangeKind.MOVE]


def test_parallel_retries_with_one_idempotency_key_record_one_lead(cast: Cast) -> None:
    raw = token_create(user=cast.manager, name="site").raw
    body = {"name": "Ivan Petrov", "phone": "+359888123456"}

    def send(_number: int) -> int:
        response = Api(raw).post("/api/v1/leads", body, **{"Idempotency-Key": "order-1"})
        return int(response.status_code)

    statuses = _all_at_once(10, send)
    assert Lead.objects.count() == 1
    # Each answer is the run (201), a replay of it (201) or "still running" (409).
    assert set(statuses) <= {201, 409} and statuses[201] >= 1


def test_parallel_creates_of_one_unique_name_give_one_success_and_clear_refusals(
    cast: Cast, settings: Settings
) -> None:
    """Each request's own check passes while the others are still uncommitted; the database's
    unique index refuses all but one insert, and that refusal must come back as the usual
    field error, not a server error (`core.db.clean_and_save`)."""
    settings.CONVEYOR_API_RATE_PER_MINUTE = 10_000
    raw = token_create(user=cast.owner, name="settings").raw
    answers: list[dict[str, object]] = []

    def create(_number: int) -> int:
        response = Api(raw).post("/api/v1/segments", {"name": "Retail", "description": ""})
        if response.status_code == 422:
            answers.append(response.json()["error"]["fields"])
        return int(response.status_code)

    statuses = _all_at_once(20, create)
    assert statuses == Counter({201: 1, 422: 19})
    assert all(list(fields) == ["name"] for fields in answers)
    assert Segment.objects.filter(name="Retail").count() == 1


def test_parallel_patches_of_different_fields_all_keep_their_change(
    cast: Cast, pipeline: Pipeline, settings: Settings
) -> None:
    """Each PATCH merges the fields it sends into the record as it is when its turn comes (the
    row is locked before the current values are read), so none undoes another's field."""
    settings.CONVEYOR_API_RATE_PER_MINUTE = 10_000
    raw = token_create(user=cast.owner, name="settings").raw
    stage = pipeline.stages.get(position=1)
    for round_number in range(3):
        sent = {
            "name": f"Asked {round_number}",
            "exit_criterion": f"Told us the task {round_number}",
            "target_action": f"Send the offer {round_number}",
            "script": f"Say hello {round_number}",
            "rot_days": 10 + round_number,
            "probability": f"0.{round_number + 1}",
        }
        fields = sorted(sent)

        def patch(number: int, sent: dict[str, object] = sent, fields: list[str] = fields) -> int:
            field = fields[number]
            response = Api(raw).patch(f"/api/v1/stages/{stage.pk}", {field: sent[field]})
            return int(response.status_code)

        assert _all_at_once(len(fields), patch) == Counter({200: len(fields)})
        stage.refresh_from_db()
        kept = {field: getattr(stage, field) for field in fields}
        assert {**kept, "probability": str(kept["probability"].normalize())} == sent
