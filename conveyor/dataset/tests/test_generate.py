"""The generator writes a consistent, believable §5 folder, the same one for the same seed."""

from __future__ import annotations

import csv
import hashlib
import itertools
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import pytest

from conveyor.dataset.generate import HEADERS, generate_dataset, read_rows

START = date(2025, 1, 1)
END = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds")
    generate_dataset(out, deals=3000, seed=7, start=START, months=12)
    return out


def _digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in HEADERS}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_same_seed_same_files_and_another_seed_differs(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", deals=400, seed=3, start=START, months=12)
    b = generate_dataset(tmp_path / "b", deals=400, seed=3, start=START, months=12)
    generate_dataset(tmp_path / "c", deals=400, seed=4, start=START, months=12)
    assert a.counts == b.counts
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["deals.csv"] != _digest(tmp_path / "c")["deals.csv"]


def test_exactly_the_asked_number_of_deals_and_counts_match_files(tmp_path: Path) -> None:
    result = generate_dataset(tmp_path, deals=137, seed=1, start=START, months=6)
    assert result.counts["deals.csv"] == 137
    for name in HEADERS:
        with (tmp_path / name).open(newline="", encoding="utf-8") as fh:
            assert sum(1 for _ in fh) - 1 == result.counts[name], name


def test_every_file_has_the_section_5_header(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(HEADERS)
    for name, header in HEADERS.items():
        with (folder / name).open(newline="", encoding="utf-8") as fh:
            assert tuple(next(csv.reader(fh))) == header
    assert HEADERS["stage_changes.csv"] == (
        "deal_id",
        "from_stage_id",
        "to_stage_id",
        "changed_at",
        "user_id",
    )


def test_catalogue_three_segments_six_client_action_pipelines_team_of_seven(folder: Path) -> None:
    assert len(read_rows(folder / "segments.csv")) == 3
    pipelines = read_rows(folder / "pipelines.csv")
    assert Counter(p["process"] for p in pipelines) == {"conversion": 3, "account_management": 3}
    stages = read_rows(folder / "stages.csv")
    assert all(s["exit_criterion"] for s in stages)
    assert Counter(s["is_key_meeting"] for s in stages)["true"] == 3
    users = read_rows(folder / "users.csv")
    assert Counter(u["role"] for u in users) == {"owner": 1, "head": 1, "manager": 5}
    assert len({u["team"] for u in users}) == 1
    assert len(read_rows(folder / "loss_reasons.csv")) >= 10


def test_every_reference_points_at_an_existing_row(folder: Path) -> None:
    ids = {
        name: {r["id"] for r in read_rows(folder / f"{name}.csv")}
        for name in ("users", "segments", "pipelines", "stages", "loss_reasons", "people", "deals")
    }
    for p in read_rows(folder / "pipelines.csv"):
        assert p["segment_id"] in ids["segments"]
    for s in read_rows(folder / "stages.csv"):
        assert s["pipeline_id"] in ids["pipelines"]
    people = read_rows(folder / "people.csv")
    for p in people:
        assert p["owner_id"] in ids["users"]
        if p["referred_by_id"]:
            # Referrers come earlier in the file, so a one-pass importer can resolve them.
            assert int(p["referred_by_id"]) < int(p["id"])
    for d in read_rows(folder / "deals.csv"):
        assert d["person_id"] in ids["people"]
        assert d["pipeline_id"] in ids["pipelines"]
        assert d["owner_id"] in ids["users"]
        assert d["lost_reason_id"] == "" or d["lost_reason_id"] in ids["loss_reasons"]
    for c in read_rows(folder / "stage_changes.csv"):
        assert c["deal_id"] in ids["deals"]
        assert c["from_stage_id"] == "" or c["from_stage_id"] in ids["stages"]
        assert c["to_stage_id"] in ids["stages"]
        assert c["user_id"] in ids["users"]
    for t in read_rows(folder / "touches.csv"):
        assert t["deal_id"] == "" or t["deal_id"] in ids["deals"]
        assert t["person_id"] in ids["people"]
        assert t["user_id"] in ids["users"]
    for plan in read_rows(folder / "plans.csv"):
        assert plan["user_id"] in ids["users"]
        assert plan["month"].endswith("-01")


def test_times_are_consistent_and_nothing_is_after_the_end(folder: Path) -> None:
    stages = {s["id"]: s for s in read_rows(folder / "stages.csv")}
    deals = {d["id"]: d for d in read_rows(folder / "deals.csv")}
    people = {p["id"]: p for p in read_rows(folder / "people.csv")}
    changes: dict[str, list[dict[str, str]]] = defaultdict(list)
    for c in read_rows(folder / "stage_changes.csv"):
        changes[c["deal_id"]].append(c)
    assert set(changes) == set(deals)
    for deal_id, deal in deals.items():
        opened = _at(deal["opened_at"])
        assert opened.utcoffset() is not None
        assert _at(people[deal["person_id"]]["created_at"]) <= opened < END
        path = changes[deal_id]
        assert path[0]["from_stage_id"] == ""
        assert _at(path[0]["changed_at"]) == opened
        times = [_at(c["changed_at"]) for c in path]
        assert times == sorted(times)
        for prev, nxt in itertools.pairwise(path):
            assert nxt["from_stage_id"] == prev["to_stage_id"]
            assert stages[nxt["to_stage_id"]]["pipeline_id"] == deal["pipeline_id"]
        if deal["status"] == "open":
            assert deal["closed_at"] == ""
            assert deal["lost_reason_id"] == ""
        else:
            closed = _at(deal["closed_at"])
            assert times[-1] < closed < END
            assert (deal["status"] == "lost") == (deal["lost_reason_id"] != "")
    for t in read_rows(folder / "touches.csv"):
        at = _at(t["at"])
        assert at < END
        if t["deal_id"]:
            deal = deals[t["deal_id"]]
            assert _at(deal["opened_at"]) <= at
            if deal["closed_at"]:
                assert at <= _at(deal["closed_at"])


def test_funnel_narrows_and_some_deals_skip_go_back_or_open_later(folder: Path) -> None:
    stages = {s["id"]: s for s in read_rows(folder / "stages.csv")}
    pipelines = {p["id"]: p for p in read_rows(folder / "pipelines.csv")}
    first_position: Counter[str] = Counter()
    reached: dict[str, Counter[int]] = defaultdict(Counter)
    highest: dict[str, int] = defaultdict(int)
    back = skip = 0
    for c in read_rows(folder / "stage_changes.csv"):
        to = int(stages[c["to_stage_id"]]["position"])
        if c["from_stage_id"]:
            came = int(stages[c["from_stage_id"]]["position"])
            back += to < came
            skip += to > came + 1
        else:
            first_position[str(to)] += 1
        highest[c["deal_id"]] = max(highest[c["deal_id"]], to)
    for d in read_rows(folder / "deals.csv"):
        for k in range(1, highest[d["id"]] + 1):
            reached[d["pipeline_id"]][k] += 1
    assert back > 0 and skip > 0
    assert first_position["2"] > 0 and first_position["3"] > 0  # stage 3: repeat deals
    for pid, counts in reached.items():
        if pipelines[pid]["process"] == "conversion":
            series = [counts[k] for k in sorted(counts)]
            assert series == sorted(series, reverse=True)
            assert series[-1] < series[0] / 3


def test_outcomes_reasons_amounts_and_repeat_purchases_are_believable(folder: Path) -> None:
    reasons = {r["id"]: r["name"] for r in read_rows(folder / "loss_reasons.csv")}
    pipelines = {p["id"]: p for p in read_rows(folder / "pipelines.csv")}
    deals = read_rows(folder / "deals.csv")
    status = Counter(d["status"] for d in deals)
    assert status["won"] > 0.1 * len(deals)
    assert status["lost"] > status["won"]
    assert status["open"] > 0
    lost = [d for d in deals if d["status"] == "lost"]
    assert any(d["refused_by_us"] == "true" for d in lost)
    for d in lost:
        assert (d["refused_by_us"] == "true") == ("refused by us" in reasons[d["lost_reason_id"]])
    assert len({d["lost_reason_id"] for d in lost}) >= 8
    # Enterprise wins are larger than small-business ones.
    by_segment: dict[str, list[float]] = defaultdict(list)
    for d in deals:
        if d["status"] == "won" and pipelines[d["pipeline_id"]]["process"] == "conversion":
            by_segment[pipelines[d["pipeline_id"]]["segment_id"]].append(float(d["amount"]))
    averages = [sum(v) / len(v) for _, v in sorted(by_segment.items())]
    assert averages == sorted(averages)
    wins: Counter[str] = Counter(d["person_id"] for d in deals if d["status"] == "won")
    repeat_rate = sum(1 for n in wins.values() if n >= 2) / len(wins)
    assert 0.25 <= repeat_rate <= 0.6
    people = read_rows(folder / "people.csv")
    assert {p["source"] for p in people} >= {"website", "referral", "ads", "cold_call"}
    assert sum(1 for p in people if p["referred_by_id"]) > 0.05 * len(people)
    assert all(p["phone"] == "" or p["phone"].startswith("+") for p in people)
    assert all(p["email"] or p["phone"] for p in people)


def test_touch_rhythm_about_five_warming_to_one_closing(folder: Path) -> None:
    pipelines = {p["id"]: p for p in read_rows(folder / "pipelines.csv")}
    touches = read_rows(folder / "touches.csv")
    kinds = Counter(t["kind"] for t in touches)
    assert 4.0 <= kinds["warming"] / kinds["closing"] <= 6.0
    for t in touches:
        if t["kind"] == "warming":
            assert t["outcome"] == ""
        else:
            assert t["outcome"] in {"advanced", "not_advanced", "refused"}
    per_deal: Counter[str] = Counter(t["deal_id"] for t in touches)
    first_wins = [
        per_deal[d["id"]]
        for d in read_rows(folder / "deals.csv")
        if d["status"] == "won" and pipelines[d["pipeline_id"]]["process"] == "conversion"
    ]
    typical = sum(1 for n in first_wins if 5 <= n <= 12) / len(first_wins)
    assert typical > 0.6


def test_expenses_per_channel_and_month_and_plans_per_manager(folder: Path) -> None:
    expenses = read_rows(folder / "expenses.csv")
    assert {e["channel"] for e in expenses} >= {"website", "ads", "referral"}
    for e in expenses:
        assert date.fromisoformat(e["period_start"]) <= date.fromisoformat(e["period_end"])
        assert float(e["amount"]) > 0
    plans = read_rows(folder / "plans.csv")
    assert len(plans) == 5 * 12
    assert len({(p["user_id"], p["month"]) for p in plans}) == len(plans)


def test_rejects_nonsense_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="deals"):
        generate_dataset(tmp_path, deals=0)


def test_referrers_were_customers_before_they_referred(folder: Path) -> None:
    first_win: dict[str, datetime] = {}
    for d in read_rows(folder / "deals.csv"):
        if d["status"] == "won":
            closed = _at(d["closed_at"])
            first_win[d["person_id"]] = min(closed, first_win.get(d["person_id"], closed))
    referred = [p for p in read_rows(folder / "people.csv") if p["referred_by_id"]]
    assert referred
    for p in referred:
        assert p["source"] == "referral"
        assert first_win[p["referred_by_id"]] < _at(p["created_at"])


def test_plain_names_for_anonymous_datasets(tmp_path: Path) -> None:
    generate_dataset(tmp_path, deals=20, seed=1, start=START, months=3, realistic_names=False)
    people = read_rows(tmp_path / "people.csv")
    assert all(p["name"] == f"Person {p['id']}" for p in people)
    assert all(p["email"] == f"person{p['id']}@example.com" for p in people)
