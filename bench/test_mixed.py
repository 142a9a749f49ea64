"""The mixed-load bench: its load client against a live server, its database checks, its table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import mixed, run
from bench.mixed_load import Load, mix, percentile
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal
from conveyor.pipelines.services import deal_move, deal_open
from conveyor.testing.factories import PersonFactory, pipeline_with_stages

# The live server reads what the test wrote, so the test cannot run inside one transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def _open_deals(owner: Any, count: int) -> list[Deal]:
    pipeline = pipeline_with_stages()
    people: list[Person] = PersonFactory.create_batch(count, owner=owner)
    return [deal_open(person=p, pipeline=pipeline, owner=owner, by=None) for p in people]


def _load(live_server: Any, plan: dict[str, Any], requests: int) -> dict[str, Any]:
    """`requests` operations per client (60 s at most), every one of them measured."""
    plan.update(
        base_url=str(live_server.url),
        warmup_seconds=0,
        seconds=60,
        requests_per_client=requests,
    )
    return Load(plan).run_all()


def _verdict(plan: dict[str, Any], before: dict[str, int], load: dict[str, Any]) -> dict[str, Any]:
    deal_ids = [d["id"] for c in plan["clients"] for d in c["deals"]]
    after = mixed.snapshot(plan["run"], deal_ids)
    return mixed.check(before, after, load, mixed.deals_disagreeing(load["deals"]))


def test_every_operation_succeeds_and_the_database_matches_the_answers(
    cast: Any, live_server: Any
) -> None:
    _open_deals(cast.manager, 3)
    plan = mixed.make_plan(1, "t1")
    deal_ids = [d["id"] for d in plan["clients"][0]["deals"]]
    assert plan["clients"][0]["user"] == cast.manager.email
    assert len(deal_ids) == 3
    before = mixed.snapshot("t1", deal_ids)

    load = _load(live_server, plan, 12)

    assert load["whole_run"]["errors"] == 0, load["error_examples"]
    assert load["whole_run"]["conflicts"] == 0
    # 12 operations in the proportions 30/30/25/15, spread evenly.
    assert load["whole_run"]["ok"] == {"board": 4, "move": 3, "touch": 3, "lead": 2}
    for op in ("board", "move", "touch", "lead"):
        assert load["operations"][op]["p50_ms"] is not None
    assert load["overall"]["requests"] == 12
    verdict = _verdict(plan, before, load)
    assert verdict["problems"] == []
    assert verdict["rows"]["move"] == load["whole_run"]["ok"]["move"]
    assert verdict["rows"]["lead"] == load["whole_run"]["ok"]["lead"]


def test_a_stale_version_is_a_conflict_not_an_error_and_the_client_reloads(
    cast: Any, live_server: Any
) -> None:
    (deal,) = _open_deals(cast.manager, 1)
    plan = mixed.make_plan(1, "t2")
    plan["weights"] = {"move": 1}
    # Someone else moves the deal after the client read it: the client's version is stale.
    deal_move(
        deal_id=deal.pk, stage=deal.pipeline.stages.get(position=3), version=deal.version, by=None
    )

    before = mixed.snapshot("t2", [deal.pk])

    load = _load(live_server, plan, 3)

    assert load["whole_run"]["conflicts"] == 1
    assert load["whole_run"]["ok"]["reload"] == 1
    assert load["whole_run"]["errors"] == 0, load["error_examples"]
    assert load["whole_run"]["ok"]["move"] == 2  # the two after the reload
    assert _verdict(plan, before, load)["problems"] == []


def test_an_unexpected_answer_counts_as_an_error(cast: Any, live_server: Any) -> None:
    _open_deals(cast.manager, 1)
    plan = mixed.make_plan(1, "t3")
    plan["weights"] = {"touch": 1}
    plan["clients"][0]["token"] = "cv_not-a-token"

    load = _load(live_server, plan, 2)

    assert load["whole_run"]["errors"] == 2
    touch = load["operations"]["touch"]
    assert (touch["requests"], touch["ok"], touch["errors"]) == (2, 0, 2)
    assert "HTTP 401" in load["error_examples"][0]


def test_the_check_names_every_disagreement() -> None:
    load = {"whole_run": {"ok": {"board": 9, "move": 5, "touch": 4, "lead": 2}}}
    before = {"move": 10, "touch": 0, "lead": 0}
    after = {"move": 15, "touch": 3, "lead": 2}
    verdict = mixed.check(before, after, load, ["deal 7: client saw stage 2 v3, database has 1"])
    assert verdict["rows"] == {"move": 5, "touch": 3, "lead": 2}
    assert verdict["problems"] == [
        "touch: 3 new rows in the database for 4 successful answers",
        "deal 7: client saw stage 2 v3, database has 1",
    ]
    assert mixed.check(before, {**after, "touch": 4}, load, [])["problems"] == []


def test_the_mix_keeps_the_proportions_and_spreads_them() -> None:
    order = mix(mixed.WEIGHTS)
    assert len(order) == 100
    assert {op: order.count(op) for op in set(order)} == mixed.WEIGHTS
    assert set(order[:4]) == {"board", "move", "touch", "lead"}
    assert mix({"board": 1, "move": 0}) == ["board"]


def test_server_cpu_per_request_adds_the_database() -> None:
    assert mixed.cpu_per_request({"gunicorn_s": 3.0, "database_s": 1.0}, 200) == 20.0
    assert mixed.cpu_per_request({"gunicorn_s": 3.0, "database_s": None}, 200) == 15.0
    assert mixed.cpu_per_request({"gunicorn_s": None, "database_s": None}, 200) is None
    assert mixed.cpu_per_request({"gunicorn_s": 3.0, "database_s": 1.0}, 0) is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def test_mixed_section_leaves_the_dataset_table_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nHand-written.\n\n{run.MARKER}\n\n| dataset table |\n")
    monkeypatch.setattr(mixed, "RESULTS", results)
    figures = {
        "requests": 100,
        "requests_per_s": 50.0,
        "p50_ms": 12.5,
        "p99_ms": 80.25,
        "conflicts": 0,
        "errors": 0,
    }
    data = {
        "date": "2026-01-02",
        "database": "pg",
        "version": "15.20",
        "server": "gunicorn sync x3",
        "clients": 6,
        "seconds": 20.04,
        "load_average": {"during_min": 1.2, "during_max": 2.75},
        "operations": {"board": figures, "move": figures},
        "overall": {**figures, "requests": 200, "requests_per_s": 100.0},
        "check": {"problems": []},
        "server_cpu": {"gunicorn_s": 3.0, "database_s": 1.0, "ms_per_request": 20.0},
    }
    (results / "2026-01-02-mixed-pg.json").write_text(json.dumps(data))

    mixed.rewrite_readme_mixed(readme)
    mixed.rewrite_readme_mixed(readme)  # idempotent: the section is replaced, not repeated

    text = readme.read_text()
    assert text.count("## Mixed load") == 1
    assert text.index("## Mixed load") < text.index(run.MARKER) < text.index("| dataset table |")
    assert "Hand-written." in text
    assert (
        "| 2026-01-02 | PostgreSQL 15.20 | gunicorn sync x3 | 6 | 20.0 | **all** | 200 | 100.0 "
        "| 12.5 | 80.2 | 0 | 0 | 20.0 | 1.2 to 2.8 | ok |" in text
    )
    assert "| | | | | | board | 100 | 50.0 | 12.5 | 80.2 | 0 | 0 | | | |" in text
    assert text.index("| **all** |") < text.index("| board |") < text.index("| move |")
